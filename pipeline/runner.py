"""Materialize every asset of the study in-process (the engine behind ``python -m pipeline run``)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

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


RUN_JOB = "study_run"
# Runs of ``execute`` in progress, by key: their event callback (or None) and, once built, their
# job. A reconstructable job carries only JSON arguments; the in-process executor rebuilds it in
# this same process (Dagster asks for it four times per run), so the reconstructor finds the
# callback here and builds the definitions once per run.
_CALLBACKS: dict[str, Callable[[dg.DagsterEvent], None] | None] = {}
_JOBS: dict[str, dg.JobDefinition] = {}


def study_job(
    raw_dir: str,
    out_dir: str,
    work_dir: str,
    run: str | None = None,
    verbose: bool = False,
    history_dir: str = "",
    responses_dir: str = "",
) -> dg.JobDefinition:
    """Take the folders (as ``build_definitions``), the key of a run of ``execute`` (or None) and
    --verbose; return the job of every asset and check, on the in-process executor, with the
    console and progress loggers (``pipeline.progress.console_loggers``). The reconstructor of
    ``study_run``; the run's callback gets the step keys first (its ``plan`` method, if any)."""
    if run is not None and run in _JOBS:
        return _JOBS[run]
    from pipeline.definitions import build_definitions
    from pipeline.progress import console_loggers

    callback = _CALLBACKS.get(run) if run is not None else None
    defs = build_definitions(
        raw_dir=raw_dir, out_dir=out_dir, work_dir=work_dir, history_dir=history_dir, responses_dir=responses_dir
    )
    loggers, _ = console_loggers(callback, verbose)
    job = dg.define_asset_job(RUN_JOB, selection=dg.AssetSelection.all(), executor_def=dg.in_process_executor)
    built = dg.Definitions.merge(defs, dg.Definitions(jobs=[job], loggers=loggers)).resolve_job_def(RUN_JOB)
    plan = getattr(callback, "plan", None)
    if plan is not None:
        plan([n.name for n in built.graph.nodes])
    if run is not None and run in _CALLBACKS:
        _JOBS[run] = built
    return built


def execute(
    raw_dir: Path | str,
    out_dir: Path | str,
    work_dir: Path | str,
    instance: dg.DagsterInstance,
    progress: Callable[[dg.DagsterEvent], None] | None = None,
    verbose: bool = False,
    tags: dict[str, str] | None = None,
    asset_selection: Sequence[dg.AssetKey] | None = None,
    history_dir: str = "",
    responses_dir: str = "",
) -> dg.ExecutionResult:
    """Run every asset of the study in this process without keeping its outputs in memory.

    ``JobDefinition.execute_in_process`` holds a reference to every step's output until the
    run ends (for ``result.output_for_node``; dagster issue #9731), although the IO manager has
    stored each one: at 100,000 subjects that kept ~3 GB of finished datasets alive.
    ``dagster.execute_job`` of a reconstructable job keeps only the events. ``progress`` gets
    every event (its ``plan`` method, if any, the step keys first); ``asset_selection``: only
    these assets (and their checks). The result's run id names the run's staging folder.
    """
    from pipeline.progress import console_loggers

    key = uuid.uuid4().hex
    kwargs = {"raw_dir": str(raw_dir), "out_dir": str(out_dir), "work_dir": str(work_dir), "run": key, "verbose": verbose}
    kwargs |= {"history_dir": history_dir, "responses_dir": responses_dir}
    _CALLBACKS[key] = progress
    try:
        job = dg.build_reconstructable_job("pipeline.runner", "study_job", reconstructable_kwargs=kwargs)
        _, run_config = console_loggers(progress, verbose)
        return dg.execute_job(
            job, instance=instance, run_config=run_config, tags=tags, raise_on_error=False, asset_selection=asset_selection
        )
    finally:
        _CALLBACKS.pop(key, None)
        _JOBS.pop(key, None)


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
    from pipeline.lock import LockHeld, study_lock
    from pipeline.publish import refusal

    work_dir = Path(work_dir or default_work_dir())
    why = refusal(raw_dir, out_dir, work_dir)
    if why:
        raise RunRefused(why, 2)
    try:
        with study_lock(out_dir) as stale:
            report = _run_locked(raw_dir, out_dir, work_dir, progress, verbose, transfer)
            if stale is not None:
                report.notices.append(f"took over the lock left by a run that ended without releasing it ({stale.describe()})")
            return report
    except LockHeld as e:
        raise RunRefused(str(e), 3) from None


def _run_locked(
    raw_dir: Path,
    out_dir: Path,
    work_dir: Path,
    progress: Callable[[dg.DagsterEvent], None] | None = None,
    verbose: bool = False,
    transfer: TransferOptions | None = None,
) -> RunReport:
    from pipeline.io import sweep_stale_temp
    from pipeline.ops.automation import STUDY_TAG
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
    # The drop runs as its transfer partition (pipeline/transfers).
    tags = {
        **STUDY_TAG,
        "pipeline/trigger": "command_line",
        **prepare_run(instance, raw_dir, transfer.history, transfer.received),
    }
    result = execute(
        raw_dir, out_dir, work_dir, instance, progress, verbose, tags=tags, history_dir=history_dir, responses_dir=responses_dir
    )
    # A failed run published nothing: its half-built package goes (after success it is gone already;
    # an interrupted run's is removed by the next run, remove_stale_staging).
    shutil.rmtree(staging_dir(out_dir, result.run_id), ignore_errors=True)

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
