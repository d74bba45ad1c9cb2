"""The shape every SDTM and ADaM dataset asset shares, built once.

A dataset asset calls a pure ``build(**inputs)``, validates the result against the pandera
schema generated from its spec (a blocking check named ``schema``), writes its files only
when the check passes, and carries its column schema and column lineage in its definition.
"""

from collections.abc import Callable
from typing import Any

import dagster as dg
import pandas as pd

from pipeline.metadata import md_table
from pipeline.resources import StudyPaths
from pipeline.schemas import (
    column_lineage,
    dagster_column_schema,
    failing_rows,
    failing_rows_table,
    lineage_markdown,
    validate_frame,
)
from pipeline.specs.datasets import DatasetSpec
from pipeline.storage import PARTS_KEY
from pipeline.versions import SOURCES_KEY, code_version, dataset_sources


def dataset_asset(
    spec: DatasetSpec,
    inputs: dict[str, list[str]],
    build: Callable[..., Any],
    checked_frame: Callable[[Any], pd.DataFrame],
    write: Callable[[Any, StudyPaths], None],
    run_metadata: Callable[[Any], dict[str, Any]],
) -> dg.AssetsDefinition:
    """An asset ``[layer, name]`` for one dataset spec.

    build: the pure derivation (inputs by argument name); checked_frame: the frame as
    submitted, which the schema validates; write: writes the files (only on a passing
    check); run_metadata: metadata of one materialization beyond row count and lineage.
    """
    layer, name = spec.layer, spec.name.lower()
    key = dg.AssetKey([layer, name])
    sources = dataset_sources(layer, name, build.__module__)

    @dg.asset(
        key=key,
        group_name=layer,
        # Derivations read only the records of an upstream result (pipeline/storage.py loads just that part).
        ins={arg: dg.AssetIn(key=dg.AssetKey(k), metadata={PARTS_KEY: ["data"]}) for arg, k in inputs.items()},
        check_specs=[dg.AssetCheckSpec("schema", asset=key, blocking=True, description=f"{spec.name} conforms to its spec")],
        description=f"**{spec.name} — {spec.label}** ({spec.structure}).\n\n{spec.comment or ''}",
        kinds={"pandas", "parquet"},
        metadata={
            "dagster/column_schema": dagster_column_schema(spec),
            # In the definition too, so the lineage is there before the first run.
            "dagster/column_lineage": column_lineage(spec),
            "variable lineage": dg.MetadataValue.md(lineage_markdown(spec)),
            SOURCES_KEY: list(sources),
        },
        code_version=code_version(sources),
    )
    def _asset(context: dg.AssetExecutionContext, paths: StudyPaths, **kwargs):
        result = build(**kwargs)
        data = checked_frame(result)
        ok, failures = validate_frame(data, spec)
        if ok:
            write(result, paths)
        yield dg.Output(
            result,
            metadata={
                "dagster/row_count": len(data),
                "dagster/column_lineage": column_lineage(spec),
                "subjects": int(data["USUBJID"].nunique()) if "USUBJID" in data else 0,
                **run_metadata(result),
                "preview": md_table(data, 10),
            },
        )
        yield dg.AssetCheckResult(
            check_name="schema",
            passed=ok,
            severity=dg.AssetCheckSeverity.ERROR,
            # By subject, --SEQ and raw file and row (the record lineage), with the rule in words.
            metadata={
                "num_failures": len(failures),
                "failing rows": failing_rows_table(failing_rows(data, failures, spec, getattr(result, "lineage", None))),
            },
        )

    return _asset


def labels(spec: DatasetSpec) -> dict[str, str]:
    return {v.name: v.label for v in spec.variables}
