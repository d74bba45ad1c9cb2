"""Dagster resources: where the raw exports are read and the outputs written."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr


class StudyPaths(dg.ConfigurableResource):
    """Folders of one study build.

    raw_dir: the site exports (``<raw_dir>/<siteid>/<form>.csv|xlsx``).
    out_dir: the deliverables (``sdtm/``, ``adam/``, ``analysis/``, ``queries/``).
    staged: write a run's outputs into its staging folder beside ``out_dir``, published as one
        unit by the manifest asset (``pipeline/publish.py``); off, assets write ``out_dir`` itself.
    """

    raw_dir: str = "raw"
    out_dir: str = "outputs"
    staged: bool = False
    _stage: Path | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Sensors and schedules have no run and write nothing.
        run = context.run
        if self.staged and run is not None:
            from pipeline.lock import check_unlocked
            from pipeline.publish import open_staging

            check_unlocked(self.published)  # a command-line run of this study is writing
            instance = context.instance

            def is_live(run_id: str) -> bool:  # another run (UI, schedule, sensor) still writing its staging folder
                run = instance.get_run_by_id(run_id) if instance is not None else None
                return run is not None and not run.is_finished

            self._stage = open_staging(self.published, run.run_id, is_live)

    @property
    def raw(self) -> Path:
        return Path(self.raw_dir)

    @property
    def published(self) -> Path:
        """The folder readers use (``--out``)."""
        return Path(self.out_dir)

    @property
    def out(self) -> Path:
        """Where this run writes: its staging folder when staged, else ``out_dir``."""
        return self._stage if self._stage is not None else Path(self.out_dir)

    def publish(self) -> Path:
        """Switch this run's staging folder in as ``out_dir`` (no-op when not staged); returns ``out_dir``."""
        if self._stage is None:
            return self.published
        from pipeline.publish import publish

        publish(self._stage, self.published)
        self._stage = None
        return self.published


class TransferHistory(dg.ConfigurableResource):
    """Where transfers are kept between runs (pipeline/transfers).

    history_dir: the transfer store (pipeline/transfers/snapshot.py); blank: PIPELINE_HISTORY,
        ``$DAGSTER_HOME/history`` or ``.history``. It holds the drops as sent (identifiers
        included): never inside the deliverables.
    responses_dir: returned site listings (``.xlsx``/``.csv`` with ``site_response`` / ``dm_decision``
        filled); blank: PIPELINE_RESPONSES_DIR or ``responses``. Stored with the transfer that reads them.
    """

    history_dir: str = ""
    responses_dir: str = ""

    @property
    def store(self):
        from pipeline.transfers.snapshot import TransferStore, default_history_dir

        return TransferStore(Path(self.history_dir) if self.history_dir else default_history_dir())

    @property
    def responses(self) -> Path:
        from pipeline.transfers.responses import responses_dir

        return Path(self.responses_dir) if self.responses_dir else responses_dir()
