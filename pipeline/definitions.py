"""The Dagster entry point: every asset, check, job, schedule and sensor of the study.

``dagster dev -w workspace.yaml`` loads ``defs``; ``python -m pipeline run`` builds the
same definitions with its own folders through :func:`build_definitions`.
"""

from __future__ import annotations

import os

import dagster as dg

from pipeline.adam.assets import adam_assets
from pipeline.analysis.assets import analysis_assets
from pipeline.raw.assets import raw_asset_checks, raw_assets
from pipeline.resources import StudyPaths
from pipeline.sdtm.assets import sdtm_assets


def build_definitions(raw_dir: str = "raw", out_dir: str = "outputs", work_dir: str = ".work") -> dg.Definitions:
    """Definitions reading site exports from ``raw_dir`` and writing deliverables to ``out_dir``.

    Intermediate asset values (which may hold raw identifiers) are pickled under
    ``work_dir``, never under ``out_dir``.
    """
    return dg.Definitions(
        assets=[*raw_assets, *sdtm_assets, *adam_assets, *analysis_assets],
        asset_checks=[*raw_asset_checks],
        resources={
            "paths": StudyPaths(raw_dir=raw_dir, out_dir=out_dir),
            "io_manager": dg.FilesystemIOManager(base_dir=work_dir),
        },
    )


defs = build_definitions(
    raw_dir=os.environ.get("PIPELINE_RAW_DIR", "raw"),
    out_dir=os.environ.get("PIPELINE_OUT_DIR", "outputs"),
    work_dir=os.environ.get("PIPELINE_WORK_DIR", os.path.join(os.environ.get("DAGSTER_HOME", ".work"), "storage")),
)
