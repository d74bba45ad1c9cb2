"""The Dagster entry point: every asset, check, job, schedule and sensor of the study.

``dagster dev -w workspace.yaml`` loads ``defs``; ``python -m pipeline run`` builds the
same definitions with its own folders through :func:`build_definitions`.
Layers, in order: raw -> sdtm -> adam -> analysis -> tlf (report displays, ARD, ARS) -> submission, plus
ops (query listings).
"""

from __future__ import annotations

import os

import dagster as dg

from pipeline.adam.assets import adam_assets
from pipeline.analysis.assets import analysis_assets
from pipeline.ops.assets import build_query_listing_asset
from pipeline.ops.automation import jobs, schedules, sensors
from pipeline.ops.checks import ops_asset_checks
from pipeline.ops.executors import executor_from_env
from pipeline.raw.assets import raw_assets
from pipeline.resources import StudyPaths, TransferHistory
from pipeline.sdtm.assets import sdtm_assets
from pipeline.storage import StudyIOManager
from pipeline.submission.assets import build_submission_assets
from pipeline.submission.core import core_assets
from pipeline.submission.m5_assets import m5_assets, m5_checks
from pipeline.tlf.assets import tlf_assets
from pipeline.transfers.assets import WRITER_KEYS as TRANSFER_WRITERS
from pipeline.transfers.assets import transfer_assets
from pipeline.transfers.responses import responses_sensor, returned_listings_job


def _keys(assets: list[dg.AssetsDefinition]) -> list[dg.AssetKey]:
    return [k for a in assets for k in a.keys]


def all_assets() -> list[dg.AssetsDefinition]:
    """Every asset of the study; the submission manifest comes after everything that writes outputs."""
    raw_keys, sdtm_keys, adam_keys = _keys(raw_assets), _keys(sdtm_assets), _keys(adam_assets)
    queries = build_query_listing_asset(raw_keys, sdtm_keys, adam_keys)
    writers = [*sdtm_keys, *adam_keys, *_keys(analysis_assets), *_keys(tlf_assets), *queries.keys, *_keys(m5_assets)]
    writers += _keys(core_assets)  # the CORE reports: published by the manifest, so written before it
    submission = build_submission_assets(sdtm_keys, adam_keys, manifest_deps=[*writers, *TRANSFER_WRITERS])
    return [
        *raw_assets,
        *sdtm_assets,
        *adam_assets,
        *analysis_assets,
        *tlf_assets,
        queries,
        *submission,
        *core_assets,
        *m5_assets,
        *transfer_assets,
    ]


def build_definitions(
    raw_dir: str = "raw",
    out_dir: str = "outputs",
    work_dir: str = ".work",
    staged: bool = True,
    history_dir: str = "",
    responses_dir: str = "",
) -> dg.Definitions:
    """Definitions reading site exports from ``raw_dir`` and writing deliverables to ``out_dir``.

    Intermediate asset values (which may hold raw identifiers) are pickled under
    ``work_dir``, never under ``out_dir``. The executor comes from the environment
    (``executor_from_env``: in-process when PIPELINE_EXECUTOR is unset). ``staged``: each run
    writes into its own staging folder and the manifest publishes it whole (pipeline/publish.py).
    ``history_dir`` / ``responses_dir``: the transfer store and the returned site listings
    (pipeline/transfers; blank: their defaults).
    """
    executor = executor_from_env()
    return dg.Definitions(
        assets=all_assets(),
        asset_checks=[*ops_asset_checks, *m5_checks],
        jobs=[*jobs, returned_listings_job],
        schedules=schedules,
        # The returned site listings are read again when one lands (pipeline/transfers/responses.py).
        sensors=[*sensors, responses_sensor],
        resources={
            "paths": StudyPaths(raw_dir=raw_dir, out_dir=out_dir, staged=staged),
            "io_manager": StudyIOManager(base_dir=work_dir),
            "history": TransferHistory(history_dir=history_dir, responses_dir=responses_dir),
        },
        executor=executor,
    )


defs = build_definitions(
    raw_dir=os.environ.get("PIPELINE_RAW_DIR", "raw"),
    out_dir=os.environ.get("PIPELINE_OUT_DIR", "outputs"),
    work_dir=os.environ.get("PIPELINE_WORK_DIR", os.path.join(os.environ.get("DAGSTER_HOME", ".work"), "storage")),
    history_dir=os.environ.get("PIPELINE_HISTORY", ""),
    responses_dir=os.environ.get("PIPELINE_RESPONSES_DIR", ""),
)
