"""Extract one CRF form from every site: typed, canonical records and a quarantine.

For each site in sites.yaml (in site order) the form's file is read, its text
normalised, exact duplicate rows (a re-export) removed and counted, and every field
converted by its dictionary type: dates to ISO 8601 (partial kept) with the site's date
order, numbers to numbers, codes to the raw codelist's canonical value, text normalised.
A record that breaks the contract is held back from ``data``; the quarantine holds one
row per problem, in words a data manager can send to the site. The pandera schema of the
form (pipeline.raw.schema) gates ``data``, so ``data`` always passes it.

Quarantine rules (the value rules min, max and required_if are columns of
specs/raw/dictionary.csv; the cut-off is data_cutoff in specs/trial/study.yaml):
  REQUIRED_MISSING     a required field is blank
  REQUIRED_IF_MISSING  a field is blank although its required_if condition holds
  DATE_INVALID         a date that cannot be read safely (impossible, unreadable, ambiguous)
  DATE_IN_FUTURE       a date after the data cut-off (a partial date: its first possible day)
  NOT_NUMERIC          text in a numeric field
  NOT_INTEGER          a fractional number in an integer field
  OUT_OF_RANGE         a number below the field's min or above its max
  CODE_UNKNOWN         a term that is neither a codelist value nor a known synonym
  SITE_MISMATCH        SITEID differs from the site folder the file came in
  SUBJID_FORMAT        SUBJID does not follow the site's subject-number pattern
  DUPLICATE_KEY        records with the same keys (forms.yaml) but different values
  FIELD_TOO_LONG       a field longer than limits.field_chars (specs/raw/sites.yaml)
  CONTROL_CHARACTER    a field holding NUL or another control character (tab and line breaks allowed)
  SCHEMA_<check>       anything else the schema rejects

Drop rules (pipeline.ops.queries.DROP_RULES; no record held back, ``row`` blank): SITE_MISSING
(partial drops only), FORM_MISSING, COLUMN_MISSING (an optional column), COLUMN_UNKNOWN,
SHEET_UNREAD (a workbook sheet holding cells that is not the form's).

Messages never quote the value (the quarantine's ``value`` column holds it, redacted for
identifier fields), so a message is safe to send whatever the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipeline.columns import TEXT
from pipeline.dates import to_iso8601
from pipeline.ops.queries import QUERY_COLS, drop_queries
from pipeline.raw.limits import load_limits
from pipeline.raw.reader import LINEAGE, form_path, read_form_file, relative_name, scan_raw_root
from pipeline.raw.schema import after_cutoff, form_schema, out_of_range, required_if_missing, site_mismatch
from pipeline.specs.raw import Form, RawField, RawSpec, load_raw_spec
from pipeline.specs.study import load_study
from pipeline.terminology import build_lookup, map_terms, normalise_text, on_distinct

QUARANTINE_COLS = QUERY_COLS  # a quarantine row is a query row (pipeline.ops.queries)
COUNT_COLS = ["siteid", "rows_read", "exact_duplicates", "quarantined", "passed"]
REDACTED = "<redacted>"

_NUMBER_RE = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"


@dataclass(frozen=True)
class FormExtract:
    """One form from all sites.

    data: typed, canonical records that passed (dictionary fields in order, then
        ``_site``, ``_file``, ``_row``), sorted by site then row.
    quarantine: one row per problem (QUARANTINE_COLS); its records are not in ``data``.
    counts: per site (COUNT_COLS): rows_read = passed + quarantined + exact_duplicates.
    warnings: problems that did not stop reading (missing file, unknown columns).
    drops: drop-level queries (QUARANTINE_COLS, ``row`` blank): a site, file, sheet or column
        missing or unknown (pipeline.ops.queries.DROP_RULES); no record is held back by them.
    """

    form: str
    data: pd.DataFrame
    quarantine: pd.DataFrame
    counts: pd.DataFrame
    warnings: tuple[str, ...]
    drops: pd.DataFrame = field(default_factory=lambda: drop_queries([]))


# --- reading ---------------------------------------------------------------------------


Event = tuple[str, str, str, str, str, str]  # (rule, siteid, form, file, field, value): a drop-level query


def _conform_columns(df: pd.DataFrame, form: Form, rel: str, siteid: str) -> tuple[pd.DataFrame, list[str], list[Event]]:
    """Keep the dictionary's columns (optional ones missing are added blank); warn about and query the rest."""
    warnings, events = [], []
    extra = [c for c in df.columns if c not in form.field_names and c not in LINEAGE]
    if extra:
        warnings.append(f"{rel}: column(s) {', '.join(extra)} are not in the dictionary for form {form.name!r}; ignored")
        events += [("COLUMN_UNKNOWN", siteid, form.name, rel, c, "") for c in extra]
    absent = [c for c in form.field_names if c not in df.columns]
    if absent:
        warnings.append(f"{rel}: optional column(s) {', '.join(absent)} missing from the file; read as blank")
        events += [("COLUMN_MISSING", siteid, form.name, rel, c, "") for c in absent]
    for name, rows in df.attrs.get("unread_sheets", []):
        warnings.append(f"{rel}: sheet {name!r} holds {rows} row(s) and is not read (only sheet {form.name!r} is)")
        events.append(("SHEET_UNREAD", siteid, form.name, rel, name, str(rows)))
    # Added with assign: pandas' reindex with a fill value fails on Arrow text for several columns at once.
    df = df.assign(**dict.fromkeys(absent, ""))
    return df[[*form.field_names, *LINEAGE]], warnings, events


def read_all_sites(
    raw_root: Path, form: Form, spec: RawSpec, silent: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, list[str], list[Event]]:
    """Every site's file of ``form`` as strings (dictionary columns + lineage), warnings and drop events.

    ``silent``: sites that sent nothing at all (a partial drop; queried once as SITE_MISSING).
    """
    frames, warnings, events = [], [], []
    for siteid in sorted(spec.sites):
        site = spec.sites[siteid]
        path = form_path(raw_root, site, form)
        if siteid in silent:
            warnings.append(f"{siteid}/: site {siteid} sent nothing in this drop; no {form.name!r} records read")
            events.append(("SITE_MISSING", siteid, form.name, f"{siteid}/", "", ""))
            continue
        if not path.exists():
            warnings.append(f"{relative_name(path)}: site {siteid} has sent no {form.name!r} file; no records read")
            events.append(("FORM_MISSING", siteid, form.name, relative_name(path), "", ""))
            continue
        df, w, e = _conform_columns(read_form_file(path, site, form), form, relative_name(path), siteid)
        frames.append(df)
        warnings.extend(w)
        events.extend(e)
    if not frames:
        empty = pd.DataFrame({c: pd.Series(dtype=TEXT) for c in [*form.field_names, "_site", "_file"]})
        return empty.assign(_row=pd.Series(dtype="int64")), warnings, events
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["_site", "_row"], kind="mergesort").reset_index(drop=True), warnings, events


# --- problems ----------------------------------------------------------------------------


def _problems(mask: pd.Series, field: str, rule: str, message: str | pd.Series) -> pd.DataFrame:
    """Problem rows (record index, field, rule, message) for the records where ``mask`` holds."""
    idx = mask.index[mask.to_numpy(dtype=bool)]
    msg = message.loc[idx].to_numpy() if isinstance(message, pd.Series) else message
    return pd.DataFrame({"record": idx, "field": field, "rule": rule, "message": msg})


def _what(f: RawField) -> str:
    return f"{f.label} ({f.name})"


def _fmt_bound(x: float | None) -> str:
    return f"{x:g}"


def _range_problems(f: RawField, values: pd.Series) -> list[pd.DataFrame]:
    """OUT_OF_RANGE for numbers outside the field's inclusive [min, max] (from the dictionary)."""
    if f.min is None and f.max is None:
        return []
    unit = f" {f.unit}" if f.unit else ""
    if f.min is not None and f.max is not None:
        expected = f"from {_fmt_bound(f.min)} to {_fmt_bound(f.max)}{unit}"
    elif f.min is not None:
        expected = f"{_fmt_bound(f.min)}{unit} or more"
    else:
        expected = f"{_fmt_bound(f.max)}{unit} or less"
    msg = f"{_what(f)} should be {expected} (specs/raw/dictionary.csv)"
    return [_problems(out_of_range(f, values), f.name, "OUT_OF_RANGE", msg)]


def _convert_field(
    f: RawField, text: pd.Series, date_order: pd.Series, spec: RawSpec, cutoff: str | None = None
) -> tuple[pd.Series, list[pd.DataFrame]]:
    """Convert one field's normalised text to its type; returns (values, problems)."""
    what = _what(f)
    present = text.notna()
    problems = []
    if f.required:
        problems.append(_problems(~present, f.name, "REQUIRED_MISSING", f"{what} is required but is blank"))
    if f.type == "date":
        iso = pd.Series(None, index=text.index, dtype=TEXT)
        reason = pd.Series(None, index=text.index, dtype=TEXT)
        for order in date_order.unique():
            rows = date_order == order
            iso[rows], reason[rows] = to_iso8601(text[rows], order)
        problems.append(_problems(reason.notna(), f.name, "DATE_INVALID", f"{what} is not a valid date: " + reason.fillna("")))
        if cutoff:
            future = after_cutoff(iso, cutoff)
            problems.append(
                _problems(
                    future,
                    f.name,
                    "DATE_IN_FUTURE",
                    f"{what} is after the data cut-off of {cutoff}; a date cannot be later than the export",
                )
            )
        return iso, problems
    if f.type in ("integer", "float"):
        numeric = on_distinct(text, lambda u: u.str.match(_NUMBER_RE)).eq(True)
        values = pd.to_numeric(text.where(numeric), errors="coerce").astype("float64")
        problems.append(_problems(present & ~numeric, f.name, "NOT_NUMERIC", f"{what} should be a number"))
        problems.extend(_range_problems(f, values))
        if f.type == "float":
            return values, problems
        fractional = values.notna() & (values % 1 != 0)
        problems.append(_problems(fractional, f.name, "NOT_INTEGER", f"{what} should be a whole number"))
        return values.where(~fractional).round().astype("Int64"), problems
    if f.type == "code":
        assert f.codelist is not None  # the spec loader requires a codelist for a code field
        lookup = build_lookup(spec.codelists[f.codelist])
        mapped, unknown = map_terms(text, lookup)
        # A term that only differs in letter case from two agreed spellings (UNIT: G/L vs g/L) is not guessed.
        ambiguous = on_distinct(text, lambda u: u.str.casefold().isin(lookup.ambiguous)).eq(True)
        message = pd.Series(
            f"{what}: the term is not one of the agreed values of codelist {f.codelist} (specs/raw/codelists.csv)",
            index=text.index,
        )
        message[ambiguous] = (
            f"{what}: the term matches more than one agreed value of codelist {f.codelist} when letter case is ignored; write it exactly"
        )
        problems.append(_problems(unknown, f.name, "CODE_UNKNOWN", message))
        return mapped, problems
    return text, problems


_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_VALUE_SHOWN = 40  # characters of a too-long value shown in the listing


def _hostile_text(raw: pd.DataFrame, form: Form, field_chars: int) -> list[pd.DataFrame]:
    """FIELD_TOO_LONG and CONTROL_CHARACTER: a field no EDC writes; the record is held back."""
    problems = []
    for f in form.fields:
        col = raw[f.name]
        n = col.str.len()
        long = n.gt(field_chars).fillna(False)
        if long.any():
            msg = (
                f"{_what(f)} is "
                + n[long].astype(int).astype(str)
                + f" characters long, more than limits.field_chars ({field_chars}) in specs/raw/sites.yaml; record held back"
            )
            problems.append(_problems(long, f.name, "FIELD_TOO_LONG", msg.reindex(col.index)))
        ctrl = on_distinct(col, lambda u: u.str.contains(_CONTROL, regex=True)).eq(True)
        problems.append(
            _problems(
                ctrl,
                f.name,
                "CONTROL_CHARACTER",
                f"{_what(f)} holds a control character (NUL or another non-printing byte) that no EDC writes; record held back",
            )
        )
    return problems


def _shown_value(q: pd.DataFrame) -> pd.DataFrame:
    """The listing's ``value`` of a hostile field: a too-long one cut, control characters as \\xNN."""
    long = q["rule"].eq("FIELD_TOO_LONG") & q["value"].ne(REDACTED)
    q.loc[long, "value"] = [f"{v[:_VALUE_SHOWN]}... ({len(v)} characters)" for v in q.loc[long, "value"]]
    ctrl = q["rule"].eq("CONTROL_CHARACTER") & q["value"].ne(REDACTED)
    q.loc[ctrl, "value"] = q.loc[ctrl, "value"].str.replace(_CONTROL, lambda m: f"\\x{ord(m.group()):02x}", regex=True)
    return q


def _conditional_rules(typed: pd.DataFrame, text: pd.DataFrame, form: Form) -> list[pd.DataFrame]:
    """REQUIRED_IF_MISSING: a field left blank although its ``required_if`` condition holds.

    The condition is read on the converted (canonical) value, so ``否``, ``No`` and ``N``
    all count as ``N``; a field whose text is present but unreadable is already a
    DATE_INVALID/NOT_NUMERIC/CODE_UNKNOWN problem, not a missing one.
    """
    problems = []
    for f in form.fields:
        c = f.required_if
        if c is None:
            continue
        cond = form.field(c.field)
        missing = required_if_missing(f, typed, text[f.name].isna())
        msg = f"{_what(f)} is required when {_what(cond)} is {' or '.join(c.values)}, but it is blank"
        problems.append(_problems(missing, f.name, "REQUIRED_IF_MISSING", msg))
    return problems


def _site_rules(text: pd.DataFrame, spec: RawSpec) -> list[pd.DataFrame]:
    """SITEID equals the folder's site; SUBJID follows the site's pattern."""
    problems = []
    if "SITEID" in text:
        wrong = site_mismatch(text)
        site = text.loc[wrong, "_site"]  # messages built for the problem rows only
        problems.append(
            _problems(
                wrong,
                "SITEID",
                "SITE_MISMATCH",
                "Site identifier (SITEID) differs from the site whose folder the file came in (site " + site + ")",
            )
        )
    if "SUBJID" in text:
        ok = np.zeros(len(text), dtype=bool)
        for siteid, site in spec.sites.items():  # one vectorised match per site
            rows = (text["_site"] == siteid).to_numpy()
            matched = on_distinct(text.loc[rows, "SUBJID"], lambda u, p=site.subject_id_pattern: u.str.match(p))  # type: ignore[misc]
            ok[rows] = matched.eq(True).to_numpy(dtype=bool)
        bad = text["SUBJID"].notna() & ~pd.Series(ok, index=text.index)
        site = text.loc[bad, "_site"]
        pattern = site.map({s: st.subject_id_pattern for s, st in spec.sites.items()}).fillna("?")
        problems.append(
            _problems(
                bad,
                "SUBJID",
                "SUBJID_FORMAT",
                "Subject identifier (SUBJID) does not follow the numbering agreed for site "
                + site
                + " (pattern "
                + pattern
                + ")",
            )
        )
    return problems


def _conflicting_duplicates(typed: pd.DataFrame, form: Form, bad_keys: pd.Series) -> pd.DataFrame:
    """Records sharing the form's keys (within a site) whose values differ.

    Exact duplicates are gone by now, so every remaining group of two or more records
    sharing keys disagrees somewhere. Records whose keys are blank or unreadable are
    already quarantined and cannot be compared.
    """
    keys = ["_site", *form.keys]
    cand = typed.loc[~bad_keys & typed[list(form.keys)].notna().all(axis=1), [*keys, "_file", "_row"]]
    dup = cand[cand.duplicated(subset=keys, keep=False)]
    if dup.empty:
        return _problems(pd.Series(False, index=typed.index), ",".join(form.keys), "DUPLICATE_KEY", "")
    # Only the (few) conflicting groups are visited to list their rows.
    rows = dup.groupby(keys, sort=False, dropna=False)["_row"].transform(lambda s: ", ".join(map(str, s)))
    names = ", ".join(form.keys)
    msg = (
        "Records with the same "
        + names
        + " but different values (rows "
        + rows
        + " of "
        + dup["_file"]
        + "); the site must say which is right. All are held back"
    )
    mask = pd.Series(typed.index.isin(dup.index), index=typed.index)
    return _problems(mask, ",".join(form.keys), "DUPLICATE_KEY", msg.reindex(typed.index))


def _check_name(schema: pa.DataFrameSchema, context: str, column: object, check: str, number: object) -> str:
    """The name a failure's check was given in the schema (pandera reports built-in checks by their repr)."""
    if pd.isna(number):
        return check  # dtype, not_nullable, column presence
    checks = schema.checks if context == "DataFrameSchema" else schema.columns[column].checks
    return checks[int(str(number))].name or check


def _schema_failures(data: pd.DataFrame, schema: pa.DataFrameSchema, form: Form) -> pd.DataFrame:
    """Problem rows for record-level schema failures; a column-level failure is a bug and raises."""
    try:
        schema.validate(data, lazy=True)
    except pa.errors.SchemaErrors as e:
        fc = e.failure_cases
        if fc["index"].isna().any():
            raise RuntimeError(f"{schema.name}: extract does not fit its schema:\n{fc[fc['index'].isna()].to_string()}") from None
        frame_level = (fc["schema_context"] == "DataFrameSchema").to_numpy()
        names = [
            _check_name(schema, *row) for row in fc[["schema_context", "column", "check", "check_number"]].itertuples(index=False)
        ]
        check = pd.Series(names, index=fc.index, dtype=object)
        # A frame-level check reports every column of a failing record: one problem per record.
        field = fc["column"].astype(str).where(~frame_level, "(record)")
        rule = "SCHEMA_" + check.str.replace(r"\W+", "_", regex=True).str.strip("_").str.upper()
        out = pd.DataFrame(
            {
                "record": fc["index"].to_numpy(),
                "field": field.to_numpy(),
                "rule": rule.to_numpy(),
                "message": ("Failed the check " + check + " on " + field).to_numpy(),
            }
        )
        return out.drop_duplicates(["record", "field", "rule"])
    return pd.DataFrame(columns=["record", "field", "rule", "message"])


# --- assembling ----------------------------------------------------------------------------


def _quarantine(problems: pd.DataFrame, raw: pd.DataFrame, text: pd.DataFrame, form: Form) -> pd.DataFrame:
    """Quarantine rows (QUARANTINE_COLS) for ``problems``; identifier values redacted."""
    if problems.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else TEXT) for c in QUARANTINE_COLS})
    p = problems.reset_index(drop=True)
    rec = p["record"].to_numpy()
    order = {name: i for i, name in enumerate(form.field_names)}
    identifiers = {f.name for f in form.fields if f.identifier}
    # The value as the site wrote it (so they can find it); multi-field rules join their values.
    value = pd.Series("", index=p.index, dtype=TEXT)
    for fld in p["field"].unique():
        rows = p["field"] == fld
        parts = [c for c in fld.split(",") if c in raw.columns]
        if not parts:
            continue
        if identifiers.intersection(parts):
            value[rows] = REDACTED
        else:
            vals = raw.loc[rec[rows.to_numpy()], parts].astype(str)
            value[rows] = vals.agg(",".join, axis=1).to_numpy() if len(parts) > 1 else vals[parts[0]].to_numpy()
    out = pd.DataFrame(
        {
            "siteid": raw.loc[rec, "_site"].to_numpy(),
            "subjid": text.loc[rec, "SUBJID"].fillna("").to_numpy() if "SUBJID" in text else "",
            "form": form.name,
            "file": raw.loc[rec, "_file"].to_numpy(),
            "row": raw.loc[rec, "_row"].to_numpy(dtype="int64"),
            "field": p["field"].to_numpy(),
            "value": value.to_numpy(),
            "rule": p["rule"].to_numpy(),
            "message": p["message"].to_numpy(),
        }
    )
    out["_order"] = out["field"].str.split(",").str[0].map(order).fillna(len(order))
    out = out.drop_duplicates(["file", "row", "field", "rule"])
    out = out.sort_values(["siteid", "file", "row", "_order", "rule"], kind="mergesort")
    return out[QUARANTINE_COLS].reset_index(drop=True)


def _counts(raw: pd.DataFrame, dup: pd.Series, held: pd.Series, spec: RawSpec) -> pd.DataFrame:
    """Per-site record accounting (every site in sites.yaml, zero when nothing was sent)."""
    site = raw["_site"]
    frame = pd.DataFrame(
        {
            "rows_read": site.value_counts(),
            "exact_duplicates": site[dup].value_counts(),
            "quarantined": site[held].value_counts(),
        }
    )
    frame = frame.reindex(sorted(spec.sites)).fillna(0).astype("int64")
    frame["passed"] = frame["rows_read"] - frame["exact_duplicates"] - frame["quarantined"]
    return frame.rename_axis("siteid").reset_index()[COUNT_COLS]


def extract_form(raw_root: Path, form_name: str, spec: RawSpec | None = None, data_cutoff: str | None = None) -> FormExtract:
    """Read, convert and check form ``form_name`` for every site under ``raw_root``.

    ``data_cutoff`` (ISO 8601 day) defaults to ``data_cutoff`` of specs/trial/study.yaml;
    any date after it is DATE_IN_FUTURE. Returns a FormExtract (see its docstring).
    Raises RawFileError for a file that cannot be read at all, an unknown site folder or
    an unknown form file, and KeyError for a form not in specs/raw/forms.yaml.
    """
    spec = spec or load_raw_spec()
    cutoff = data_cutoff or load_study().data_cutoff
    form = spec.forms[form_name]
    limits = load_limits()
    silent = scan_raw_root(Path(raw_root), spec, limits)
    raw, warnings, events = read_all_sites(Path(raw_root), form, spec, tuple(silent))
    fields = form.field_names

    text = pd.DataFrame({c: normalise_text(raw[c]) for c in fields}, index=raw.index)
    text["_site"] = raw["_site"]
    # A re-export repeats a record byte for byte (after normalising whitespace/width).
    dup = text.duplicated(subset=["_site", *fields], keep="first")
    kept = text[~dup]

    date_order = kept["_site"].map({s: site.date_order for s, site in spec.sites.items()})
    typed = pd.DataFrame(index=kept.index)
    problems: list[pd.DataFrame] = []
    for f in form.fields:
        typed[f.name], found = _convert_field(f, kept[f.name], date_order, spec, cutoff)
        problems.extend(found)
    problems.extend(_conditional_rules(typed, kept, form))
    problems.extend(_site_rules(kept, spec))
    problems.extend(_hostile_text(raw.loc[kept.index], form, limits.field_chars))
    for c in LINEAGE:
        typed[c] = raw.loc[kept.index, c]

    found = pd.concat(problems, ignore_index=True)
    bad_keys = pd.Series(kept.index.isin(found.loc[found["field"].isin(form.keys), "record"]), index=kept.index)
    found = pd.concat([found, _conflicting_duplicates(typed, form, bad_keys)], ignore_index=True)

    passing = typed[~typed.index.isin(found["record"])]
    schema = form_schema(form, spec) if data_cutoff is None else form_schema(form, spec, data_cutoff)
    gate = _schema_failures(passing, schema, form)
    found = pd.concat([found, gate], ignore_index=True) if not gate.empty else found

    held = pd.Series(raw.index.isin(found["record"]), index=raw.index)
    data = typed[~typed.index.isin(found["record"])].reset_index(drop=True)
    drops = drop_queries(events).astype({"row": "Int64", **{c: TEXT for c in QUARANTINE_COLS if c != "row"}})
    return FormExtract(
        form=form.name,
        data=data,
        quarantine=_shown_value(_quarantine(found, raw, text, form)),
        counts=_counts(raw, dup, held, spec),
        warnings=tuple(warnings),
        drops=drops,
    )
