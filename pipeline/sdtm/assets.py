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
from pipeline.dataset_assets import dataset_asset, labels
from pipeline.metadata import counts_by
from pipeline.resources import StudyPaths
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
    "tv",
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
    "suppae",
    "relrec",
    "sv",
]


def _domain_asset(module: ModuleType) -> dg.AssetsDefinition:
    spec = load_dataset_spec("sdtm", module.DOMAIN.lower())
    name = spec.name.lower()

    def write(result: DomainResult, paths: StudyPaths) -> None:
        out = paths.out / "sdtm"
        io.write_parquet(result.data, out / f"{name}.parquet", spec.label, labels(spec))
        io.write_parquet(result.lineage, out / "lineage" / f"{name}.parquet", f"Record lineage of {spec.name}")

    def run_metadata(result: DomainResult) -> dict:
        return {"queries": len(result.queries), "queries by site": dg.MetadataValue.json(counts_by(result.queries, "siteid"))}

    return dataset_asset(spec, module.INPUTS, module.build, lambda r: r.data, write, run_metadata)


def load_domain_modules() -> list[ModuleType]:
    return [importlib.import_module(f"pipeline.sdtm.{m}") for m in DOMAIN_MODULES]


sdtm_assets = [_domain_asset(m) for m in load_domain_modules()]
