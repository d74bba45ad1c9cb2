"""What a transfer adds to a run (issue #17): the transfer pieces timed on their own.

For each size the script takes a drop (``embedded``: ``raw/``; a number: a study generated with
``--seed``), makes the next transfer from it (one subject's records removed from every CSV form of
its site, one AE grade changed), and times, as the ``transfers`` assets do them:

* storing each drop in a fresh transfer store (content-addressed files, snapshot.json);
* the delta of the second against the first: reading both drops, ``record_delta`` and the deletion
  queries (``pipeline.transfers.assets.transfer_delta``);
* the register update of the deletion queries and writing the delta per site (CSV + XLSX).

Prints wall and CPU seconds per piece and the process's peak RSS. The rest of a run (raw to
submission) is what ``benchmarks/run.py`` measures.

Usage: python benchmarks/transfers.py [--sizes embedded 10000] [--seed S] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _timed(label: str, fn, figures: list[tuple[str, float, float]]):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    figures.append((label, time.perf_counter() - t0, time.process_time() - c0))
    return out


def _drop(size: str, seed: int, data: Path) -> Path:
    if size == "embedded":
        return ROOT / "raw"
    raw = data / f"n{size}_seed{seed}" / "raw"
    if not raw.is_dir():
        cmd = [sys.executable, "-m", "pipeline", "generate", "--subjects", size, "--seed", str(seed), "--out", str(raw)]
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return raw


def next_drop(raw: Path, dest: Path) -> tuple[str, int]:
    """Copy ``raw`` to ``dest`` as the next transfer: the first subject of the first site's dm.csv is
    removed from every CSV form of that site, and the first AE's grade (AETOXGR) changes. Returns
    (the subject removed, the records removed)."""
    shutil.copytree(raw, dest)
    site = sorted(p for p in dest.iterdir() if p.is_dir() and (p / "dm.csv").is_file())[0]
    with (site / "dm.csv").open(encoding="utf-8-sig", newline="") as fh:
        subject = next(csv.DictReader(fh))["SUBJID"]
    removed = 0
    for path in sorted(site.glob("*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
        if not rows or "SUBJID" not in rows[0]:
            continue
        col = rows[0].index("SUBJID")
        kept = [rows[0]] + [r for r in rows[1:] if len(r) <= col or r[col] != subject]
        removed += len(rows) - len(kept)
        if path.name == "ae.csv" and len(kept) > 1 and "AETOXGR" in rows[0]:
            g = rows[0].index("AETOXGR")
            kept[1][g] = "3" if kept[1][g] != "3" else "2"
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(kept)
    return subject, removed


def measure(size: str, seed: int, data: Path) -> None:
    from pipeline.ops import queries as q
    from pipeline.specs.raw import load_raw_spec
    from pipeline.transfers import delta as dl
    from pipeline.transfers.assets import transfer_delta, write_site_tables
    from pipeline.transfers.register import update_register
    from pipeline.transfers.snapshot import TransferStore, identify, take_snapshot

    raw1 = _drop(size, seed, data)
    spec = load_raw_spec()
    figures: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-transfers-") as scratch:
        base = Path(scratch)
        raw2 = base / "raw2"
        subject, removed = next_drop(raw1, raw2)
        store = TransferStore(base / "history")
        t1, _ = identify(raw1, store, dt.date(2026, 1, 5))
        _timed("store drop 1", lambda: take_snapshot(store, t1, raw1), figures)
        store.store_register(t1, b"")  # drop 1 published: it becomes the previous transfer
        t2, _ = identify(raw2, store, dt.date(2026, 1, 6))
        snap2 = _timed("store drop 2", lambda: take_snapshot(store, t2, raw2), figures)
        delta, gone = _timed("delta (read both drops, compare)", lambda: transfer_delta(store, snap2, raw2), figures)
        fired = q.assign_query_ids(q.redact(gone, q.identifier_fields(spec)))
        _timed(
            "register update",
            lambda: update_register(None, fired, t2, dt.date(2026, 1, 6), None, delta),
            figures,
        )
        _timed(
            "write delta per site",
            lambda: write_site_tables(base / "out", delta, list(dl.DELTA_COLS), spec.sites, "delta"),
            figures,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{size} subjects: next transfer removes {subject} ({removed} records) and changes one AE grade")
    print(f"  delta rows {len(delta)}: " + ", ".join(f"{k} {v}" for k, v in dl.summary_counts(delta).items()))
    print(f"  deletion queries {len(gone)}: " + ", ".join(sorted(set(gone["rule"]))))
    print(f"  {'piece':<36}{'wall s':>9}{'CPU s':>9}")
    for label, wall, cpu in figures:
        print(f"  {label:<36}{wall:>9.2f}{cpu:>9.2f}")
    total = sum(w for _, w, _ in figures)
    print(f"  {'total':<36}{total:>9.2f}{sum(c for _, _, c in figures):>9.2f}")
    print(f"  peak RSS of this process {peak:.0f} MB")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["embedded"])
    ap.add_argument("--seed", type=int, default=20160901)
    ap.add_argument("--data", type=Path, help="keep generated studies here and reuse them (default: a temporary folder)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-transfers-data-") as tmp:
        data = args.data or Path(tmp)
        for size in args.sizes:
            measure(size, args.seed, data)


if __name__ == "__main__":
    main()
