"""Dagster wiring of the report: the ARD, one asset per display (RTF + PDF + UI preview), the ARS
reporting event, each with its blocking checks. Group ``tlf``; files under ``<out>/tlf/`` and
``<out>/analysis/``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline import io
from pipeline.adam.common import AdamResult
from pipeline.analysis.display import with_counts
from pipeline.analysis.endpoints import ae_incidence, efficacy_results, safety_results
from pipeline.analysis.plots import cif_figures, km_png
from pipeline.analysis.survival import competing_risks
from pipeline.resources import StudyPaths
from pipeline.specs.analysis import load_displays
from pipeline.storage import PARTS_KEY
from pipeline.tlf import ars, pdf, rtf
from pipeline.tlf.ard import build_ard
from pipeline.tlf.check import compare
from pipeline.tlf.display import Table, display
from pipeline.tlf.registry import FIGURES, LISTINGS, TABLES
from pipeline.versions import code_version

# What the code versions of this module's assets hash (pipeline/versions.py).
CODE_SOURCES = ("pipeline/tlf/*.py", "specs/analysis/*", "specs/trial/*")

GROUP = "tlf"
ARD_KEY = dg.AssetKey(["tlf", "ard"])
ARD_FILE = Path("analysis") / "ard.parquet"
ADAM_INS = {k: dg.AssetIn(key=["adam", k], metadata={PARTS_KEY: ["data"]}) for k in ("adsl", "adtte", "adae", "adex")}


def tlf_dir(paths: StudyPaths) -> Path:
    return paths.out / "tlf"


@dataclass(frozen=True)
class AnalysisResults:
    """The study's analysis results, computed once: the ARD, the endpoint engine's rows (the
    protocol-endpoint view published as analysis/endpoints.csv) and the TEAE incidence by SOC/PT."""

    ard: pd.DataFrame
    endpoints: pd.DataFrame
    incidence: pd.DataFrame


@dg.asset(
    key=ARD_KEY,
    group_name=GROUP,
    code_version=code_version(CODE_SOURCES),
    ins=ADAM_INS,
    kinds={"pandas", "parquet", "lifelines"},
    description="**Analysis results dataset (ARD)**: every number of every report display, one row per "
    "statistic (analysis, operation, analysis set, group, subset, categories, time point, value, "
    "denominator), computed once from ADaM; the endpoint results (analysis/endpoints) are a view "
    "of the same computation. outputs/analysis/ard.parquet|csv.",
)
def ard(paths: StudyPaths, adsl: AdamResult, adtte: AdamResult, adae: AdamResult, adex: AdamResult) -> AnalysisResults:
    results = pd.concat(
        [efficacy_results(adtte.data, adsl.data), safety_results(adae.data, adsl.data, adex.data)], ignore_index=True
    )
    fas = adtte.data[adtte.data["FASFL"].eq("Y")].assign(ARM=lambda d: d["TRT01P"])
    results = with_counts(results, fas, adsl.data, adex.data)
    frame = build_ard(adsl.data, adtte.data, adae.data, adex.data, endpoint_results=results)
    io.write_parquet(frame, paths.out / ARD_FILE, "Analysis results dataset (ARD)")
    io.write_text(paths.out / "analysis" / "ard.csv", frame.to_csv(index=False, lineterminator="\n"))
    return AnalysisResults(frame, results, ae_incidence(adae.data, adsl.data))


ARD_IN = dg.AssetIn(key=ARD_KEY, metadata={PARTS_KEY: ["ard"]})


def _written(table: Table, out: Path, png: Path | None = None) -> dict:
    rtf_path, pdf_path = out / f"{table.display.id}.rtf", out / f"{table.display.id}.pdf"
    if png is None:
        rtf.write(table, rtf_path)
    else:
        rtf.write_figure(table, png, rtf_path)
    pdf.write(table, pdf_path, png)
    return {
        "rtf": dg.MetadataValue.path(str(rtf_path)),
        "pdf": dg.MetadataValue.path(str(pdf_path)),
        "dagster/row_count": len(table.rows),
    }


def _table_asset(display_id: str) -> dg.AssetsDefinition:
    d = display(display_id)
    key = dg.AssetKey(["tlf", display_id])

    @dg.asset(
        key=key,
        group_name=GROUP,
        code_version=code_version(CODE_SOURCES),
        ins={"ard": ARD_IN},
        kinds={"rtf", "pdf"},
        description=f"**{d.kind.capitalize()} {d.number}: {d.title}** ({d.population}). RTF and PDF in "
        f"outputs/tlf/; every printed cell is checked against the ARD.",
        check_specs=[
            dg.AssetCheckSpec(
                "rtf_matches_ard", asset=key, blocking=True, description="Every cell printed in the RTF equals its ARD value"
            )
        ],
    )
    def _asset(paths: StudyPaths, ard: AnalysisResults):
        table = TABLES[display_id](ard.ard)
        meta = _written(table, tlf_dir(paths))
        yield dg.MaterializeResult(metadata={**meta, "preview": dg.MetadataValue.md(table.markdown())})
        # Re-read both files from disk: the check compares what was published, not what is in memory.
        on_disk = TABLES[display_id](pd.read_parquet(paths.out / ARD_FILE))
        bad = compare(on_disk, tlf_dir(paths) / f"{display_id}.rtf")
        yield dg.AssetCheckResult(
            check_name="rtf_matches_ard",
            passed=not bad,
            metadata={
                "cells compared": sum(len(r) for r in on_disk.rows) + len(on_disk.header),
                "mismatches": len(bad),
                "first mismatches": dg.MetadataValue.md(
                    "\n".join(
                        f"- row {m.row}, column {m.column}: printed `{m.printed}`, ARD gives `{m.expected}`" for m in bad[:20]
                    )
                    or "none"
                ),
            },
        )

    return _asset


def _figure_asset(display_id: str) -> dg.AssetsDefinition:
    d = display(display_id)
    paramcd = FIGURES[display_id]

    @dg.asset(
        key=["tlf", display_id],
        group_name=GROUP,
        code_version=code_version(CODE_SOURCES),
        ins={"adtte": ADAM_INS["adtte"], "ard": ARD_IN},
        kinds={"rtf", "pdf", "png"},
        description=f"**Figure {d.number}: {d.title}** ({d.population}). PNG, RTF and PDF in outputs/tlf/.",
    )
    def _asset(paths: StudyPaths, adtte: AdamResult, ard: AnalysisResults) -> dg.MaterializeResult:
        t = adtte.data[adtte.data["FASFL"].eq("Y")].assign(ARM=lambda x: x["TRT01P"])
        png = tlf_dir(paths) / f"{display_id}.png"
        if paramcd == "CIF":  # the recurrence rate's curves: TTR with its competing death (OS), from ADTTE alone
            cr = competing_risks(t[t["PARAMCD"].eq("TTR")], t[t["PARAMCD"].eq("OS")])
            io.write_bytes(png, cif_figures(cr, d.title, formats=("png",))["png"])
        else:
            io.write_bytes(png, km_png(t[t["PARAMCD"].eq(paramcd)], d.title))
        table = Table(d, (), (), ())
        meta = _written(table, tlf_dir(paths), png)
        return dg.MaterializeResult(metadata={**meta, "png": dg.MetadataValue.path(str(png))})

    return _asset


def _listing_asset(display_id: str) -> dg.AssetsDefinition:
    d = display(display_id)
    build, source = LISTINGS[display_id]

    @dg.asset(
        key=["tlf", display_id],
        group_name=GROUP,
        code_version=code_version(CODE_SOURCES),
        ins={source: ADAM_INS[source]},
        kinds={"rtf", "pdf"},
        description=f"**Listing {d.number}: {d.title}** ({d.population}), by site. RTF and PDF in outputs/tlf/.",
    )
    def _asset(paths: StudyPaths, **data: AdamResult) -> dg.MaterializeResult:
        table = build(data[source].data)
        meta = _written(table, tlf_dir(paths))
        return dg.MaterializeResult(metadata={**meta, "preview": dg.MetadataValue.md(table.markdown(30))})

    return _asset


@dg.asset(
    key=["tlf", "reporting_event"],
    group_name=GROUP,
    code_version=code_version(CODE_SOURCES),
    ins={"ard": ARD_IN},
    kinds={"json"},
    deps=[dg.AssetKey(["tlf", d.id]) for d in load_displays()],
    description="**CDISC ARS v1.0 reporting event**: analysis sets, groupings, data subsets, methods and "
    "operations, analyses with every result, outputs and the list of contents. "
    "outputs/analysis/ars/reporting_event.json; validated against the ARS JSON schema and for "
    "referential integrity.",
    check_specs=[
        dg.AssetCheckSpec(
            "ars_schema",
            asset=["tlf", "reporting_event"],
            blocking=True,
            description="Valid against the CDISC ARS v1.0 JSON schema (ars_ldm.json)",
        ),
        dg.AssetCheckSpec(
            "ars_references",
            asset=["tlf", "reporting_event"],
            blocking=True,
            description="Every id referenced resolves; every analysis is in a list of contents",
        ),
    ],
)
def reporting_event(paths: StudyPaths, ard: AnalysisResults):
    doc = ars.reporting_event(ard.ard)
    path = paths.out / "analysis" / "ars" / "reporting_event.json"
    io.write_text(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    yield dg.MaterializeResult(
        metadata={
            "file": dg.MetadataValue.path(str(path)),
            "analyses": len(doc["analyses"]),
            "outputs": len(doc["outputs"]),
            "results": sum(len(a.get("results", [])) for a in doc["analyses"]),
        }
    )
    written = json.loads(path.read_text(encoding="utf-8"))
    schema_errors = ars.schema_errors(written)
    yield dg.AssetCheckResult(
        check_name="ars_schema",
        passed=not schema_errors,
        metadata={
            "errors": len(schema_errors),
            "first errors": dg.MetadataValue.md("\n".join(f"- {e}" for e in schema_errors[:20]) or "none"),
        },
    )
    ref_errors = ars.reference_errors(written)
    yield dg.AssetCheckResult(
        check_name="ars_references",
        passed=not ref_errors,
        metadata={
            "errors": len(ref_errors),
            "first errors": dg.MetadataValue.md("\n".join(f"- {e}" for e in ref_errors[:20]) or "none"),
        },
    )


def build_tlf_assets() -> list[dg.AssetsDefinition]:
    """The ARD, one asset per display of specs/analysis/displays.yaml, and the ARS reporting event."""
    out: list[dg.AssetsDefinition] = [ard]
    for d in load_displays():
        if d.id in TABLES:
            out.append(_table_asset(d.id))
        elif d.id in FIGURES:
            out.append(_figure_asset(d.id))
        elif d.id in LISTINGS:
            out.append(_listing_asset(d.id))
        else:
            raise ValueError(f"display {d.id} of displays.yaml has no module in pipeline/tlf/registry.py")
    out.append(reporting_event)
    return out


tlf_assets = build_tlf_assets()
