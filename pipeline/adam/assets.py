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
from pipeline.metadata import md_table
from pipeline.resources import StudyPaths
from pipeline.schemas import column_lineage, dagster_column_schema, lineage_markdown, validate_frame
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
    name = module.NAME.lower()
    spec = load_dataset_spec("adam", name)
    key = dg.AssetKey(["adam", name])

    @dg.asset(
        key=key,
        group_name="adam",
        ins={arg: dg.AssetIn(key=dg.AssetKey(k)) for arg, k in module.INPUTS.items()},
        check_specs=[dg.AssetCheckSpec("schema", asset=key, blocking=True, description=f"{spec.name} conforms to its spec")],
        description=f"**{spec.name} — {spec.label}** ({spec.structure}).\n\n{spec.comment or ''}",
        kinds={"pandas", "parquet"},
        metadata={
            "dagster/column_schema": dagster_column_schema(spec),
            # In the definition too, so the lineage is there before the first run.
            "dagster/column_lineage": column_lineage(spec),
            "variable lineage": dg.MetadataValue.md(lineage_markdown(spec)),
        },
        code_version="1",
    )
    def _asset(context: dg.AssetExecutionContext, paths: StudyPaths, **inputs):
        result: AdamResult = module.build(**inputs)
        ok, failures = validate_frame(as_submission(result.data, spec), spec)
        if ok:
            io.write_parquet(parquet_frame(result.data, spec), paths.out / "adam" / f"{name}.parquet", spec.label,
                             {v.name: v.label for v in spec.variables})
        yield dg.Output(
            result,
            metadata={
                "dagster/row_count": len(result.data),
                "dagster/column_lineage": column_lineage(spec),
                "subjects": int(result.data["USUBJID"].nunique()),
                "issues": len(result.issues),
                "issue sample": md_table(result.issues),
                "preview": md_table(result.data, 10),
            },
        )
        yield dg.AssetCheckResult(
            check_name="schema",
            passed=ok,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"num_failures": len(failures), "failures": md_table(failures)},
        )

    _asset.__name__ = f"adam_{name}"
    return _asset


adam_assets = [_dataset_asset(importlib.import_module(f"pipeline.adam.{m}")) for m in DATASET_MODULES]
