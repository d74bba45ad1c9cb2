"""Command line: ``python -m pipeline run`` and ``python -m pipeline generate``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _cmd_run(args: argparse.Namespace) -> int:
    from pipeline.runner import RunRefused, run_study

    raw, out = Path(args.raw), Path(args.out)
    started = time.perf_counter()
    try:
        report = run_study(raw, out, work_dir=Path(args.work) if args.work else None)
    except RunRefused as e:  # bad folder layout (2) or another run holds the lock (3); nothing written
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(report.summary())
    print(f"elapsed: {time.perf_counter() - started:.1f} s")
    return 0 if report.success else 1


def _cmd_generate(args: argparse.Namespace) -> int:
    # The generator is a separate module: the pipeline's assets never import it.
    from pipeline.synth import generate_study

    started = time.perf_counter()
    report = generate_study(
        n_subjects=args.subjects,
        seed=args.seed,
        out_dir=Path(args.out),
        truth_dir=Path(args.truth) if args.truth else None,
    )
    print(report)
    print(f"elapsed: {time.perf_counter() - started:.1f} s")
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
    run.set_defaults(func=_cmd_run)

    gen = sub.add_parser("generate", help="write a synthetic export set with its ground truth")
    gen.add_argument("--subjects", type=int, default=154)
    gen.add_argument("--seed", type=int, default=20160901)
    gen.add_argument("--out", default="raw")
    gen.add_argument("--truth", default=None, help="ground-truth folder (default: <out>_truth)")
    gen.set_defaults(func=_cmd_generate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
