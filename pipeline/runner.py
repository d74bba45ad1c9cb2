"""Materialize every asset of the study in-process (the engine behind ``python -m pipeline run``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from pipeline.background import background_writes


@dataclass
class RunReport:
    success: bool
    materialized: list[tuple[str, int | None]] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # Every Dagster event of the run (pipeline/report.py reads problems and counts from them).
    events: list[dg.DagsterEvent] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        lines = [f"{'asset':<34} rows"]
        lines += [f"{k:<34} {'' if n is None else n}" for k, n in self.materialized]
        if self.failed_checks:
            lines.append("failed checks: " + ", ".join(self.failed_checks))
        if self.failures:
            lines.append("FAILED: " + "; ".join(self.failures))
        lines.append("status: " + ("success" if self.success else "FAILED"))
        return "\n".join(lines)


def execute(job: dg.JobDefinition, instance: dg.DagsterInstance, run_config: dict | None = None) -> dg.ExecuteInProcessResult:
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
            return job.execute_in_process(instance=instance, raise_on_error=False, run_config=run_config)
        # as execute_in_process prepares it: the in-process executor, the job's own resources
        ephemeral = job.as_ephemeral_job(resource_defs={}, input_values={})
        return core_execute_in_process(run_config=run_config or {}, job=InMemoryJob(job_def=ephemeral), instance=instance,
                                       output_capturing_enabled=False, raise_on_error=False)


def default_work_dir() -> Path:
    home = os.environ.get("DAGSTER_HOME")
    return Path(home) / "storage" if home else Path(".work")


def run_study(raw_dir: Path, out_dir: Path, work_dir: Path | None = None,
              progress: Callable[[dg.DagsterEvent], None] | None = None, verbose: bool = False) -> RunReport:
    """Build every asset from ``raw_dir`` into ``out_dir``; return what was materialized.

    ``progress``: called with every Dagster event (pipeline/progress.py); Dagster's console
    then stays quiet unless ``verbose``.
    """
    from pipeline.definitions import build_definitions
    from pipeline.io import sweep_stale_temp
    from pipeline.progress import console_logging

    # A run killed mid-write leaves only hidden temporary files; clear them first.
    sweep_stale_temp(out_dir)

    defs = build_definitions(raw_dir=str(raw_dir), out_dir=str(out_dir), work_dir=str(work_dir or default_work_dir()))
    job = defs.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    # Step-level debug events go to the run's event log (the UI); the console shows warnings only.
    job, log_config = console_logging(job, progress, verbose)
    result = execute(job, instance, log_config)

    report = RunReport(success=result.success, events=list(result.all_events))
    for ev in result.get_asset_materialization_events():
        mat = ev.event_specific_data.materialization
        rows = mat.metadata.get("dagster/row_count")
        report.materialized.append(("/".join(mat.asset_key.path), rows.value if rows is not None else None))
    for ev in result.get_asset_check_evaluations():
        if not ev.passed:
            report.failed_checks.append(f"{'/'.join(ev.asset_key.path)}:{ev.check_name}")
    for ev in result.all_events:
        if ev.is_step_failure:
            # Dagster wraps the asset's exception; the cause holds the message naming file and problem.
            err = ev.event_specific_data.error
            err = err.cause or err
            report.failures.append(f"{ev.step_key}: {err.message.strip()}")
    return report
