"""Transfers (issue #17): every export drop kept, compared with the previous one, queries carried across.

``snapshot`` (the transfer store and ids), ``delta`` (new / changed / deleted records and the
queries of what disappeared), ``register`` and ``responses`` (the query lifecycle), ``metrics``
(site numbers per transfer), ``assets`` (the Dagster partitions and assets).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

PARTITIONS_NAME = "transfers"
# One partition per export drop: ``T<YYYYMMDD>-<digest10>`` (pipeline/transfers/snapshot.py).
PARTITIONS = dg.DynamicPartitionsDefinition(name=PARTITIONS_NAME)


def prepare_run(instance, raw_dir: Path, history_dir: Path | None = None, received: dt.date | None = None) -> dict[str, str]:
    """Take the Dagster instance, the raw folder, the store folder and the received date; register the
    drop's transfer as a dynamic partition and return the run tags that select it (its partition and
    the drop digest)."""
    from pipeline.ops.automation import DIGEST_TAG
    from pipeline.transfers.snapshot import TransferStore, default_history_dir, identify

    store = TransferStore(Path(history_dir) if history_dir else default_history_dir())
    tid, digest = identify(Path(raw_dir), store, received)
    if not instance.has_dynamic_partition(PARTITIONS_NAME, tid):
        instance.add_dynamic_partitions(PARTITIONS_NAME, [tid])
    return {"dagster/partition": tid, DIGEST_TAG: digest}


@dataclass(frozen=True)
class TransferOptions:
    """The transfer options of ``python -m pipeline run``: store folder, received date, returned listings."""

    history: Path | None = None
    received: dt.date | None = None
    responses: Path | None = None

    def resources(self) -> tuple[str, str]:
        """The ``history_dir`` and ``responses_dir`` arguments of ``build_definitions`` ('' for a default)."""
        return str(self.history or ""), str(self.responses or "")


def restore_transfer(history_dir: Path | None, tid: str, work_dir: Path) -> Path:
    """Take the store folder, a stored transfer id and the work folder; write the transfer's files
    into ``<work_dir>/transfers/<id>/raw`` (the drop as the sites sent it) and return that folder."""
    from pipeline.transfers.snapshot import TransferStore, default_history_dir

    store = TransferStore(Path(history_dir) if history_dir else default_history_dir())
    dest = Path(work_dir) / "transfers" / tid / "raw"
    store.restore(tid, dest)
    return dest
