"""What ``python -m pipeline run`` prints when a build ends: a verdict, the problems, the counts.

The first line says success or failure and why. Each problem follows once, in plain words:
where (file and row, or dataset and record), what is wrong (field and value) and what to do.
Then labelled counts: subjects, records per SDTM domain and ADaM dataset, open queries per
site, failed checks, and where the files are. Everything is read from the run's Dagster
events (:class:`pipeline.runner.RunReport`); Dagster's traces are left to ``--verbose``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from rich.console import Console

from pipeline.progress import asset_name

# What the person running the build can do, by the class of the error that stopped a step.
ADVICE = {
    "RawFileError": "Ask the site to correct or re-export this file (or fix it in the drop), then run again.",
    "SpecError": "Correct the spec file named in the message (specs/), then run again.",
    "CTError": "Correct the controlled-terminology file named in the message (specs/ct/), then run again.",
    "XptError": "A value cannot be written to SAS transport: correct the spec's length or type, then run again.",
}
UNEXPECTED = "An unexpected error in the pipeline: run again with --verbose for the trace and report it."
CHECK_ADVICE = {
    "schema": "The dataset does not conform to its spec: correct the derivation or the spec (specs/), then run again.",
    "subjects_accounted_for": "A subject vanished between the raw forms and DM: a pipeline bug; report it.",
    "records_accounted_for": "Raw records were lost between reading and the SDTM layer: a pipeline bug; report it.",
    "returned_listings_read": (
        "Correct the returned listing named in the responses folder, or ask the site to return it again; "
        "the answers that could be read are applied at the next transfer."
    ),
}
MAX_ROWS_SHOWN = 10
# Dagster's own wrapper errors: the cause under them is the problem.
_WRAPPERS = ("DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError")


@dataclass
class Problem:
    """One problem: where it is, what it is, what to do, and up to MAX_ROWS_SHOWN detail lines."""

    where: str
    what: str
    todo: str
    details: list[str] = field(default_factory=list)
    more: int = 0


def _root_error(err: Any) -> Any:
    while err is not None and err.cls_name in _WRAPPERS and err.cause is not None:
        err = err.cause
    return err


def error_text(err: Any) -> str:
    """The error's own message, without Dagster's ``module.Class: `` prefix."""
    msg = (err.message or "").strip()
    head, sep, rest = msg.partition(": ")
    if sep and head.split(".")[-1] == err.cls_name:
        return rest.strip()
    return msg


def _split_where(message: str, fallback: str) -> tuple[str, str]:
    """``101/ae.csv: the file is empty`` -> (``101/ae.csv``, ``the file is empty``)."""
    head, sep, rest = message.partition(": ")
    if sep and ("/" in head or "." in head) and " " not in head.strip():
        return head.strip(), rest.strip()
    return fallback, message


def _cell(v: Any) -> str:
    return "" if v is None else str(v)


def failing_row_lines(table: dg.TableMetadataValue) -> tuple[list[str], int]:
    """Take a check's ``failing rows`` table; return (lines a person reads, rows not shown)."""
    records = list(table.records)
    lines = []
    for r in records[:MAX_ROWS_SHOWN]:
        d = r.data
        subject = ", ".join(
            f"{k} {_cell(d[k])}" for k in d if k not in ("raw file", "raw row", "variable", "value", "rule") and _cell(d[k])
        )
        raw = f"{_cell(d.get('raw file'))} row {_cell(d.get('raw row'))}" if _cell(d.get("raw file")) else ""
        where = "; ".join(x for x in (subject, raw) if x)
        value = d.get("value")
        lines.append(
            f"{where + ': ' if where else ''}{_cell(d.get('variable'))} = {value!r} breaks the rule: {_cell(d.get('rule'))}"
        )
    return lines, max(0, len(records) - MAX_ROWS_SHOWN)


def problem_lines(table: dg.TableMetadataValue) -> tuple[list[str], int]:
    """Take a check's ``problems`` table (a ``message`` column); return (the messages shown, rows not shown)."""
    records = list(table.records)
    return [_cell(r.data.get("message")) for r in records[:MAX_ROWS_SHOWN]], max(0, len(records) - MAX_ROWS_SHOWN)


def _materialization(ev: dg.DagsterEvent) -> dg.AssetMaterialization | None:
    """The asset materialization an event carries; None for any other event."""
    mat = getattr(ev.event_specific_data, "materialization", None) if ev.is_step_materialization else None
    return mat if isinstance(mat, dg.AssetMaterialization) else None


def _count(meta: Mapping[str, dg.MetadataValue], key: str) -> int | None:
    """A numeric metadata entry (``dagster/row_count``) as an integer; None when absent."""
    n = meta.get(key)
    if n is None:
        return None
    if not isinstance(n.value, int | float | str):
        raise TypeError(f"metadata {key!r} is not a number: {n.value!r}")
    return int(n.value)


def problems(events: Iterable[dg.DagsterEvent]) -> list[Problem]:
    """Take a run's events; return each problem once: failed steps, then failed checks."""
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    checks: list[Problem] = []
    for ev in events:
        if ev.is_step_failure:
            err = _root_error(ev.step_failure_data.error)
            if err is None or err.cls_name == "DagsterAssetCheckFailedError":
                continue  # the failed check itself is reported below, with its rows
            where, what = _split_where(error_text(err), asset_name(ev.step_key or ""))
            if (where, what) in seen:
                continue
            seen.add((where, what))
            todo = ADVICE.get(err.cls_name, UNEXPECTED)
            out.append(Problem(where=where, what=what, todo=todo))
        elif isinstance(ce := ev.event_specific_data, dg.AssetCheckEvaluation):
            if ce.passed:
                continue
            meta = ce.metadata
            key = f"{'/'.join(ce.asset_key.path)} check {ce.check_name}"
            n = meta.get("num_failures")
            what = f"{n.value} value(s) fail" if n is not None else "the check failed"
            if "reason" in meta:
                what += f": {meta['reason'].value}"
            p = Problem(
                where=key, what=what, todo=CHECK_ADVICE.get(ce.check_name, "See the check in the UI (make dev) for its details.")
            )
            rows = meta.get("failing rows")
            if isinstance(rows, dg.TableMetadataValue):
                p.details, p.more = failing_row_lines(rows)
            listed = meta.get("problems")  # a table of messages that name file, row, field and value
            if isinstance(listed, dg.TableMetadataValue):
                p.details, p.more = problem_lines(listed)
            checks.append(p)
    return out + checks


def rows_by_asset(events: Iterable[dg.DagsterEvent]) -> dict[str, int | None]:
    """Rows per materialized asset (``sdtm/ae`` -> 216), from ``dagster/row_count``."""
    rows: dict[str, int | None] = {}
    for ev in events:
        if (mat := _materialization(ev)) is not None:
            rows["/".join(mat.asset_key.path)] = _count(mat.metadata, "dagster/row_count")
    return rows


def quarantined_by_asset(events: Iterable[dg.DagsterEvent]) -> dict[str, int]:
    """Records held back per raw form (``quarantined_records`` of its materialization)."""
    out: dict[str, int] = {}
    for ev in events:
        if (mat := _materialization(ev)) is not None and (n := _count(mat.metadata, "quarantined_records")) is not None:
            out["/".join(mat.asset_key.path)] = n
    return out


def materialization_metadata(events: Iterable[dg.DagsterEvent], key: str) -> Mapping[str, Any]:
    """The metadata of asset ``key``'s materialization in the run; empty when it was not materialized."""
    for ev in events:
        mat = _materialization(ev)
        if mat is not None and "/".join(mat.asset_key.path) == key:
            return mat.metadata
    return {}


def headline(success: bool, probs: list[Problem], skipped: list[str], subjects: int | None, out_dir: Path, elapsed: float) -> str:
    """The verdict: ``SUCCESS: ...`` or ``FAILED: ...`` with the reason."""
    if success and not probs:
        who = f"{subjects} subjects" if subjects is not None else "the study"
        return f"SUCCESS: {who} built into {out_dir}/ in {elapsed:.1f} s; no check failed."
    if success:
        return (
            f"SUCCESS with {len(probs)} warning(s): the build finished in {elapsed:.1f} s, but {probs[0].where}: {probs[0].what}."
        )
    first = probs[0] if probs else Problem(where="the run", what="failed without a message", todo=UNEXPECTED)
    rest = f" and {len(probs) - 1} more problem(s)" if len(probs) > 1 else ""
    stopped = f"; {len(skipped)} asset(s) not built" if skipped else ""
    return f"FAILED: {first.where}: {first.what}{rest}{stopped}."


def warning_line(caught: list[Any]) -> str:
    """``3 Python warnings (lifelines ConvergenceWarning 3): run with --verbose to see them``, '' for none."""
    if not caught:
        return ""
    kinds: dict[str, int] = {}
    for w in caught:
        name = f"{w.category.__module__.split('.')[0]} {w.category.__name__}"
        kinds[name] = kinds.get(name, 0) + 1
    detail = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    return f"{len(caught)} Python warning(s) ({detail}): run with --verbose to see them"


def render(
    report: Any,
    raw_dir: Path,
    out_dir: Path,
    work_dir: Path | None,
    elapsed: float,
    console: Console,
    not_built: Iterable[str] = (),
    warnings: Sequence[Any] = (),
) -> None:
    """Print the end-of-run summary of ``report`` (a RunReport) to ``console``; ``not_built``: the
    assets whose step never ran (RunProgress.not_built); ``warnings``: Python warnings the run raised."""
    events = report.events
    probs = problems(events)
    rows = rows_by_asset(events)
    skipped = list(not_built)
    subjects = rows.get("sdtm/dm")
    # A partial or drifted drop, a lock taken over: said first, before the verdict (pipeline.runner notices).
    for note in getattr(report, "notices", []):
        console.print(f"WARNING: {note}", markup=False, highlight=False)
    console.print(headline(report.success, probs, skipped, subjects, out_dir, elapsed), markup=False, highlight=False)

    if probs:
        console.print("\nProblems (each once):", style="bold")
        for i, p in enumerate(probs, 1):
            console.print(f"  {i}. {p.where}: {p.what}", markup=False, highlight=False)
            for line in p.details:
                console.print(f"       - {line}", markup=False, highlight=False)
            if p.more:
                console.print(f"       ... {p.more} more row(s): see the check in the UI", markup=False)
            console.print(f"     What to do: {p.todo}", markup=False, highlight=False)
    if skipped:
        console.print(f"\nNot built because of the problem(s) above: {', '.join(skipped)}", markup=False, highlight=False)

    console.print()
    console.print(f"{'Subjects':<22}{subjects if subjects is not None else 'none (DM not built)'}", markup=False)
    held = quarantined_by_asset(events)
    for layer, title in (("raw", "Raw records passed"), ("sdtm", "SDTM records"), ("adam", "ADaM records")):
        built = {
            k.split("/", 1)[1].upper(): (n, held.get(k, 0))
            for k, n in rows.items()
            if k.startswith(layer + "/") and n is not None
        }
        if built:
            items = [f"{k} {n:,}" + (f" (+{h} held back)" if h else "") for k, (n, h) in sorted(built.items())]
            console.print(_wrap(title, items), markup=False, highlight=False)
    q = materialization_metadata(events, "ops/query_listing")
    if "queries by site" in q:
        by_site = q["queries by site"].value
        total = sum(by_site.values())
        console.print(
            _wrap("Open queries", [f"{total} total"] + [f"site {s} {n}" for s, n in by_site.items()]),
            markup=False,
            highlight=False,
        )
    failed = [p.where for p in probs if " check " in p.where]
    console.print(f"{'Failed checks':<22}{', '.join(failed) if failed else 'none'}", markup=False, highlight=False)
    if warnings:
        console.print(f"{'Warnings':<22}{warning_line(list(warnings))}", markup=False, highlight=False)

    console.print("\nFiles")
    for label, path in file_locations(out_dir, raw_dir, work_dir):
        console.print(f"  {label:<21}{path}", markup=False, highlight=False)


def _wrap(title: str, items: list[str], width: int = 100) -> str:
    """``title`` then the items, comma-separated, wrapped under a 22-column label."""
    lines, line = [], ""
    for item in items:
        nxt = f"{line}, {item}" if line else item
        if len(nxt) > width - 22 and line:
            lines.append(line + ",")
            line = item
        else:
            line = nxt
    lines.append(line)
    return "\n".join(f"{(title if i == 0 else ''):<22}{text}" for i, text in enumerate(lines))


def file_locations(out_dir: Path, raw_dir: Path, work_dir: Path | None) -> list[tuple[str, Path]]:
    """(label, path) of what a build reads and writes, those that exist."""
    places = [
        ("raw exports read", raw_dir),
        ("SDTM", out_dir / "sdtm"),
        ("ADaM", out_dir / "adam"),
        ("results and figures", out_dir / "analysis"),
        ("query listings", out_dir / "queries"),
        ("manifest", out_dir / "manifest.json"),
    ]
    out = [(label, p) for label, p in places if p.exists()]
    if work_dir is not None:
        out.append(("intermediates (work)", work_dir))
    return out


def generation_summary(report: Any, elapsed: float) -> str:
    """``generate``'s labelled summary of a :class:`pipeline.synth.GenerationReport`."""
    arms = ", ".join(f"{k} {v}" for k, v in sorted(report.arm_counts.items()))
    records = ", ".join(f"{k} {v:,}" for k, v in sorted(report.records.items()))
    files = len(report.files)
    lines = [
        f"SUCCESS: generated {report.n_subjects} subjects (seed {report.seed}, scenario {report.scenario}) in {elapsed:.1f} s.",
        "",
        _wrap("Subjects by arm", [arms]),
        _wrap("Raw records by form", list(records.split(", "))),
        f"{'Planted problems':<22}{report.n_problems}",
        f"{'Export files':<22}{files} under {report.out_dir}/",
        f"{'Ground truth':<22}{report.truth_dir}/ (the pipeline never reads it)",
    ]
    return "\n".join(lines)
