"""Dagster wiring of the SDTM layer: one asset per domain module, gated by its spec schema.

Each domain module declares ``DOMAIN`` (the dataset name), ``INPUTS`` (argument name ->
upstream asset key) and a pure ``build(**inputs) -> DomainResult``. The asset validates
the result against the pandera schema generated from ``specs/sdtm/<domain>.yaml``; only a
passing domain is written to ``outputs/sdtm/`` and the blocking check stops ADaM otherwise.
"""


import importlib
from types import ModuleType

import dagster as dg

from pipeline import io
from pipeline.metadata import counts_by, md_table
from pipeline.resources import StudyPaths
from pipeline.schemas import column_lineage, dagster_column_schema, lineage_markdown, validate_frame
from pipeline.sdtm.common import DomainResult
from pipeline.specs.datasets import load_dataset_spec

DOMAIN_MODULES = [
    "dm",
    "se",
    "ie",
    "ts",
    "ta",
    "te",
    "ti",
    "ex",
    "ae",
    "pr",
    "lb",
    "mb",
    "is_",
    "mh",
    "mi",
    "cm",
    "ds",
    "rs",
    "ss",
    "dd",
    "tu",
    "tr",
    "supptu",
    "supprs",
    "relrec",
]


def _domain_asset(module: ModuleType) -> dg.AssetsDefinition:
    name = module.DOMAIN.lower()
    spec = load_dataset_spec("sdtm", name)
    key = dg.AssetKey(["sdtm", name])

    @dg.asset(
        key=key,
        group_name="sdtm",
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
        result: DomainResult = module.build(**inputs)
        ok, failures = validate_frame(result.data, spec)
        if ok:
            out = paths.out / "sdtm"
            io.write_parquet(result.data, out / f"{name}.parquet", spec.label, {v.name: v.label for v in spec.variables})
            io.write_parquet(result.lineage, out / "lineage" / f"{name}.parquet", f"Record lineage of {spec.name}")
        yield dg.Output(
            result,
            metadata={
                "dagster/row_count": len(result.data),
                "dagster/column_lineage": column_lineage(spec),
                "subjects": int(result.data["USUBJID"].nunique()) if "USUBJID" in result.data else 0,
                "queries": len(result.queries),
                "queries by site": dg.MetadataValue.json(counts_by(result.queries, "siteid")),
                "preview": md_table(result.data, 10),
            },
        )
        yield dg.AssetCheckResult(
            check_name="schema",
            passed=ok,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"num_failures": len(failures), "failures": md_table(failures)},
        )

    _asset.__name__ = f"sdtm_{name}"
    return _asset


def load_domain_modules() -> list[ModuleType]:
    return [importlib.import_module(f"pipeline.sdtm.{m}") for m in DOMAIN_MODULES]


sdtm_assets = [_domain_asset(m) for m in load_domain_modules()]
