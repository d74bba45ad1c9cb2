"""Dagster resources: where the raw exports are read and the outputs written."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


class StudyPaths(dg.ConfigurableResource):
    """Folders of one study build.

    raw_dir: the site exports (``<raw_dir>/<siteid>/<form>.csv|xlsx``).
    out_dir: the deliverables (``sdtm/``, ``adam/``, ``analysis/``, ``queries/``).
    """

    raw_dir: str = "raw"
    out_dir: str = "outputs"

    @property
    def raw(self) -> Path:
        return Path(self.raw_dir)

    @property
    def out(self) -> Path:
        return Path(self.out_dir)
