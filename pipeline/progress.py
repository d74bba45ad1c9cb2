"""Live progress of ``python -m pipeline run``: steps done per layer, Dagster's own console quiet.

Dagster's console logger prints every failure with its stack trace, once per event that
mentions it (the step failure, then the run failure); a data manager needs neither. A run
from the command line therefore swaps it for a logger that hands each Dagster event to a
:class:`RunProgress`, which shows one bar per layer on a terminal and one line per finished
layer otherwise (a log file, CI). ``--verbose`` keeps Dagster's console logger (warnings,
errors and traces) beside it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import dagster as dg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Layers in the order a build reaches them; a step of no layer (a multi-asset check) is "checks".
LAYERS = ("raw", "sdtm", "adam", "analysis", "tlf", "ops", "submission", "checks")
STEP_EVENTS = ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED", "STEP_UP_FOR_RETRY")


def layer_of(step_key: str) -> str:
    """Take a step key (``sdtm__ae``, ``subjects_accounted_for``); return its layer (LAYERS)."""
    head = step_key.split("__", 1)[0] if "__" in step_key else ""
    return head if head in LAYERS else "checks"


def asset_name(step_key: str) -> str:
    """``sdtm__ae`` -> ``sdtm/ae`` (a step of an asset is named after its key)."""
    return step_key.replace("__", "/")


class RunProgress:
    """Counts the steps of one run per layer from Dagster events and shows them on ``console``."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.total: Counter[str] = Counter()
        self.done: Counter[str] = Counter()
        self.failed: dict[str, list[str]] = {}
        self.not_run: dict[str, list[str]] = {}
        self.started = time.perf_counter()
        self.steps: list[str] = []
        self.finished: set[str] = set()
        self._reported: set[str] = set()
        self._bars: Progress | None = None
        self._tasks: dict[str, Any] = {}

    # -- plan and lifetime
    def plan(self, step_keys: Iterable[str]) -> None:
        """Take every step key of the run (the job's nodes); set the totals per layer."""
        self.steps = list(step_keys)
        self.total = Counter(layer_of(s) for s in self.steps)
        if self.console.is_terminal:
            self._bars = Progress(
                TextColumn("{task.fields[layer]:<11}"),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TextColumn("{task.fields[step]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )
            for layer in LAYERS:
                if self.total[layer]:
                    self._tasks[layer] = self._bars.add_task(layer, total=self.total[layer], layer=layer, step="")
            self._bars.start()

    def close(self) -> None:
        """End of the run: steps that never ran (their inputs failed; Dagster sends no event for
        them) count as not run, and every layer not yet reported gets its line."""
        for step in self.steps:
            if step not in self.finished:
                self.finished.add(step)
                self.not_run.setdefault(layer_of(step), []).append(step)
                self._show(layer_of(step), step="", advance=0)
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
        for layer in LAYERS:
            if self.total[layer]:
                self._maybe_line(layer)

    def not_built(self) -> list[str]:
        """Assets (``sdtm/ae``) whose step did not run because an input failed."""
        return sorted(asset_name(s) for steps in self.not_run.values() for s in steps)

    # -- events
    def __call__(self, event: dg.DagsterEvent) -> None:
        kind = event.event_type_value
        step = event.step_key
        if kind not in STEP_EVENTS or not step:
            return
        layer = layer_of(step)
        if kind not in {"STEP_START", "STEP_UP_FOR_RETRY"}:
            if step in self.finished:
                return
            self.finished.add(step)
        if kind == "STEP_START":
            self._show(layer, step=asset_name(step))
            return
        if kind == "STEP_SUCCESS":
            self.done[layer] += 1
        elif kind == "STEP_FAILURE":
            self.failed.setdefault(layer, []).append(step)
        elif kind == "STEP_SKIPPED":
            self.not_run.setdefault(layer, []).append(step)
        else:  # up for retry: not finished
            return
        self._show(layer, step="", advance=1)
        self._maybe_line(layer)

    def _finished(self, layer: str) -> int:
        return self.done[layer] + len(self.failed.get(layer, [])) + len(self.not_run.get(layer, []))

    def _show(self, layer: str, step: str, advance: int = 0) -> None:
        if self._bars is not None and layer in self._tasks:
            self._bars.update(self._tasks[layer], advance=advance, step=step)

    def _maybe_line(self, layer: str) -> None:
        """Without a terminal: one line when a layer's last step has finished."""
        if self._bars is not None or layer in self._reported or self._finished(layer) < self.total[layer]:
            return
        self._reported.add(layer)
        self.console.print(self.layer_line(layer))

    def layer_line(self, layer: str) -> str:
        """``sdtm        25/25 steps done  (12.3 s)`` or with the failed and not-run counts."""
        parts = [f"{self.done[layer]}/{self.total[layer]} steps done"]
        if self.failed.get(layer):
            parts.append(f"{len(self.failed[layer])} failed")
        if self.not_run.get(layer):
            parts.append(f"{len(self.not_run[layer])} not run")
        mark = "ok" if self.done[layer] == self.total[layer] else "!!"
        return f"{mark} {layer:<11} " + ", ".join(parts) + f"  ({time.perf_counter() - self.started:.1f} s)"


class _EventHandler(logging.Handler):
    def __init__(self, on_event: Callable[[dg.DagsterEvent], None]) -> None:
        super().__init__(level=logging.DEBUG)
        self.on_event = on_event

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event") if isinstance(meta, dict) else None
        if event is None:
            return
        with contextlib.suppress(Exception):  # progress display must never fail a build
            self.on_event(event)


def event_logger(on_event: Callable[[dg.DagsterEvent], None]) -> dg.LoggerDefinition:
    """A Dagster logger that passes every Dagster event (step start, success, failure...) to ``on_event``."""

    def init(_context) -> logging.Logger:
        # a private logger per run: getLogger would share handlers between runs of one process
        log = logging.Logger("pipeline.progress", level=logging.DEBUG)  # noqa: LOG001
        log.addHandler(_EventHandler(on_event))
        return log

    return dg.LoggerDefinition(init, description="hands Dagster events to the command line's progress display")


def console_loggers(
    on_event: Callable[[dg.DagsterEvent], None] | None, verbose: bool = False
) -> tuple[dict[str, dg.LoggerDefinition], dict]:
    """Take an event callback (or None) and --verbose; return (the run's loggers, run config).

    Without a callback: Dagster's console logger at WARNING, as before. With one: the callback
    gets every event and Dagster's console prints nothing below CRITICAL, unless ``verbose``
    (then warnings, errors and their traces).
    """
    loggers: dict[str, dg.LoggerDefinition] = {"console": dg.colored_console_logger}
    if on_event is None:
        return loggers, {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    level = "WARNING" if verbose else "CRITICAL"
    loggers["progress"] = event_logger(on_event)
    return loggers, {"loggers": {"console": {"config": {"log_level": level}}, "progress": {}}}
