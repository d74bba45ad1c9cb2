"""Speed and memory of the whole pipeline on synthetic studies (``make bench``).

For each size the script generates a study with the project's generator, runs every asset
in-process in a fresh subprocess, and prints per asset: wall time, peak RSS while the asset
ran, rows in and out; then the total and two floors measured in the same run:
  * read+write floor: read every raw file (no validation) and write the final Parquet files
    again with no transformation;
  * XPT floor: a bare ``pyreadstat.write_xport`` of the final SDTM/ADaM frames.

Usage: python benchmarks/run.py [--sizes 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


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
        return max(vals) if vals else float("nan")


def one(n: int, seed: int) -> dict:
    """Generate and run one study in this process; return the figures as a dict."""
    import dagster as dg

    from pipeline.definitions import build_definitions
    from pipeline.synth import generate_study

    tmp = Path(tempfile.mkdtemp(prefix=f"bench{n}_"))
    t = time.perf_counter()
    generate_study(n_subjects=n, seed=seed, out_dir=tmp / "raw", truth_dir=tmp / "truth")
    gen_s = time.perf_counter() - t

    sampler = RssSampler()
    sampler.start()
    defs = build_definitions(raw_dir=str(tmp / "raw"), out_dir=str(tmp / "out"), work_dir=str(tmp / "work"))
    job = defs.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.ephemeral()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    t = time.perf_counter()
    result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=quiet)
    total_s = time.perf_counter() - t
    sampler.stop.set()

    starts, ends, rows = {}, {}, {}
    for rec in instance.all_logs(result.run_id):
        ev = rec.dagster_event
        if ev is None or ev.step_key is None:
            continue
        if ev.event_type_value == "STEP_START":
            starts[ev.step_key] = rec.timestamp
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            ends[ev.step_key] = rec.timestamp
        elif ev.event_type_value == "ASSET_MATERIALIZATION":
            m = ev.event_specific_data.materialization
            rc = m.metadata.get("dagster/row_count")
            rows[ev.step_key] = rc.value if rc is not None else None
    graph = defs.resolve_asset_graph()
    steps = []
    for key in sorted(starts, key=lambda k: starts[k]):
        akey = dg.AssetKey(key.split("__"))
        ups = graph.get(akey).parent_keys if graph.has(akey) else []
        rows_in = sum((rows.get("__".join(u.path)) or 0) for u in ups)
        steps.append(
            {"asset": "/".join(akey.path), "seconds": ends.get(key, starts[key]) - starts[key],
             "peak_rss_mb": sampler.peak_between(starts[key], ends.get(key, starts[key])), "rows_in": rows_in, "rows_out": rows.get(key)}
        )
    return {"n": n, "generate_s": gen_s, "total_s": total_s, "success": result.success,
            "peak_rss_mb": max(r for _, r in sampler.samples), "steps": steps, "floors": floors(tmp)}


def floors(tmp: Path) -> dict:
    """Read every raw file without validation and rewrite the final Parquet files; bare XPT write."""
    import pandas as pd
    import pyreadstat

    from pipeline.raw.reader import form_path, read_form_file
    from pipeline.specs.raw import load_raw_spec

    spec = load_raw_spec()
    t = time.perf_counter()
    for site in spec.sites.values():
        for form in spec.forms.values():
            p = form_path(tmp / "raw", site, form)
            if p.exists():
                read_form_file(p, site, form)
    frames = {p: pd.read_parquet(p) for p in sorted((tmp / "out").glob("*/*.parquet"))}
    for p, df in frames.items():
        df.to_parquet(tmp / "floor.parquet", index=False)
    rw = time.perf_counter() - t
    t = time.perf_counter()
    for p, df in frames.items():
        if p.parent.name in ("sdtm", "adam"):
            out = df.copy()
            for c in out.columns:
                if out[c].dtype == object:
                    out[c] = out[c].astype(str).where(out[c].notna(), "")
                elif str(out[c].dtype).startswith(("datetime", "date")):
                    out[c] = (pd.to_datetime(out[c]) - pd.Timestamp("1960-01-01")).dt.days
            pyreadstat.write_xport(out, str(tmp / "floor.xpt"), file_format_version=5, table_name=p.stem.upper()[:8])
    return {"read_write_s": rw, "xpt_s": time.perf_counter() - t}


def print_report(r: dict) -> None:
    print(f"\n## {r['n']:,} subjects — total {r['total_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB"
          f" (generation {r['generate_s']:.1f} s, {'success' if r['success'] else 'FAILED'})")
    print(f"{'asset':<28}{'seconds':>9}{'peak MB':>9}{'rows in':>11}{'rows out':>11}")
    for s in r["steps"]:
        print(f"{s['asset']:<28}{s['seconds']:>9.2f}{s['peak_rss_mb']:>9.0f}{s['rows_in']:>11}{str(s['rows_out'] if s['rows_out'] is not None else ''):>11}")
    f = r["floors"]
    print(f"floor: read raw + write final Parquet {f['read_write_s']:.2f} s; bare pyreadstat XPT {f['xpt_s']:.2f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--seed", type=int, default=20160901)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.seed)))
        return 0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    results = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--seed", str(args.seed)], capture_output=True, text=True, cwd=ROOT)
        if out.returncode != 0:
            print(out.stderr[-3000:])
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print_report(r)
    if len(results) > 1:
        a, b = results[-2], results[-1]
        print(f"\ntime ratio {b['n']:,}/{a['n']:,} subjects: {b['total_s'] / a['total_s']:.2f} (x{b['n'] / a['n']:.0f} subjects)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
