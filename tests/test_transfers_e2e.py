"""Issue #17 end to end on the embedded study: two transfers, the three cases of the issue, and a failed run
that stores no register. (A transfer rebuilt from the store byte for byte: tests/test_transfers_scenario.py.)

Transfer 1 is raw/ as shipped; transfer 2 is the same drop with, as a new user tried it:
subject 101-003 deleted from every form, the three AE records of subject 1040002 deleted, and the
grade of AE 1 of subject 101-001 changed from 1 to 3. Each case must give its query and delta row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import EMBEDDED_RECEIVED

from pipeline.runner import run_study
from pipeline.transfers import TransferOptions
from pipeline.transfers.snapshot import TransferStore

T1_DAY, T2_DAY, T3_DAY = EMBEDDED_RECEIVED, dt.date(2026, 2, 5), dt.date(2026, 3, 5)

# Transfer 1 is the session's shared build of raw/ (tests/conftest.py), built once per worker.
pytestmark = pytest.mark.slow


def _drop_lines(path: Path, keep) -> None:
    data = path.read_bytes()
    lines = data.split(b"\n")
    path.write_bytes(b"\n".join(line for i, line in enumerate(lines) if i == 0 or keep(line)))


def _edit_transfer_2(raw: Path) -> None:
    for f in sorted((raw / "101").glob("*.csv")):
        _drop_lines(f, lambda line: b",101-003," not in line)
    _drop_lines(raw / "104" / "ae.csv", lambda line: not line.startswith(b"104,1040002,"))
    ae = raw / "101" / "ae.csv"
    text = ae.read_text(encoding="utf-8")
    old = "101,101-001,1,Tiredness,2016-11-13,2016-12-27,N,1,"
    assert old in text
    ae.write_text(text.replace(old, "101,101-001,1,Tiredness,2016-11-13,2016-12-27,N,3,"), encoding="utf-8")


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


@pytest.fixture(scope="module")
def study(tmp_path_factory, embedded_build):
    root = tmp_path_factory.mktemp("transfers")
    raw, out, work, hist = root / "raw", root / "out", root / "work", root / "hist"
    # Transfer 1: the shared build, copied (package, work folder and store) rather than built once more.
    for src, dst in (
        (embedded_build.raw, raw),
        (embedded_build.out, out),
        (embedded_build.work, work),
        (embedded_build.hist, hist),
    ):
        shutil.copytree(src, dst)
    _edit_transfer_2(raw)
    r2 = run_study(raw, out, work, transfer=TransferOptions(history=hist, received=T2_DAY))
    assert r2.success, r2.failures
    store = TransferStore(hist)
    t1, t2 = sorted(store.transfers())
    return {"root": root, "raw": raw, "out": out, "work": work, "hist": hist, "store": store, "t1": t1, "t2": t2, "r2": r2}


def test_transfers_are_stored_and_chained(study):
    store, t1, t2 = study["store"], study["t1"], study["t2"]
    assert t1.startswith("T20260105-") and t2.startswith("T20260205-")
    assert store.snapshot(t2).previous == t1 and store.snapshot(t1).previous == ""
    assert store.register_path(t1).is_file() and store.register_path(t2).is_file() and store.latest() == t2


def test_first_transfer_has_no_delta(study):
    out = study["out"] / "transfers" / study["t1"]
    assert [_csv(out / f"{s}.csv") for s in ("101", "102", "103", "104")] == [[], [], [], []]


def test_grade_change_is_a_changed_row(study):
    rows = _csv(study["out"] / "transfers" / study["t2"] / "101.csv")
    changed = [r for r in rows if r["change"] == "CHANGED"]
    assert [
        (r["subjid"], r["form"], r["key"], r["field"], r["old_value"], r["new_value"], r["file"], r["row"]) for r in changed
    ] == [("101-001", "ae", "AESPID=1", "AETOXGR", "1", "3", "101/ae.csv", "2")]


def test_subject_deleted_from_every_form(study):
    t2 = study["t2"]
    rows = _csv(study["out"] / "transfers" / t2 / "101.csv")
    gone = [r for r in rows if r["subjid"] == "101-003"]
    assert gone and {r["change"] for r in gone} == {"DELETED"}
    # every record the subject had in transfer 1: 56 lines in 10 files (grep -c ,101-003, raw/101/*.csv)
    assert len(gone) == 56
    queries = _csv(study["out"] / "transfers" / t2 / "queries" / "101.csv")
    subj = [q for q in queries if q["rule"] == "SUBJECT_DELETED"]
    assert [(q["subjid"], q["field"], q["value"], q["status"], q["first_raised"]) for q in subj] == [
        ("101-003", "SUBJID", "101-003", "OPEN", "2026-02-05")
    ]
    # one query for the subject, not one per record
    assert not [q for q in queries if q["rule"] == "RECORD_DELETED" and q["subjid"] == "101-003"]


def test_three_ae_records_deleted(study):
    t2 = study["t2"]
    rows = _csv(study["out"] / "transfers" / t2 / "104.csv")
    assert [(r["subjid"], r["form"], r["key"], r["change"], r["row"]) for r in rows] == [
        ("1040002", "ae", f"AESPID={n}", "DELETED", str(n + 1)) for n in (1, 2, 3)
    ]
    queries = _csv(study["out"] / "transfers" / t2 / "queries" / "104.csv")
    deleted = [(q["subjid"], q["form"], q["field"], q["value"], q["row"]) for q in queries if q["rule"] == "RECORD_DELETED"]
    assert deleted == [("1040002", "ae", "AESPID", str(n), str(n + 1)) for n in (1, 2, 3)]


def test_deletions_warn_in_the_run(study):
    assert "transfers/delta:nothing_disappeared" in study["r2"].failed_checks


def test_metrics_written(study):
    m = pd.read_csv(study["out"] / "transfers" / study["t2"] / "metrics.csv", dtype={"siteid": str}).set_index("siteid")
    assert m.loc["104", "deleted_records"] == 3 and m.loc["101", "changed_records"] == 1
    assert m.loc["101", "deleted_records"] == 56


def test_failed_run_stores_no_register(study):
    raw3 = study["root"] / "raw3"
    shutil.copytree(study["raw"], raw3)
    (raw3 / "101" / "ae.csv").write_bytes(b"")  # an empty file fails raw/ae
    store = study["store"]
    report = run_study(raw3, study["out"], study["work"], transfer=TransferOptions(history=study["hist"], received=T3_DAY))
    assert not report.success
    t3 = [t for t in store.transfers() if t.startswith("T20260305-")]
    assert len(t3) == 1  # the drop itself is stored (it can be rebuilt once fixed) ...
    assert not store.register_path(t3[0]).exists()  # ... but its register is not: nothing was published
    assert store.latest() == study["t2"]
