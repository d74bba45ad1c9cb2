"""The nightly build the way data managers run it (the UI's "Materialize all", the daemon's schedule)
beside ``make run`` (``python -m pipeline run``, in-process), per executor.

For each study size and executor setting, a fresh DAGSTER_HOME (deploy/dagster.yaml: sqlite,
DefaultRunLauncher, queued runs) and fresh folders; ``dagster-daemon run`` serves the workspace,
``dagster job launch`` queues ``nightly_build`` as the UI does, the daemon dequeues it and the run
launcher starts the run worker, whose executor runs the steps. Printed per setting: wall time from
the moment the run is queued to its end (the daemon
dequeues it, the launcher starts the run worker, the run worker loads the code), the run's own time (RUN_START -> RUN_SUCCESS), the sum of the steps' own
time (STEP_START -> STEP_SUCCESS) and the ratio to ``make run`` on the same study.

Settings (PIPELINE_EXECUTOR, pipeline/ops/executors.py): ``spawn`` = Dagster's multiprocess
executor as it comes (the default before this benchmark: a fresh interpreter per step),
``forkserver`` = multiprocess forking from a preloaded server, ``in_process`` = every step in the
run worker (the default now), ``default`` = PIPELINE_EXECUTOR unset (whatever executors.py picks).

Usage: python benchmarks/executors.py [--sizes embedded 10000] [--settings default spawn forkserver in_process]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SETTINGS = {
    "default": {},
    "spawn": {"PIPELINE_EXECUTOR": "multiprocess", "PIPELINE_START_METHOD": "spawn"},
    "forkserver": {"PIPELINE_EXECUTOR": "multiprocess"},
    "in_process": {"PIPELINE_EXECUTOR": "in_process"},
}


def _study(size: str, tmp: Path) -> Path:
    if size == "embedded":
        return ROOT / "raw"
    raw = tmp / f"raw_{size}"
    if not raw.exists():
        subprocess.run(
            [sys.executable, "-m", "pipeline", "generate", "--subjects", size, "--seed", "20160901", "--out", str(raw)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    return raw


def _env(home: Path, raw: Path, tmp: Path, executor: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "DAGSTER_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        DAGSTER_HOME=str(home),
        PIPELINE_RAW_DIR=str(raw),
        PIPELINE_OUT_DIR=str(tmp / "out"),
        PIPELINE_WORK_DIR=str(tmp / "work"),
    )
    env.update(executor)
    return env


def in_process_cli(raw: Path, tmp: Path) -> float:
    """``make run``: wall time of ``python -m pipeline run`` (process start and imports included)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "DAGSTER_"))}
    env["PYTHONPATH"] = str(ROOT)
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--raw", str(raw), "--out", str(tmp / "out"), "--work", str(tmp / "work")],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t


def through_daemon(raw: Path, tmp: Path, executor: dict[str, str]) -> dict:
    """Queue nightly_build with ``dagster job launch`` while ``dagster-daemon run`` serves the workspace."""
    import dagster as dg

    home = tmp / "home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = _env(home, raw, tmp, executor)
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.from_config(str(home)):
        pass  # the sqlite schema exists before the daemon and the launch both look for it
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        stdout=(tmp / "daemon.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # As in the UI, the daemon is up (code location loaded, coordinator ticking) before the run is queued.
        with dg.DagsterInstance.from_config(str(home)) as instance:
            t_wait = time.time()
            while not instance.get_daemon_heartbeats() and time.time() - t_wait < 600:
                if daemon.poll() is not None:
                    raise RuntimeError(f"dagster-daemon stopped: {(tmp / 'daemon.log').read_text()[-2000:]}")
                time.sleep(0.5)
        t0 = time.time()
        subprocess.run(
            [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", "nightly_build"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        with dg.DagsterInstance.from_config(str(home)) as instance:
            while True:
                if daemon.poll() is not None:
                    raise RuntimeError(f"dagster-daemon stopped: {(tmp / 'daemon.log').read_text()[-2000:]}")
                # the run this launch queued, not one the drop sensor may have started meanwhile
                runs = [r for r in instance.get_runs(limit=10) if "dagster/sensor_name" not in r.tags][:1]
                if runs and runs[0].status in (
                    dg.DagsterRunStatus.SUCCESS,
                    dg.DagsterRunStatus.FAILURE,
                    dg.DagsterRunStatus.CANCELED,
                ):
                    break
                if time.time() - t0 > 3600:
                    raise RuntimeError("run did not finish within an hour")
                time.sleep(0.5)
            run = runs[0]
            stats = instance.get_run_stats(run.run_id)
            queued = instance.get_run_record_by_id(run.run_id).create_timestamp.timestamp()
            starts, steps = {}, 0.0
            for rec in instance.all_logs(run.run_id):
                ev = rec.dagster_event
                if ev is None or ev.step_key is None:
                    continue
                if ev.event_type_value == "STEP_START":
                    starts[ev.step_key] = rec.timestamp
                elif ev.event_type_value == "STEP_SUCCESS" and ev.step_key in starts:
                    steps += rec.timestamp - starts[ev.step_key]
        return {
            "status": run.status.value,
            "wall_s": stats.end_time - queued,
            "cli_s": queued - t0,
            "run_s": stats.end_time - stats.start_time,
            "steps_s": steps,
            "n_steps": len(starts),
        }
    finally:
        os.killpg(daemon.pid, 15)
        daemon.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["embedded"])
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="bench-exec-") as scratch:
        base = Path(scratch)
        for size in args.sizes:
            raw = _study(size, base)
            tmp = base / f"{size}_cli"
            tmp.mkdir()
            cli = in_process_cli(raw, tmp)
            print(f"\n## {size}: make run (python -m pipeline run, in-process) {cli:.1f} s", flush=True)
            print(
                f"{'setting':<12}{'environment':<50}{'status':<9}{'queued->end s':>14}{'run s':>8}{'steps s':>9}{'steps':>7}{'x make run':>11}"
            )
            for name in args.settings:
                tmp = base / f"{size}_{name}"
                tmp.mkdir()
                r = through_daemon(raw, tmp, SETTINGS[name])
                envs = " ".join(f"{k}={v}" for k, v in SETTINGS[name].items()) or "PIPELINE_EXECUTOR unset"
                print(
                    f"{name:<12}{envs:<50}{r['status']:<9}{r['wall_s']:>14.1f}{r['run_s']:>8.1f}{r['steps_s']:>9.1f}"
                    f"{r['n_steps']:>7}{r['wall_s'] / cli:>11.2f}",
                    flush=True,
                )
                shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work on the machine inflates every figure)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
