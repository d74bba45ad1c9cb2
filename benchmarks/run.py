"""Speed and memory of the whole pipeline on synthetic studies (``make bench``).

For each size the script generates a study with the project's generator (in its own
process), then runs every asset in-process in a fresh process and prints per asset: wall
time, peak RSS while the asset ran, rows in and out; the total (definitions + run, after
imports), the process's peak RSS, where the time went (pandera, IO manager, XPT, Dataset-JSON,
define.xml), and two floors measured in the same process right after the run:
  * read+write floor: read every raw file (the project's reader, no validation) and write the
    final Parquet frames again with no transformation;
  * XPT floor: a bare ``pyreadstat.write_xport`` of the frames the XPT stage writes.

Sizes: ``embedded`` is the 154-subject study in ``raw/`` (no generation); a number is a
study of that many subjects generated with ``--seed``.

Usage: python benchmarks/run.py [--sizes embedded 1000 10000 100000] [--data DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {
    "total_100k_s": 120.0,
    "rss_100k_mb": 4096.0,
    "ratio_10k_100k": 11.0,
    "embedded_s": 10.0,
    "pandera_share": 0.25,
    "xpt_vs_floor": 1.5,
}


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler(threading.Thread):
    """Samples this process's RSS every 20 ms; ``peak_between(t0, t1)`` gives the peak in a window."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.time(), _rss_mb()))
            time.sleep(0.02)

    def peak_between(self, t0: float, t1: float) -> float:
        vals = [r for t, r in self.samples if t0 <= t <= t1]
        if not vals:  # a step shorter than the sampling interval: the first sample after it started
            vals = [r for t, r in self.samples if t >= t0][:1] or [self.samples[-1][1]]
        return max(vals)


class Timers:
    """Cumulative wall time of named functions (``stage -> seconds``), patched in by :meth:`wrap`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, stage: str, owner: object, attr: str) -> None:
        """Time ``owner.attr`` and every module attribute bound to the same function object
        (``from x import f`` copies the name; the callers look it up when they run)."""
        fn = getattr(owner, attr)

        @functools.wraps(fn)
        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds[stage] += time.perf_counter() - t
                self.calls[stage] += 1

        setattr(owner, attr, timed)
        for mod in list(sys.modules.values()):
            if getattr(mod, "__name__", "").startswith("pipeline"):
                for name, val in list(vars(mod).items()):
                    if val is fn:
                        setattr(mod, name, timed)


def _instrument() -> Timers:
    """Patch timers around the stages the targets talk about (after every pipeline module is imported)."""
    import pipeline.definitions
    import pipeline.schemas
    import pipeline.submission.package as pkg

    t = Timers()
    t.wrap("pandera", pipeline.schemas, "validate_frame")
    t.wrap("xpt check", pkg, "check_for_xpt")
    t.wrap("xpt write", pkg, "write_xpt")
    t.wrap("dataset-json", pkg, "write_dataset_json")
    t.wrap("define", pkg, "write_define")
    # The work-folder IO manager (pipeline/storage.py): writes each output, reads each input.
    from pipeline import storage

    P = getattr(storage, "WorkFolderIOManager", None) or storage.PartsPickleIOManager  # the IO manager before

    t.wrap("io load", P, "load_from_path")
    t.wrap("io store", P, "dump_to_path")
    return t


def _rows_in_raw(work: Path, form: str) -> int | None:
    from pipeline.storage import read_value

    p = work / "raw" / form
    if not p.exists():
        return None
    return int(read_value(p, ["counts"]).counts["rows_read"].sum())


def run_one(raw: Path, tmp: Path, label: str) -> dict:
    """Run every asset on ``raw`` in this process (outputs under ``tmp``); return the figures."""
    t_imp = time.perf_counter()
    import dagster as dg

    timers = _instrument()
    from pipeline.definitions import build_definitions

    imports_s = time.perf_counter() - t_imp

    # The definitions once more, outside the timed run, for the asset graph read below.
    t = time.perf_counter()
    defs = build_definitions(raw_dir=str(raw), out_dir=str(tmp / "out"), work_dir=str(tmp / "work"))
    defs_s = time.perf_counter() - t
    instance = dg.DagsterInstance.ephemeral()
    sampler = RssSampler()
    sampler.start()
    t = time.perf_counter()
    cpu0 = _cpu_s()
    # As python -m pipeline run does (dagster.execute_job: outputs not held in memory); the run
    # builds its own definitions, counted in the total. BENCH_SKIP_GROUPS: leave out those groups
    # and everything downstream of them (the same selection at both commits of a comparison).
    skip = [g for g in os.environ.get("BENCH_SKIP_GROUPS", "").split(",") if g]
    keys = None
    if skip:
        sel = dg.AssetSelection.all() - dg.AssetSelection.groups(*skip).downstream()
        keys = sorted(sel.resolve(defs.resolve_asset_graph()), key=lambda k: k.to_user_string())
    result = _execute(defs, raw, tmp, instance, keys)
    total_s = time.perf_counter() - t
    cpu_s = _cpu_s() - cpu0
    sampler.stop.set()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    starts, ends, rows, failures = {}, {}, {}, []
    failed_checks = [f"{'/'.join(e.asset_key.path)}:{e.check_name}" for e in result.get_asset_check_evaluations() if not e.passed]
    for rec in instance.all_logs(result.run_id):
        ev = rec.dagster_event
        if ev is None or ev.step_key is None:
            continue
        if ev.event_type_value == "STEP_START":
            starts[ev.step_key] = rec.timestamp
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            ends[ev.step_key] = rec.timestamp
            if ev.event_type_value == "STEP_FAILURE":
                failures.append(f"{ev.step_key}: {ev.event_specific_data.error.message.strip()[:300]}")
        elif ev.event_type_value == "ASSET_MATERIALIZATION":
            md = ev.event_specific_data.materialization.metadata
            rc = md.get("dagster/row_count")
            if rc is None and "rows" in md and isinstance(md["rows"].value, dict):  # submission packages
                rc = dg.MetadataValue.int(sum(md["rows"].value.values()))
            rows[ev.step_key] = rc.value if rc is not None else None
    graph = defs.resolve_asset_graph()
    steps = []
    for key in sorted(starts, key=lambda k: starts[k]):
        akey = dg.AssetKey(key.split("__"))
        is_asset = graph.has(akey)
        if is_asset and akey.path[0] == "raw":
            rows_in = _rows_in_raw(tmp / "work", akey.path[1])  # records read from the site files
        elif is_asset:
            rows_in = sum((rows.get("__".join(u.path)) or 0) for u in graph.get(akey).parent_keys)
        else:
            rows_in = None  # an asset check step
        end = ends.get(key, starts[key])
        steps.append(
            {
                "asset": "/".join(akey.path) + ("" if is_asset else " (check)"),
                "seconds": end - starts[key],
                "peak_rss_mb": sampler.peak_between(starts[key], end),
                "rows_in": rows_in,
                "rows_out": rows.get(key),
            }
        )
    stages = {k: round(v, 3) for k, v in timers.seconds.items()}
    return {
        "label": label,
        "imports_s": imports_s,
        "definitions_s": defs_s,
        "total_s": total_s,
        "cpu_s": cpu_s,
        "success": result.success,
        "failures": failures,
        "failed_checks": failed_checks,
        "peak_rss_mb": peak,
        "steps": steps,
        "stages": stages,
        "floors": {} if os.environ.get("BENCH_NO_FLOORS") else floors(raw, tmp),
    }


def floors(raw: Path, tmp: Path) -> dict:
    """Read every raw file without validation and rewrite the final Parquet files; bare XPT write.

    Only the reading of the raw files, the Parquet writes and the ``write_xport`` calls are
    timed; loading the final frames and turning them into XPT-ready frames is not.
    """
    import pandas as pd
    import pyreadstat

    from pipeline.raw.reader import form_path, read_form_file
    from pipeline.specs.datasets import load_dataset_spec
    from pipeline.specs.raw import load_raw_spec
    from pipeline.submission import xpt_fast
    from pipeline.submission.common import object_text, submission_frame

    spec = load_raw_spec()
    t = time.perf_counter()
    for site in spec.sites.values():
        for form in spec.forms.values():
            p = form_path(raw, site, form)
            if p.exists():
                read_form_file(p, site, form)
    read_s = time.perf_counter() - t
    out = tmp / "out"
    frames = {p: pd.read_parquet(p) for p in sorted(out.glob("*/*.parquet"))}
    t = time.perf_counter()
    for df in frames.values():
        df.to_parquet(tmp / "floor.parquet", index=False, compression="zstd")
    write_s = time.perf_counter() - t
    # The XPT stage writes the delivered datasets of sdtm/ and adam/: the same frames, as XPT holds them
    # (text as object columns for pyreadstat, which reads a value at a time; Arrow text for xpt_fast).
    xframes = []
    for p, df in frames.items():
        if p.parent.name in ("sdtm", "adam") and (p.parent / f"{p.stem}.xpt").exists():
            spec = load_dataset_spec(p.parent.name, p.stem)
            meta = {
                "file_label": spec.label,
                "column_labels": [v.label for v in spec.variables],
                "table_name": spec.name,
                "variable_format": {v.name: v.format for v in spec.variables if v.format},
            }
            frame = submission_frame(df, spec)
            xframes.append((spec.name, frame, object_text(frame), meta))
    xpt_s = fast_s = 0.0
    same = covered_n = 0
    for _name, df, obj, meta in xframes:
        t = time.perf_counter()
        pyreadstat.write_xport(obj, str(tmp / "floor.xpt"), file_format_version=5, **meta)
        xpt_s += time.perf_counter() - t
        # The pipeline's writer on the same frame: its bytes must be pyreadstat's (header stamps aside).
        t = time.perf_counter()
        covered = xpt_fast.write_xport(df, tmp / "fast.xpt", **meta)
        fast_s += time.perf_counter() - t
        covered_n += bool(covered)
        same += bool(covered) and _unstamped(tmp / "fast.xpt") == _unstamped(tmp / "floor.xpt")
    return {
        "read_raw_s": read_s,
        "write_parquet_s": write_s,
        "read_write_s": read_s + write_s,
        "xpt_s": xpt_s,
        "xpt_datasets": len(xframes),
        "xpt_fast_s": fast_s,
        "xpt_fast_identical": same,
        "xpt_fast_covered": covered_n,
    }


def _unstamped(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    for off in (144, 160, 464, 480):  # the four header time stamps (wall clock of each write)
        data[off : off + 16] = b"X" * 16
    return bytes(data)


def _execute(defs, raw: Path, tmp: Path, instance, keys):
    """Run the study (only ``keys`` when given) as the command line does, at this commit's runner."""
    import dagster as dg

    from pipeline import runner

    if hasattr(runner, "study_job"):  # dagster.execute_job of a reconstructable job
        return runner.execute(raw, tmp / "out", tmp / "work", instance, asset_selection=keys)
    job = defs.resolve_implicit_global_asset_job_def()  # the runner before: core_execute_in_process
    if keys is not None:
        job = dg.Definitions.merge(defs, dg.Definitions(jobs=[dg.define_asset_job("bench", selection=keys)])).resolve_job_def(
            "bench"
        )
    return runner.execute(job, instance, {"loggers": {"console": {"config": {"log_level": "WARNING"}}}})


def _cpu_s() -> float:
    """User + system CPU seconds of this process (all its threads) and its finished children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def print_report(r: dict, top: int | None = None) -> None:
    ok = "success" if r["success"] else "FAILED"
    gen = f", generation {r['generate_s']:.1f} s" if r.get("generate_s") is not None else ""
    print(
        f"\n## {r['label']} — total {r['total_s']:.1f} s (definitions {r['definitions_s']:.1f} s, imports "
        f"{r['imports_s']:.1f} s not counted), CPU {r.get('cpu_s', 0):.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB{gen}, {ok}"
    )
    for x in r["failures"]:
        print(f"  FAILED step {x}")
    if r["failed_checks"]:
        print(f"  failed checks: {', '.join(r['failed_checks'])}")
    steps = sorted(r["steps"], key=lambda s: -s["seconds"])[:top] if top else r["steps"]
    print(f"{'asset':<36}{'seconds':>9}{'peak MB':>9}{'rows in':>11}{'rows out':>11}")
    for s in steps:
        ri = "" if s["rows_in"] is None else s["rows_in"]
        ro = "" if s["rows_out"] is None else s["rows_out"]
        print(f"{s['asset']:<36}{s['seconds']:>9.2f}{s['peak_rss_mb']:>9.0f}{ri:>11}{ro:>11}")
    steps_s = sum(s["seconds"] for s in r["steps"])
    print(f"{'sum of steps':<36}{steps_s:>9.2f}   (total - steps = Dagster run overhead {r['total_s'] - steps_s:.1f} s)")
    st = r["stages"]
    share = st.get("pandera", 0) / r["total_s"] if r["total_s"] else 0
    print("stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(st.items())) + f"; pandera {share:.0%} of total")
    f = r["floors"]
    if not f:  # BENCH_NO_FLOORS=1: a quick look at the pipeline alone
        return
    xpt = st.get("xpt check", 0) + st.get("xpt write", 0)
    print(
        f"floor: read raw {f['read_raw_s']:.2f} s + write final Parquet {f['write_parquet_s']:.2f} s = {f['read_write_s']:.2f} s; "
        f"bare pyreadstat XPT {f['xpt_s']:.2f} s ({f['xpt_datasets']} datasets) vs XPT stage {xpt:.2f} s "
        f"(check {st.get('xpt check', 0):.2f} + write {st.get('xpt write', 0):.2f}) = x{xpt / f['xpt_s'] if f['xpt_s'] else float('nan'):.2f}"
    )
    print(
        f"pipeline XPT writer (xpt_fast) on the same frames: {f['xpt_fast_s']:.2f} s, bytes identical to pyreadstat's "
        f"for {f['xpt_fast_identical']} of {f['xpt_fast_covered']} datasets it wrote "
        f"({f['xpt_datasets'] - f['xpt_fast_covered']} empty, left to pyreadstat)"
    )


def print_targets(results: list[dict]) -> None:
    by = {r["label"]: r for r in results}
    print("\n## targets")

    def line(name: str, value: float | None, limit: float, fmt: str) -> None:
        if value is None:
            print(f"  {name}: not measured")
        else:
            print(f"  {name}: {fmt.format(value)} (target <= {fmt.format(limit)}) {'met' if value <= limit else 'NOT MET'}")

    big, mid, emb = by.get("100,000 subjects"), by.get("10,000 subjects"), by.get("embedded (154 subjects)")
    line("100,000 subjects end to end", big and big["total_s"], TARGETS["total_100k_s"], "{:.1f} s")
    line("100,000 subjects peak RSS", big and big["peak_rss_mb"], TARGETS["rss_100k_mb"], "{:.0f} MB")
    line("time ratio 100,000 / 10,000", big and mid and big["total_s"] / mid["total_s"], TARGETS["ratio_10k_100k"], "{:.2f}")
    line("embedded study end to end after imports", emb and emb["total_s"], TARGETS["embedded_s"], "{:.1f} s")
    for r in results:
        line(f"pandera share, {r['label']}", r["stages"].get("pandera", 0) / r["total_s"], TARGETS["pandera_share"], "{:.2f}")
        xpt = r["stages"].get("xpt check", 0) + r["stages"].get("xpt write", 0)
        if r["floors"].get("xpt_s"):
            line(f"XPT stage / bare pyreadstat, {r['label']}", xpt / r["floors"]["xpt_s"], TARGETS["xpt_vs_floor"], "{:.2f}")


def _child(args: list[str], env: dict[str, str] | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--sizes",
        nargs="+",
        default=["embedded", "1000", "10000", "100000"],
        help="'embedded' (raw/, 154 subjects) and/or numbers of subjects",
    )
    ap.add_argument("--seed", type=int, default=20160901)
    ap.add_argument("--data", type=Path, help="keep generated studies here and reuse them (default: a temporary folder)")
    ap.add_argument("--top", type=int, default=0, help="show only the N slowest steps per size")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument(
        "--core",
        action="store_true",
        help="also run the optional CDISC CORE conformance check (an external engine; off by default: PIPELINE_CORE=0)",
    )
    ap.add_argument("--generate", nargs=2, metavar=("N", "DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--run", nargs=3, metavar=("RAW", "TMP", "LABEL"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.generate:  # child: generate one study
        from pipeline.synth import generate_study

        n, d = int(args.generate[0]), Path(args.generate[1])
        t = time.perf_counter()
        generate_study(n_subjects=n, seed=args.seed, out_dir=d / "raw", truth_dir=d / "truth")
        print(json.dumps({"generate_s": time.perf_counter() - t}))
        return 0
    if args.run:  # child: run the pipeline on one study
        print(json.dumps(run_one(Path(args.run[0]), Path(args.run[1]), args.run[2])))
        return 0

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB RAM, "
        f"{platform.processor() or platform.platform()}, Python {platform.python_version()}"
    )
    if not args.core:
        print("the optional CDISC CORE conformance check is off (PIPELINE_CORE=0; --core runs it)")
    results = []
    base = args.data or Path(tempfile.mkdtemp(prefix="bench_"))
    try:
        for size in args.sizes:
            gen_s = None
            if size == "embedded":
                raw, label = ROOT / "raw", "embedded (154 subjects)"
                tmp = base / "embedded"
            else:
                n = int(size)
                label = f"{n:,} subjects"
                tmp = base / f"n{n}_seed{args.seed}"
                raw = tmp / "raw"
                if not (tmp / "generated.ok").exists():
                    shutil.rmtree(tmp, ignore_errors=True)
                    gen_s = _child(["--generate", str(n), str(tmp), "--seed", str(args.seed)])["generate_s"]
                    (tmp / "generated.ok").write_text("")
            for sub in ("out", "work"):
                shutil.rmtree(tmp / sub, ignore_errors=True)
            tmp.mkdir(parents=True, exist_ok=True)
            r = _child(["--run", str(raw), str(tmp), label], env=None if args.core else {"PIPELINE_CORE": "0"})
            r["generate_s"] = gen_s
            results.append(r)
            print_report(r, args.top or None)
            sys.stdout.flush()
    finally:
        if not args.data:
            shutil.rmtree(base, ignore_errors=True)
    print_targets(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if all(r["success"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
