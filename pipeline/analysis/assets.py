"""Dagster wiring of the endpoint results: the analysis-results table, AE incidence and KM plots."""

import base64

import dagster as dg
import pandas as pd

from pipeline import io
from pipeline.adam.common import AdamResult
from pipeline.analysis.endpoints import ae_incidence, efficacy_results, safety_results
from pipeline.analysis.plots import km_png
from pipeline.metadata import md_table
from pipeline.resources import StudyPaths
from pipeline.storage import PARTS_KEY

ENDPOINTS = [("RFS", "Recurrence-free survival"), ("TTR", "Time to recurrence (1 - cumulative recurrence)"), ("OS", "Overall survival")]


def _fmt(results: pd.DataFrame) -> pd.DataFrame:
    shown = results.copy()
    for c in ["VALUE", "LCL", "UCL"]:
        shown[c] = shown[c].map(lambda x: "" if pd.isna(x) else f"{x:.3g}")
    return shown.drop(columns=["METHOD"])


@dg.asset(
    key=["analysis", "endpoints"],
    group_name="analysis",
    ins={k: dg.AssetIn(key=["adam", k], metadata={PARTS_KEY: ["data"]}) for k in ("adsl", "adtte", "adae", "adex")},
    description=(
        "**Endpoint results** of the protocol: KM recurrence-free survival at 1/2/3/5 years (primary: 2 years), "
        "OS at 3/5 years, median time to recurrence, 2-year recurrence rate (Aalen-Johansen), log-rank tests and "
        "Cox hazard ratios (unadjusted and adjusted), AE incidence, dose modification due to AE, total dose. "
        "Written to outputs/analysis/."
    ),
    kinds={"pandas", "lifelines"},
    code_version="1",
)
def endpoints(paths: StudyPaths, adsl: AdamResult, adtte: AdamResult, adae: AdamResult, adex: AdamResult) -> dg.MaterializeResult:
    results = pd.concat(
        [efficacy_results(adtte.data, adsl.data), safety_results(adae.data, adsl.data, adex.data)], ignore_index=True
    )
    incidence = ae_incidence(adae.data, adsl.data)
    out = paths.out / "analysis"
    io.write_parquet(results, out / "endpoints.parquet", "Analysis results: protocol endpoints")
    io.write_text(out / "endpoints.csv", results.to_csv(index=False, lineterminator="\n"))
    io.write_parquet(incidence, out / "ae_incidence.parquet", "TEAE subject incidence by SOC and PT")
    io.write_text(out / "ae_incidence.csv", incidence.to_csv(index=False, lineterminator="\n"))
    fas = adtte.data[adtte.data["FASFL"].eq("Y")].assign(ARM=lambda d: d["TRT01P"])
    meta = {
        "dagster/row_count": len(results),
        "endpoint table": dg.MetadataValue.md(_fmt(results).to_markdown(index=False)),
        "AE incidence (top rows)": md_table(incidence, 30),
    }
    for code, title in ENDPOINTS:
        png = km_png(fas[fas["PARAMCD"].eq(code)], title)
        io.write_bytes(out / f"km_{code.lower()}.png", png)
        meta[f"Kaplan-Meier {code}"] = dg.MetadataValue.md(f"![KM {code}](data:image/png;base64,{base64.b64encode(png).decode()})")
    return dg.MaterializeResult(metadata=meta)


analysis_assets = [endpoints]
