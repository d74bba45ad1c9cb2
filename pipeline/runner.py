"""Materialize every asset of the study in-process (the engine behind ``python -m pipeline run``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from pipeline.background import background_writes
from pipeline.transfers import TransferOptions, prepare_run


@dataclass
class RunReport:
    success: bool
    materialized: list[tuple[str, int | None]] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # said first: a partial drop, a lock taken over
    # Every Dagster event of the run (pipeline/report.py reads problems and counts from them).
    events: list[dg.DagsterEvent] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        lines = [f"WARNING: {n}" for n in self.notices]
        lines += [f"{'asset':<34} rows"]
        lines += [f"{k:<34} {'' if n is None else n}" for k, n in self.materialized]
        if self.failed_checks:
            lines.append("failed checks: " + ", ".join(self.failed_checks))
        if self.failures:
            lines.append("FAILED: " + "; ".join(self.failures))
        lines.append("status: " + ("success" if self.success else "FAILED"))
        return "\n".join(lines)


def execute(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    run_config: dict | None = None,
    run_id: str | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run ``job`` in this process without keeping its outputs in memory.

    ``JobDefinition.execute_in_process`` holds a reference to every step's output until the
    run ends (for ``result.output_for_node``; dagster issue #9731), although our IO manager has
    stored each one: at 100,000 subjects that kept ~3 GB of finished datasets alive. The same
    execution with output capture off; the result's events are the same.
    """
    # Work-folder values and Parquet files are written in the background while later steps run.
    with background_writes():
        try:
            from dagster._core.definitions.job_base import InMemoryJob
            from dagster._core.execution.execute_in_process import (
                core_execute_in_process,
            )
        except ImportError:  # a Dagster without this internal entry point: the public one
            return job.execute_in_process(
                instance=instance, raise_on_error=False, run_config=run_config, run_id=run_id, tags=tags
            )
        # as execute_in_process prepares it: the in-process executor, the job's own resources
        ephemeral = job.as_ephemeral_job(resource_defs={}, input_values={})
        return core_execute_in_process(
            run_config=run_config or {},
            job=InMemoryJob(job_def=ephemeral),
            instance=instance,
            output_capturing_enabled=False,
            raise_on_error=False,
            run_tags=tags,
            run_id=run_id,
        )


def default_work_dir() -> Path:
    home = os.environ.get("DAGSTER_HOME")
    return Path(home) / "storage" if home else Path(".work")


class RunRefused(RuntimeError):
    """The run did not start: bad folder layout or another run of the study holds the lock.
    Nothing was written. ``exit_code`` is what the command line returns."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run_study(
    raw_dir: Path,
    out_dir: Path,
    work_dir: Path | None = None,
    progress: Callable[[dg.DagsterEvent], None] | None = None,
    verbose: bool = False,
    transfer: TransferOptions | None = None,
) -> RunReport:
    """Build every asset from ``raw_dir`` into ``out_dir``; return what was materialized.

    ``transfer``: the transfer store, received date and returned listings (pipeline/transfers); the
    drop is run as its transfer partition.

    ``progress``: called with every Dagster event (pipeline/progress.py); Dagster's console
    then stays quiet unless ``verbose``.

    Refuses (RunRefused, before writing anything) a layout ``pipeline.publish.refusal`` rejects
    and a second run while another holds the lock of ``out_dir`` (``pipeline.lock``). The run
    builds in a staging folder that the manifest publishes whole; a failed run's staging
    folder is removed, so ``out_dir`` keeps the previous complete package.
    """
    import uuid

    from pipeline.lock import LockHeld, study_lock
    from pipeline.publish import refusal

    work_dir = Path(work_dir or default_work_dir())
    why = refusal(raw_dir, out_dir, work_dir)
    if why:
        raise RunRefused(why, 2)
    try:
        with study_lock(out_dir) as stale:
            report = _run_locked(raw_dir, out_dir, work_dir, str(uuid.uuid4()), progress, verbose, transfer)
            if stale is not None:
                report.notices.append(f"took over the lock left by a run that ended without releasing it ({stale.describe()})")
            return report
    except LockHeld as e:
        raise RunRefused(str(e), 3) from None


def _run_locked(
    raw_dir: Path,
    out_dir: Path,
    work_dir: Path,
    run_id: str,
    progress: Callable[[dg.DagsterEvent], None] | None = None,
    verbose: bool = False,
    transfer: TransferOptions | None = None,
) -> RunReport:
    from pipeline.definitions import build_definitions
    from pipeline.io import sweep_stale_temp
    from pipeline.ops.automation import STUDY_TAG
    from pipeline.progress import console_logging
    from pipeline.publish import live_staging, remove_stale_staging, staging_dir

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    busy = live_staging(out_dir, lambda rid: (r := instance.get_run_by_id(rid)) is not None and not r.is_finished)
    if busy:  # a run from the UI, the schedule or the sensor is writing this folder
        raise RunRefused(
            f"Dagster run {busy[0]} is writing {out_dir}; this run refused before writing anything: wait for it to finish", 3
        )
    # A run killed mid-write leaves hidden temporary files and its staging folder; clear them first.
    sweep_stale_temp(out_dir)
    remove_stale_staging(out_dir)

    transfer = transfer or TransferOptions()
    history_dir, responses_dir = transfer.resources()
    defs = build_definitions(
        raw_dir=str(raw_dir), out_dir=str(out_dir), work_dir=str(work_dir), history_dir=history_dir, responses_dir=responses_dir
    )
    job = defs.resolve_implicit_global_asset_job_def()
    # Step-level debug events go to the run's event log (the UI); the console shows warnings only.
    job, log_config = console_logging(job, progress, verbose)
    try:
        # The drop runs as its transfer partition (pipeline/transfers).
        tags = {
            **STUDY_TAG,
            "pipeline/trigger": "command_line",
            **prepare_run(instance, raw_dir, transfer.history, transfer.received),
        }
        result = execute(job, instance, log_config, run_id=run_id, tags=tags)
    finally:
        # A failed run published nothing: its half-built package goes (after success it is gone already).
        shutil.rmtree(staging_dir(out_dir, run_id), ignore_errors=True)

    report = RunReport(success=result.success, events=list(result.all_events))
    for ev in result.get_asset_materialization_events():
        mat = ev.event_specific_data.materialization
        rows = mat.metadata.get("dagster/row_count")
        report.materialized.append(("/".join(mat.asset_key.path), rows.value if rows is not None else None))
    drift = []
    for ev in result.get_asset_check_evaluations():
        if not ev.passed:
            report.failed_checks.append(f"{'/'.join(ev.asset_key.path)}:{ev.check_name}")
            if ev.check_name == "drop_as_agreed":  # a partial drop or drifted files: said in the first lines
                note = ev.metadata.get("summary")
                drift.append(f"drop not as agreed ({'/'.join(ev.asset_key.path)}): {note.value if note else ''}")
    report.notices += sorted(drift)
    for ev in result.all_events:
        if ev.is_step_failure:
            # Dagster wraps the asset's exception; the cause holds the message naming file and problem.
            err = ev.event_specific_data.error
            err = err.cause or err
            report.failures.append(f"{ev.step_key}: {err.message.strip()}")
    return report
