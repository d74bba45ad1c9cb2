"""Command line: ``python -m pipeline run`` and ``python -m pipeline generate``."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path


def _cmd_run(args: argparse.Namespace) -> int:
    from pipeline import report as summary
    from pipeline.progress import RunProgress
    from pipeline.runner import RunRefused, default_work_dir, run_study

    raw, out = Path(args.raw), Path(args.out)
    transfer = _transfer_options(args)
    if args.transfer:  # rebuild a stored transfer from the store, not from --raw
        from pipeline.transfers import restore_transfer
        from pipeline.transfers.snapshot import StoreError

        try:
            raw = restore_transfer(transfer.history, args.transfer, Path(args.work) if args.work else default_work_dir())
        except StoreError as e:
            print(f"FAILED: {e}", file=sys.stderr)
            return 2
    if not raw.is_dir():
        print(f"FAILED: the raw export folder {raw} does not exist. Pass the folder of site exports with --raw.", file=sys.stderr)
        return 2
    _instance_config_note()
    started = time.perf_counter()
    work = Path(args.work) if args.work else None
    progress = RunProgress()
    # The project's own warning filters (pipeline/__init__.py) still apply; what passes them is counted.
    with warnings.catch_warnings(record=not args.verbose) as caught:
        try:
            report = run_study(raw, out, work_dir=work, progress=progress, verbose=args.verbose, transfer=transfer)
        except RunRefused as e:  # bad folder layout (2) or another run holds the lock (3); nothing written
            print(f"error: {e}", file=sys.stderr)
            return e.exit_code
        progress.close()
    summary.render(
        report,
        raw,
        out,
        work or default_work_dir(),
        time.perf_counter() - started,
        _console(),
        not_built=progress.not_built(),
        warnings=[w for w in caught or [] if not issubclass(w.category, DeprecationWarning)],
    )
    return 0 if report.success else 1


def _transfer_options(args: argparse.Namespace):
    """The transfer options of ``run`` (pipeline/transfers): --history, --received, --responses."""
    import datetime as dt

    from pipeline.transfers import TransferOptions

    received = dt.date.fromisoformat(args.received) if args.received else None
    return TransferOptions(
        history=Path(args.history) if args.history else None,
        received=received,
        responses=Path(args.responses) if args.responses else None,
    )


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _instance_config_note() -> None:
    """DAGSTER_HOME without a dagster.yaml: copy the project's (telemetry off), say so once.

    Dagster would otherwise print its telemetry banner in the middle of the run.
    """
    import os
    import shutil

    home = os.environ.get("DAGSTER_HOME")
    template = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"
    if not home or (Path(home) / "dagster.yaml").exists() or not template.is_file():
        return
    Path(home).mkdir(parents=True, exist_ok=True)
    shutil.copy(template, Path(home) / "dagster.yaml")
    print(f"note: {home} had no dagster.yaml; copied deploy/dagster.yaml there (telemetry off).", file=sys.stderr)


def _cmd_generate(args: argparse.Namespace) -> int:
    # The generator is a separate module: the pipeline's assets never import it.
    from pipeline.synth import generate_study

    started = time.perf_counter()
    if args.transfers:
        return _generate_transfers(args, started)
    report = generate_study(
        n_subjects=args.subjects,
        seed=args.seed,
        out_dir=Path(args.out),
        truth_dir=Path(args.truth) if args.truth else None,
    )
    from pipeline.report import generation_summary

    print(generation_summary(report, time.perf_counter() - started))
    return 0


def _generate_transfers(args: argparse.Namespace, started: float) -> int:
    from pipeline.synth.transfers import TRUTH_FILE, generate_transfers

    out = Path(args.out)
    truth = Path(args.truth) if args.truth else out.parent / (out.name + "_truth")
    doc = generate_transfers(args.subjects, args.seed, out, args.transfers, truth)
    print(
        f"SUCCESS: generated {args.transfers} transfer(s) of {args.subjects} subjects (seed {args.seed}) in {time.perf_counter() - started:.1f} s."
    )
    for t in doc["transfers"]:
        extra = f", returned listings in {out / t['responses']}" if t["responses"] else ""
        print(f"  {out / t['transfer']}  received {t['received']}, {len(t['delta'])} delta row(s){extra}")
        for line in t["script"]:
            print(f"      {line}")
    print(f"Expected deltas and register: {truth / TRUTH_FILE} (the pipeline never reads it)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="materialize every asset for one export drop")
    run.add_argument("--raw", default="raw", help="folder of site exports (default: raw)")
    run.add_argument("--out", default="outputs", help="folder for the deliverables (default: outputs)")
    run.add_argument(
        "--work",
        default=None,
        help="folder for intermediate asset values (default: $DAGSTER_HOME/storage or .work)",
    )
    run.add_argument("--verbose", action="store_true", help="also print Dagster's warnings, errors and their stack traces")
    run.add_argument(
        "--history",
        default=None,
        help="transfer store: every drop, its snapshot and query register (default: $PIPELINE_HISTORY, "
        "$DAGSTER_HOME/history or .history)",
    )
    run.add_argument(
        "--received",
        default=None,
        help="the date the drop was received, YYYY-MM-DD (default: the stored date of the same drop, else today UTC)",
    )
    run.add_argument(
        "--responses",
        default=None,
        help="folder of returned site listings (.xlsx/.csv; default: $PIPELINE_RESPONSES_DIR or responses), read with the drop",
    )
    run.add_argument(
        "--transfer", default=None, metavar="ID", help="rebuild stored transfer ID from the store (instead of --raw)"
    )
    run.set_defaults(func=_cmd_run)

    gen = sub.add_parser("generate", help="write a synthetic export set with its ground truth")
    gen.add_argument("--subjects", type=int, default=154)
    gen.add_argument("--seed", type=int, default=20160901)
    gen.add_argument("--out", default="raw")
    gen.add_argument("--truth", default=None, help="ground-truth folder (default: <out>_truth)")
    gen.add_argument(
        "--transfers",
        type=int,
        default=0,
        metavar="K",
        help="write K successive drops <out>/transfer_1..K with scripted corrections, deletions and site responses "
        "(<out>/responses_k), and the expected deltas and query register in <truth>/transfers.json",
    )
    gen.set_defaults(func=_cmd_generate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
