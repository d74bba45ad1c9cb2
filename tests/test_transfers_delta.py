"""Transfer delta and deletion queries on small hand-made frames (pipeline/transfers/delta.py),
and the transfer store (pipeline/transfers/snapshot.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from pipeline.ops.queries import DROP_RULES, QUERY_COLS
from pipeline.transfers import delta as dl
from pipeline.transfers import metrics as mt
from pipeline.transfers.snapshot import StoreError, TransferStore, identify, received_of, take_snapshot, transfer_id

AE_FIELDS = ["SUBJID", "AESPID", "AETERM", "AETOXGR"]
KEYS = {"ae": ("SUBJID", "AESPID"), "dm": ("SUBJID",)}


def ae(rows: list[tuple], file: str = "101/ae.csv") -> pd.DataFrame:
    """AE records as the reader returns them: text cells, _site/_file/_row (row 2 = first record)."""
    df = pd.DataFrame(rows, columns=AE_FIELDS)
    df["_site"] = file.split("/", maxsplit=1)[0]
    df["_file"] = file
    df["_row"] = range(2, len(df) + 2)
    return df


def delta(prev: pd.DataFrame | None, cur: pd.DataFrame | None, **kw) -> pd.DataFrame:
    p = {} if prev is None else {("101", "ae"): prev}
    c = {} if cur is None else {("101", "ae"): cur}
    return dl.record_delta(p, c, KEYS, {"ae": AE_FIELDS}, "T2", "T1", **kw)


BASE = [("101-001", "1", "Rash", "1"), ("101-001", "2", "Fatigue", "2"), ("101-002", "1", "Nausea", "1")]


def test_new_changed_deleted_with_old_and_new_values():
    cur = ae([("101-001", "1", "Rash", "3"), ("101-002", "1", "Nausea", "1"), ("101-003", "1", "Fever", "2")])
    d = delta(ae(BASE), cur)
    assert list(d.columns) == dl.DELTA_COLS
    got = d[["subjid", "key", "change", "field", "old_value", "new_value", "file", "row"]].to_dict("records")
    assert got == [
        # grade 1 -> 3 on AE 1 of 101-001: one row for the field, current file row (2)
        {
            "subjid": "101-001",
            "key": "AESPID=1",
            "change": "CHANGED",
            "field": "AETOXGR",
            "old_value": "1",
            "new_value": "3",
            "file": "101/ae.csv",
            "row": 2,
        },
        # AE 2 of 101-001 gone: the previous transfer's row (3)
        {
            "subjid": "101-001",
            "key": "AESPID=2",
            "change": "DELETED",
            "field": "",
            "old_value": "",
            "new_value": "",
            "file": "101/ae.csv",
            "row": 3,
        },
        {
            "subjid": "101-003",
            "key": "AESPID=1",
            "change": "NEW",
            "field": "",
            "old_value": "",
            "new_value": "",
            "file": "101/ae.csv",
            "row": 4,
        },
    ]
    assert set(d["transfer"]) == {"T2"} and set(d["previous"]) == {"T1"}
    assert dl.summary_counts(d) == {"new": 1, "changed": 1, "deleted": 1}


def test_reordered_file_gives_no_delta():
    assert delta(ae(BASE), ae(list(reversed(BASE)))).empty


def test_two_fields_changed_give_two_rows_one_record():
    d = delta(ae(BASE), ae([("101-001", "1", "Rash papular", "2"), *BASE[1:]]))
    assert list(d["field"]) == ["AETERM", "AETOXGR"] and list(d["change"]) == ["CHANGED", "CHANGED"]
    assert dl.summary_counts(d)["changed"] == 1


def test_whitespace_and_full_width_are_not_changes_but_values_show_as_exported():
    # The raw layer normalises NFKC and whitespace before reading a value; so does the comparison.
    assert delta(ae(BASE), ae([("101-001 ", "１", "Rash", "1"), *BASE[1:]])).empty
    d = delta(ae(BASE), ae([("101-001", "1", "Rash", "１级"), *BASE[1:]]))
    assert d[["field", "old_value", "new_value"]].to_dict("records") == [
        {"field": "AETOXGR", "old_value": "1", "new_value": "１级"}
    ]


def test_exact_reexport_duplicate_is_one_record():
    assert delta(ae(BASE), ae([*BASE, BASE[0]])).empty


def test_conflicting_duplicate_key_compared_as_a_set():
    # AE 1 of 101-001 sent twice with different grades: the key cannot identify one record.
    twins = [*BASE, ("101-001", "1", "Rash", "2")]
    prev = ae(twins)
    assert delta(prev, ae(list(reversed(twins)))).empty
    cur = ae([*BASE])  # the site removed one of the two
    d = delta(prev, cur)
    assert d[["key", "change", "row"]].to_dict("records") == [{"key": "AESPID=1 (key not unique)", "change": "DELETED", "row": 5}]
    # and a key that becomes duplicated: the new twin is NEW, the old record is unchanged
    d = delta(ae(BASE), prev)
    assert d[["key", "change", "row"]].to_dict("records") == [{"key": "AESPID=1 (key not unique)", "change": "NEW", "row": 5}]


def test_identifier_values_are_redacted():
    fields = ["SUBJID", "SUBJINIT"]
    p = pd.DataFrame({"SUBJID": ["101-001"], "SUBJINIT": ["ZWL"], "_site": "101", "_file": "101/dm.csv", "_row": [2]})
    c = p.assign(SUBJINIT="ZWM")
    d = dl.record_delta({("101", "dm"): p}, {("101", "dm"): c}, KEYS, {"dm": fields}, identifiers={"SUBJINIT"})
    assert d[["key", "field", "old_value", "new_value"]].to_dict("records") == [
        {"key": "SUBJID=101-001", "field": "SUBJINIT", "old_value": "<redacted>", "new_value": "<redacted>"}
    ]


def dm(subjects: list[str], site: str = "101") -> pd.DataFrame:
    return pd.DataFrame({"SUBJID": subjects, "_site": site, "_file": f"{site}/dm.csv", "_row": range(2, len(subjects) + 2)})


def test_deletion_queries_record_subject_and_form():
    prev = {("101", "ae"): ae(BASE), ("101", "dm"): dm(["101-001", "101-002"]), ("102", "dm"): dm(["S102001"], "102")}
    # 101-002 gone from every form, AE 2 of 101-001 gone, site 102 sent no dm file.
    cur = {("101", "ae"): ae([BASE[0]]), ("101", "dm"): dm(["101-001"]), ("102", "ae"): ae([], "102/ae.csv")}
    d = dl.record_delta(prev, cur, KEYS, {"ae": AE_FIELDS, "dm": ["SUBJID"]}, "T2", "T1")
    qs = dl.deletion_queries(d, prev, cur)
    assert list(qs.columns) == QUERY_COLS
    got = qs[["siteid", "subjid", "form", "file", "row", "field", "value", "rule"]].to_dict("records")
    for r in got:
        r["row"] = None if pd.isna(r["row"]) else int(r["row"])
    assert got == [
        {
            "siteid": "102",
            "subjid": "",
            "form": "dm",
            "file": "102/dm.csv",
            "row": None,
            "field": "",
            "value": "",
            "rule": "FORM_MISSING",
        },
        # one query for the subject, whose 2 records (AE 1, DM) are in the delta, not one per record
        {
            "siteid": "101",
            "subjid": "101-002",
            "form": "ae",
            "file": "101/ae.csv",
            "row": 4,
            "field": "SUBJID",
            "value": "101-002",
            "rule": "SUBJECT_DELETED",
        },
        {
            "siteid": "101",
            "subjid": "101-001",
            "form": "ae",
            "file": "101/ae.csv",
            "row": 3,
            "field": "AESPID",
            "value": "2",
            "rule": "RECORD_DELETED",
        },
    ]
    # The same text as the raw layer's FORM_MISSING drop query: one query per missing file, never two.
    assert qs.loc[0, "message"] == DROP_RULES["FORM_MISSING"].format(siteid="102", form="dm")
    assert "2 record(s): ae, dm" in qs.loc[1, "message"]
    assert "T1" in qs.loc[2, "message"]


def test_nothing_deleted_no_queries():
    d = delta(ae(BASE), ae(BASE))
    assert dl.deletion_queries(d, {("101", "ae"): ae(BASE)}, {("101", "ae"): ae(BASE)}).empty


def test_site_metrics_counts_and_rate():
    register = pd.DataFrame(
        {
            "siteid": ["101", "101", "101", "102"],
            "status": ["OPEN", "CLOSED", "REOPENED", "ANSWERED"],
            "age_days": [10, 40, 30, 5],
        }
    )
    d = delta(ae(BASE), ae([("101-001", "1", "Rash", "3"), BASE[2]]))
    enrol = pd.DataFrame({"_site": ["101", "101"], "SUBJID": ["101-001", "101-002"], "ENRLDAT": ["2025-12-06", "2026-01-05"]})
    aes = pd.DataFrame({"_site": ["101", "101", "101"]})
    m = mt.site_metrics(register, d, enrol, aes, dt.date(2026, 1, 5), ["101", "102"]).set_index("siteid")
    assert m.loc["101", ["open", "closed", "reopened", "answered"]].tolist() == [1, 1, 1, 0]
    assert m.loc["101", "median_query_age_days"] == 20.0  # OPEN 10 and REOPENED 30; CLOSED not active
    assert m.loc["101", ["changed_records", "deleted_records", "new_records"]].tolist() == [1, 1, 0]
    # 30 days + 0 days on study = 30 / 30.4375 subject-months; 3 AEs
    assert m.loc["101", "aes_per_subject_month"] == round(3 / (30 / (365.25 / 12)), 4)
    assert m.loc["all", "open"] == 1 and m.loc["all", "answered"] == 1
    meta = mt.as_metadata(m.reset_index())
    assert meta["site 101 open"] == 1 and meta["aes_per_subject_month"] == m.loc["all", "aes_per_subject_month"]


# --- the store ------------------------------------------------------------------------------


def _drop(root: Path, ae_text: str = "SUBJID,AESPID\n101-001,1\n") -> Path:
    (root / "101").mkdir(parents=True, exist_ok=True)
    (root / "101" / "ae.csv").write_text(ae_text, encoding="utf-8")
    (root / "101" / "dm.csv").write_text("SUBJID\n101-001\n", encoding="utf-8")
    return root


def test_transfer_id_and_received_date():
    assert transfer_id(dt.date(2026, 1, 5), "ab" * 32) == "T20260105-ababababab"
    assert received_of("T20260105-ababababab") == dt.date(2026, 1, 5)
    with pytest.raises(StoreError):
        received_of("../etc")


def test_snapshot_restore_is_byte_identical_and_content_addressed(tmp_path):
    store = TransferStore(tmp_path / "hist")
    raw = _drop(tmp_path / "raw")
    tid, _digest = identify(raw, store, dt.date(2026, 1, 5))
    snap = take_snapshot(store, tid, raw)
    assert snap.previous == "" and set(snap.files) == {"101/ae.csv", "101/dm.csv"}
    store.restore(tid, tmp_path / "back")
    for rel in snap.files:
        assert (tmp_path / "back" / rel).read_bytes() == (raw / rel).read_bytes()
    # the same content seen again keeps its first received date
    assert identify(raw, store)[0] == tid
    # a second transfer sharing dm.csv stores that file once
    store.store_register(tid, b"reg")
    (raw / "101" / "ae.csv").write_text("SUBJID,AESPID\n101-001,1\n101-001,2\n", encoding="utf-8")
    tid2, _ = identify(raw, store, dt.date(2026, 1, 6))
    snap2 = take_snapshot(store, tid2, raw)
    assert snap2.previous == tid and snap2.files["101/dm.csv"] == snap.files["101/dm.csv"]
    assert len(list((store.root / "objects").rglob("*"))) - len(list((store.root / "objects").iterdir())) == 3


def test_snapshot_refuses_a_drop_that_is_not_the_transfer(tmp_path):
    store = TransferStore(tmp_path / "hist")
    raw = _drop(tmp_path / "raw")
    tid, _ = identify(raw, store, dt.date(2026, 1, 5))
    (raw / "101" / "ae.csv").write_text("SUBJID,AESPID\n", encoding="utf-8")
    with pytest.raises(StoreError, match="not transfer"):
        take_snapshot(store, tid, raw)


def test_register_stored_once_and_latest_moves_only_forward(tmp_path):
    store = TransferStore(tmp_path / "hist")
    assert store.store_register("T20260105-ababababab", b"one") is True
    assert store.store_register("T20260106-cdcdcdcdcd", b"two") is True
    assert store.store_register("T20260105-ababababab", b"changed") is False  # a rebuild never rewrites it
    assert store.register_path("T20260105-ababababab").read_bytes() == b"one"
    assert store.latest() == "T20260106-cdcdcdcdcd"
