"""Dagster wiring of the endpoint results: the analysis-results table, AE incidence and KM plots."""

import base64
from typing import Any

import dagster as dg
import pandas as pd

from pipeline import io
from pipeline.adam.common import AdamResult
from pipeline.analysis.display import display_table, plot_annotation
from pipeline.analysis.plots import km_figures
from pipeline.metadata import md_table
from pipeline.resources import StudyPaths
from pipeline.storage import PARTS_KEY
from pipeline.versions import code_version

# What the code versions of this module's assets hash (pipeline/versions.py).
CODE_SOURCES = ("pipeline/analysis/*.py", "specs/analysis/*", "specs/trial/*")

ENDPOINTS = [
    ("RFS", "Recurrence-free survival"),
    ("TTR", "Time to recurrence (1 - cumulative recurrence)"),
    ("OS", "Overall survival"),
]


# The UI table: the estimate next to its statistic (a wide table is cut at the screen's edge).
UI_COLS = ["PARAMCD", "ARM", "STATISTIC", "TIMEPOINT", "estimate", "95% CI", "N analysed", "n at risk", "n events"]


def endpoint_table(shown: pd.DataFrame) -> dg.TableMetadataValue:
    """The display table (pipeline.analysis.display) as Dagster table metadata: the UI shows it inline."""
    cols = UI_COLS
    records = [dg.TableRecord({c: str(v) for c, v in zip(cols, vals)}) for vals in shown[cols].itertuples(index=False, name=None)]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in cols]))


@dg.asset(
    key=["analysis", "endpoints"],
    group_name="analysis",
    ins={
        "adtte": dg.AssetIn(key=["adam", "adtte"], metadata={PARTS_KEY: ["data"]}),
        # computed once, with the ARD (pipeline/tlf/assets.py): this asset publishes the endpoint view
        "results": dg.AssetIn(key=["tlf", "ard"], metadata={PARTS_KEY: ["endpoints", "incidence"]}),
    },
    description=(
        "**Endpoint results** of the protocol: KM recurrence-free survival at 1/2/3/5 years (primary: 2 years), "
        "OS at 3/5 years, median time to recurrence, 2-year recurrence rate (Aalen-Johansen), log-rank tests and "
        "Cox hazard ratios (unadjusted and adjusted), AE incidence, dose modification due to AE, total dose. "
        "The protocol-endpoint view of the analysis results computed once with the ARD (tlf/ard). "
        "Written to outputs/analysis/: endpoints.parquet (full precision), endpoints.csv (rounded for reading, "
        "N analysed / n at risk / n events), KM figures as PNG, SVG and PDF."
    ),
    kinds={"pandas", "lifelines"},
    code_version=code_version(CODE_SOURCES),
)
def endpoints(paths: StudyPaths, adtte: AdamResult, results) -> dg.MaterializeResult:
    incidence = results.incidence
    results = results.endpoints
    out = paths.out / "analysis"
    fas = adtte.data[adtte.data["FASFL"].eq("Y")].assign(ARM=lambda d: d["TRT01P"])
    shown = display_table(results)
    io.write_parquet(results, out / "endpoints.parquet", "Analysis results: protocol endpoints")
    io.write_text(out / "endpoints.csv", shown.to_csv(index=False, lineterminator="\n"))
    io.write_parquet(incidence, out / "ae_incidence.parquet", "TEAE subject incidence by SOC and PT")
    io.write_text(out / "ae_incidence.csv", incidence.to_csv(index=False, lineterminator="\n"))
    meta: dict[str, Any] = {
        "dagster/row_count": len(results),
        "endpoint table": endpoint_table(shown),
        "AE incidence (top rows)": md_table(incidence, 30),
    }
    for code, title in ENDPOINTS:
        figs = km_figures(fas[fas["PARAMCD"].eq(code)], title, plot_annotation(results, code))
        for fmt, data in figs.items():
            io.write_bytes(out / f"km_{code.lower()}.{fmt}", data)
        meta[f"Kaplan-Meier {code}"] = dg.MetadataValue.md(
            f"![KM {code}](data:image/png;base64,{base64.b64encode(figs['png']).decode()})"
        )
    return dg.MaterializeResult(metadata=meta)


class TraceConfig(dg.Config):
    """Launchpad config of ``analysis/subject_trace``: one subject's USUBJID, or blank for every subject."""

    usubjid: str = ""


TRACE_DOMAINS = ("rs",)  # the SDTM domains ADTTE names in SRCDOM (specs/adam/adtte.yaml)
TRACE_ROWS_SHOWN = 500


@dg.asset(
    key=["analysis", "subject_trace"],
    group_name="analysis",
    ins={
        "adtte": dg.AssetIn(key=["adam", "adtte"], metadata={PARTS_KEY: ["data"]}),
        **{d: dg.AssetIn(key=["sdtm", d], metadata={PARTS_KEY: ["data", "lineage"]}) for d in TRACE_DOMAINS},
    },
    description=(
        "**Record trace** for a data manager: each ADTTE record (RFS, TTR, OS) back to the SDTM record it "
        "takes its date from (SRCDOM/SRCSEQ) and on to the raw file and row (the SDTM record lineage). "
        "Materialize with `usubjid` in the Launchpad config for one subject; blank traces everyone. "
        "The table is in the materialization's metadata; nothing is written to the outputs."
    ),
    kinds={"pandas"},
    code_version=code_version(CODE_SOURCES),
)
def subject_trace(config: TraceConfig, adtte: AdamResult, **sdtm) -> dg.MaterializeResult:
    from pipeline.analysis.trace import adtte_trace

    table = adtte_trace(adtte.data, {d.upper(): (r.data, r.lineage) for d, r in sdtm.items()}, config.usubjid.strip())
    shown = table.head(TRACE_ROWS_SHOWN)
    records = [
        dg.TableRecord({c: str(v) for c, v in zip(shown.columns, vals)}) for vals in shown.itertuples(index=False, name=None)
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "subject": config.usubjid.strip() or "all subjects",
            "trace": dg.MetadataValue.table(
                records=records, schema=dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in table.columns])
            ),
            **({"not shown": f"{len(table) - len(shown)} rows: materialize with a usubjid"} if len(table) > len(shown) else {}),
        }
    )


analysis_assets = [endpoints, subject_trace]
