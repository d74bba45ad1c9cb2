"""Dagster wiring of the ADaM layer: one asset per dataset module, gated by its spec schema.

Each module declares ``NAME``, ``INPUTS`` and a pure ``build(**inputs) -> AdamResult``.
The schema generated from ``specs/adam/<name>.yaml`` checks the dataset as submitted
(dates as SAS day numbers); only a passing dataset is written to ``outputs/adam/``.
"""

import importlib
from types import ModuleType

import dagster as dg
import pandas as pd

from pipeline import io
from pipeline.adam.common import AdamResult, as_submission
from pipeline.dataset_assets import dataset_asset, labels
from pipeline.metadata import md_table
from pipeline.resources import StudyPaths
from pipeline.specs.datasets import load_dataset_spec

DATASET_MODULES = ["adsl", "adae", "adex", "adtte"]


def parquet_frame(df: pd.DataFrame, spec) -> pd.DataFrame:
    """ADaM as written to Parquet: DATE9. variables as calendar dates (date32), not SAS numbers."""
    out = df.copy()
    for v in spec.variables:
        if v.type == "Num" and (v.format or "").upper().startswith("DATE"):
            out[v.name] = pd.to_datetime(out[v.name]).dt.date
    return out


def _dataset_asset(module: ModuleType) -> dg.AssetsDefinition:
    spec = load_dataset_spec("adam", module.NAME.lower())

    def write(result: AdamResult, paths: StudyPaths) -> None:
        io.write_parquet(
            parquet_frame(result.data, spec), paths.out / "adam" / f"{spec.name.lower()}.parquet", spec.label, labels(spec)
        )

    def run_metadata(result: AdamResult) -> dict:
        return {"issues": len(result.issues), "issue sample": md_table(result.issues)}

    return dataset_asset(spec, module.INPUTS, module.build, lambda r: as_submission(r.data, spec), write, run_metadata)


adam_assets = [_dataset_asset(importlib.import_module(f"pipeline.adam.{m}")) for m in DATASET_MODULES]
