"""Dagster wiring of the raw layer: one asset per CRF form, key ``["raw", <form>]``.

Each asset reads every site's export of its form (folder from the ``paths`` resource)
and returns the :class:`~pipeline.raw.extract.FormExtract`; the IO manager stores it.
A non-blocking check per form, evaluated in the same step, confirms that every record read is
accounted for.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at runtime.
import dagster as dg
import pandas as pd

from pipeline.ops.queries import DROP_RULES
from pipeline.raw.extract import FormExtract, extract_form
from pipeline.resources import StudyPaths
from pipeline.specs.raw import Form, load_raw_spec
from pipeline.versions import code_version

# What the code versions of this module's assets hash (pipeline/versions.py).
CODE_SOURCES = ("pipeline/raw/*.py", "pipeline/terminology.py", "pipeline/dates.py", "specs/raw/*", "specs/ct/*")

QUARANTINE_SAMPLE_ROWS = 20


def _markdown(df: pd.DataFrame) -> str:
    """A small frame as a markdown table (no index); pipes in values escaped."""
    if df.empty:
        return "_none_"
    cells = df.astype(object).where(df.notna(), "").astype(str).apply(lambda c: c.str.replace("|", "\\|", regex=False))
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False, name=None)]
    return "\n".join(lines)


def accounting(extract: FormExtract) -> pd.DataFrame:
    """Per-site counts with ``balanced`` = rows_read equals passed + quarantined + exact_duplicates."""
    c = extract.counts.copy()
    c["balanced"] = c["rows_read"] == c["passed"] + c["quarantined"] + c["exact_duplicates"]
    return c


def extract_metadata(extract: FormExtract) -> dict[str, dg.MetadataValue | int]:
    """Asset metadata: passed rows, per-site counts, quarantine size and a capped sample, warnings."""
    sample = extract.quarantine.head(QUARANTINE_SAMPLE_ROWS)  # values of identifier fields are already redacted
    more = len(extract.quarantine) - len(sample)
    note = f"\n\n_{more} more problem rows not shown._" if more > 0 else ""
    return {
        "dagster/row_count": len(extract.data),
        "counts_by_site": dg.MetadataValue.md(_markdown(extract.counts)),
        "quarantined_records": int(extract.counts["quarantined"].sum()),
        "quarantine_rows": len(extract.quarantine),
        "quarantine_sample": dg.MetadataValue.md(_markdown(sample) + note),
        "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in extract.warnings) or "_none_"),
    }


def _description(form: Form) -> str:
    keys = ", ".join(form.keys)
    return (
        f"{form.label}: the '{form.name}' form from every site, dates in ISO 8601, terms coded to the "
        f"raw codelists. One record per {keys}. Records that break the input contract are held back "
        f"in the quarantine with a message for the site."
    )


def accounting_check(extract: FormExtract) -> dg.AssetCheckResult:
    """records_accounted_for: per site, rows read = passed + quarantined + exact duplicates."""
    table = accounting(extract)
    return dg.AssetCheckResult(
        check_name="records_accounted_for",
        passed=bool(table["balanced"].all()),
        metadata={"per_site": dg.MetadataValue.md(_markdown(table))},
    )


def drop_check(extract: FormExtract) -> dg.AssetCheckResult:
    """drop_as_agreed (WARN): every site sent the form's file, sheet and columns as agreed
    (no SITE_MISSING, FORM_MISSING, COLUMN_MISSING, COLUMN_UNKNOWN or SHEET_UNREAD query)."""
    drops = extract.drops
    summary = "; ".join(dict.fromkeys(f"{r.rule} {r.file}{' ' + r.field if r.field else ''}" for r in drops.itertuples()))
    return dg.AssetCheckResult(
        check_name="drop_as_agreed",
        passed=drops.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "queries": len(drops),
            "summary": summary or "none",
            "by_site": dg.MetadataValue.md(_markdown(drops[["siteid", "file", "field", "rule", "message"]])),
        },
    )


def build_raw_asset(form: Form) -> dg.AssetsDefinition:
    """The asset of one form, with its non-blocking check ``records_accounted_for`` evaluated in
    the same step (the counts are at hand: a separate step would load the whole extract again)."""
    key = dg.AssetKey(["raw", form.name])

    @dg.asset(
        key=key,
        group_name="raw",
        code_version=code_version(CODE_SOURCES),
        description=_description(form),
        kinds={"pandas"},
        check_specs=[
            dg.AssetCheckSpec(
                "records_accounted_for",
                asset=key,
                blocking=False,
                description="Per site: rows read = passed + quarantined + exact duplicates.",
            ),
            dg.AssetCheckSpec(
                "drop_as_agreed",
                asset=key,
                blocking=False,
                description="Every site sent this form's file, sheet and columns as agreed (drop queries: "
                + ", ".join(DROP_RULES)
                + ").",
            ),
        ],
    )
    def _asset(context: dg.AssetExecutionContext, paths: StudyPaths):
        extract = extract_form(paths.raw, form.name)
        for w in extract.warnings:
            context.log.warning(w)
        yield dg.Output(extract, metadata=extract_metadata(extract))
        yield accounting_check(extract)
        yield drop_check(extract)

    return _asset


_FORMS = load_raw_spec().forms
raw_assets: list[dg.AssetsDefinition] = [build_raw_asset(f) for f in _FORMS.values()]
