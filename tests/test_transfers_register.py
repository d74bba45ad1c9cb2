"""The query register (pipeline/transfers/register.py): every transition at its boundary, hand-worked."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from pipeline.transfers import register as reg
from pipeline.transfers.delta import DELTA_COLS

D1, D2, D3, D4 = dt.date(2026, 1, 5), dt.date(2026, 2, 2), dt.date(2026, 3, 2), dt.date(2026, 4, 6)


def q(qid="Q101-A", subj="101-001", field="AETOXGR", value="6", rule="CODE_UNKNOWN", row=3, form="ae"):
    """One listing row (the columns of pipeline.ops.queries LISTING_COLS the register reads)."""
    return {
        "query_id": qid,
        "siteid": qid[1:4],
        "subjid": subj,
        "form": form,
        "field": field,
        "value": value,
        "rule": rule,
        "message": f"{field} {value!r} is not a known term",
        "file": f"{qid[1:4]}/{form}.csv",
        "row": row,
        "status": "OPEN",
    }


def listing(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(q().keys()))


def delta(*rows) -> pd.DataFrame:
    return pd.DataFrame([dict(zip(DELTA_COLS, r)) for r in rows], columns=DELTA_COLS)


def responses(*rows) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"query_id": a, "site_response": b, "dm_decision": c, "file": "101.xlsx", "row": i + 2}
            for i, (a, b, c) in enumerate(rows)
        ],
        columns=reg.RESPONSE_COLS,
    )


def one(register: pd.DataFrame, qid="Q101-A") -> dict:
    rows = register[register["query_id"] == qid]
    assert len(rows) == 1
    return rows.iloc[0].to_dict()


def test_first_fire_is_open_with_dates_and_history():
    r = reg.update_register(None, listing(q()), "T20260105-aaaaaaaaaa", D1)
    assert list(r.columns) == reg.REGISTER_COLS
    row = one(r)
    assert row["status"] == "OPEN"
    assert (row["first_raised"], row["last_seen"], row["status_since"]) == ("2026-01-05",) * 3
    assert row["age_days"] == 0
    assert row["history"] == "2026-01-05 OPEN (raised in T20260105-aaaaaaaaaa)"
    assert (row["close_reason"], row["notes"], row["site_response"], row["dm_decision"]) == ("", "", "", "")
    assert row["row"] == 3


def test_still_firing_stays_open_and_ages_on_the_received_date():
    r1 = reg.update_register(None, listing(q()), "T1", D1)
    r2 = reg.update_register(r1, listing(q(row=4)), "T2", D2)
    row = one(r2)
    assert row["status"] == "OPEN"
    assert row["first_raised"] == "2026-01-05" and row["last_seen"] == "2026-02-02" and row["status_since"] == "2026-01-05"
    assert row["age_days"] == 28  # 2026-02-02 - 2026-01-05
    assert row["row"] == 4  # the record moved in the re-export: the register shows where it is now
    assert row["history"] == "2026-01-05 OPEN (raised in T1)"


def test_site_response_makes_answered_and_a_repeated_same_response_changes_nothing():
    r1 = reg.update_register(None, listing(q()), "T1", D1)
    r2 = reg.update_register(r1, listing(q()), "T2", D2, responses(("Q101-A", "grade is 3, re-entered", "")))
    row = one(r2)
    assert row["status"] == "ANSWERED" and row["status_since"] == "2026-02-02"
    assert row["site_response"] == "grade is 3, re-entered"
    assert row["history"] == "2026-01-05 OPEN (raised in T1); 2026-02-02 ANSWERED (site response in 101.xlsx row 2)"
    # The same file returned again at the next transfer: still ANSWERED, no new history entry.
    r3 = reg.update_register(r2, listing(q()), "T3", D3, responses(("Q101-A", "grade is 3, re-entered", "")))
    assert one(r3)["history"] == row["history"] and one(r3)["status"] == "ANSWERED"


def test_blank_response_is_no_answer():
    r1 = reg.update_register(None, listing(q()), "T1", D1)
    r2 = reg.update_register(r1, listing(q()), "T2", D2, responses(("Q101-A", "   ", "")))
    assert one(r2)["status"] == "OPEN"


def test_closed_when_the_record_is_deleted():
    r1 = reg.update_register(None, listing(q()), "T1", D1)
    d = delta(("T2", "T1", "101", "101-001", "ae", "AESPID=2", "DELETED", "", "", "", "101/ae.csv", 3))
    row = one(reg.update_register(r1, listing(), "T2", D2, delta=d))
    assert row["status"] == "CLOSED" and row["close_reason"] == "record deleted"
    assert row["age_days"] == 28 and row["status_since"] == "2026-02-02" and row["last_seen"] == "2026-01-05"
    assert row["history"].endswith("; 2026-02-02 CLOSED (record deleted)")


def test_deleted_elsewhere_in_the_file_is_not_this_record():
    r1 = reg.update_register(None, listing(q()), "T1", D1)
    d = delta(("T2", "T1", "101", "101-001", "ae", "AESPID=9", "DELETED", "", "", "", "101/ae.csv", 4))
    assert one(reg.update_register(r1, listing(), "T2", D2, delta=d))["close_reason"] == "no longer fires"


def test_closed_when_the_queried_field_changed():
    r1 = reg.update_register(None, listing(q()), "T1", D1)
    d = delta(
        ("T2", "T1", "101", "101-001", "ae", "AESPID=1", "CHANGED", "AETOXGR", "1", "3", "101/ae.csv", 2),
        ("T2", "T1", "101", "101-001", "ae", "AESPID=2", "CHANGED", "AETOXGR", "6", "2", "101/ae.csv", 3),
    )
    row = one(reg.update_register(r1, listing(), "T2", D2, delta=d))
    # Two AEs of the subject changed their grade; the one away from the queried value "6" is the reason.
    assert row["status"] == "CLOSED" and row["close_reason"] == "record changed: AETOXGR '6' -> '2'"


def test_closed_no_longer_fires_when_nothing_in_the_delta_explains_it():
    r1 = reg.update_register(None, listing(q()), "T1", D1)
    d = delta(("T2", "T1", "101", "101-001", "ae", "AESPID=2", "CHANGED", "AETERM", "x", "y", "101/ae.csv", 3))
    row = one(reg.update_register(r1, listing(), "T2", D2, delta=d))
    assert row["close_reason"] == "no longer fires"


def test_answered_then_corrected_closes():
    r1 = reg.update_register(None, listing(q()), "T1", D1)
    row = one(reg.update_register(r1, listing(), "T2", D2, responses(("Q101-A", "corrected", ""))))
    assert row["status"] == "CLOSED"
    assert row["history"] == (
        "2026-01-05 OPEN (raised in T1); 2026-02-02 ANSWERED (site response in 101.xlsx row 2); "
        "2026-02-02 CLOSED (no longer fires)"
    )


def test_closed_stays_closed_and_keeps_its_age():
    r1 = reg.update_register(None, listing(q()), "T1", D1)
    r2 = reg.update_register(r1, listing(), "T2", D2)
    row = one(reg.update_register(r2, listing(), "T3", D3))
    assert row["status"] == "CLOSED" and row["age_days"] == 28 and row["history"].count("CLOSED") == 1


def test_closed_that_fires_again_is_reopened():
    r1 = reg.update_register(None, listing(q()), "T1", D1)
    r2 = reg.update_register(r1, listing(), "T2", D2)
    row = one(reg.update_register(r2, listing(q(row=5)), "T3", D3))
    assert row["status"] == "REOPENED" and row["close_reason"] == "" and row["status_since"] == "2026-03-02"
    assert row["first_raised"] == "2026-01-05" and row["last_seen"] == "2026-03-02" and row["age_days"] == 56
    assert row["history"].endswith("; 2026-02-02 CLOSED (no longer fires); 2026-03-02 REOPENED (fires again in T3)")
    # Reopened, then answered, then closed again.
    r4 = reg.update_register(
        reg.update_register(r2, listing(q()), "T3", D3), listing(), "T4", D4, responses(("Q101-A", "fixed", ""))
    )
    assert one(r4)["status"] == "CLOSED" and "ANSWERED" in one(r4)["history"]


def test_cancel_is_final_even_when_the_rule_keeps_firing():
    r1 = reg.update_register(None, listing(q()), "T1", D1)
    r2 = reg.update_register(r1, listing(q()), "T2", D2, responses(("Q101-A", "value is right", "cancel")))
    row = one(r2)
    assert row["status"] == "CANCELLED" and row["dm_decision"] == "CANCEL" and row["age_days"] == 28
    r3 = reg.update_register(r2, listing(q()), "T3", D3)
    r4 = reg.update_register(r3, listing(), "T4", D4)
    r5 = reg.update_register(r4, listing(q()), "T5", dt.date(2026, 5, 4))
    for r in (r3, r4, r5):
        assert one(r)["status"] == "CANCELLED" and one(r)["age_days"] == 28
    assert one(r5)["last_seen"] == "2026-05-04"
    assert one(r5)["history"] == "2026-01-05 OPEN (raised in T1); 2026-02-02 CANCELLED (data manager: CANCEL in 101.xlsx row 2)"


def test_dm_close_closes_a_deletion_query_which_never_closes_by_itself():
    dq = q(qid="Q101-D", field="", value="", rule="RECORD_DELETED", row=None)
    r1 = reg.update_register(None, listing(dq), "T1", D1)
    r2 = reg.update_register(r1, listing(), "T2", D2)
    assert one(r2, "Q101-D")["status"] == "OPEN"
    r3 = reg.update_register(r2, listing(), "T3", D3, responses(("Q101-D", "subject withdrew consent", "CLOSE")))
    row = one(r3, "Q101-D")
    assert row["status"] == "CLOSED" and row["close_reason"] == "closed by data manager"
    # The same CLOSE in the next returned file does not close it twice.
    r4 = reg.update_register(r3, listing(), "T4", D4, responses(("Q101-D", "subject withdrew consent", "CLOSE")))
    assert one(r4, "Q101-D")["history"].count("CLOSED") == 1


def test_changed_value_on_a_record_with_an_open_query_is_noted():
    r1 = reg.update_register(None, listing(q(field="AESTDAT", value="2020-02-30", rule="DATE_INVALID")), "T1", D1)
    d = delta(("T2", "T1", "101", "101-001", "ae", "AESPID=2", "CHANGED", "AETOXGR", "1", "3", "101/ae.csv", 3))
    row = one(reg.update_register(r1, listing(q(field="AESTDAT", value="2020-02-30", rule="DATE_INVALID")), "T2", D2, delta=d))
    assert row["status"] == "OPEN"
    assert row["notes"] == "2026-02-02 AETOXGR '1' -> '3', query still fires"


def test_none_lost_and_every_new_query_in():
    r1 = reg.update_register(None, listing(q("Q101-A"), q("Q102-B", subj="S102001")), "T1", D1)
    r2 = reg.update_register(r1, listing(q("Q103-C", subj="GZ3-1")), "T2", D2)
    assert sorted(r2["query_id"]) == ["Q101-A", "Q102-B", "Q103-C"]
    assert reg.lost_queries(r1, r2) == []
    assert reg.lost_queries(r1, r2[r2["query_id"] != "Q102-B"]) == ["Q102-B"]
    with pytest.raises(reg.RegisterError, match="Q102-B"):
        reg.check_none_lost(r1, r2[r2["query_id"] != "Q102-B"])
    with pytest.raises(reg.RegisterError, match="twice"):
        reg.check_none_lost(None, pd.concat([r2, r2.head(1)]))


def test_a_listing_with_a_query_twice_is_refused():
    with pytest.raises(reg.RegisterError, match="Q101-A"):
        reg.update_register(None, listing(q(), q()), "T1", D1)


def test_response_for_an_unknown_query_changes_nothing():
    r1 = reg.update_register(None, listing(q()), "T1", D1)
    r2 = reg.update_register(r1, listing(q()), "T2", D2, responses(("Q999-Z", "?", "CANCEL")))
    assert list(r2["query_id"]) == ["Q101-A"] and one(r2)["status"] == "OPEN"


def test_order_is_site_natural_subject_form_field_rule_and_input_order_free():
    rows = [
        q("Q103-C", subj="GZ3-10"),
        q("Q103-B", subj="GZ3-2"),
        q("Q101-B", subj="101-001", field="AESTDAT", rule="DATE_INVALID", value="2020-02-30"),
        q("Q101-A", subj="101-001"),
    ]
    a = reg.update_register(None, listing(*rows), "T1", D1)
    b = reg.update_register(None, listing(*reversed(rows)), "T1", D1)
    assert list(a["query_id"]) == ["Q101-B", "Q101-A", "Q103-B", "Q103-C"]  # AESTDAT before AETOXGR
    pd.testing.assert_frame_equal(a, b)
    # The register survives a parquet round trip unchanged (the store keeps it between transfers).
    r2a = reg.update_register(a, listing(*rows[:2]), "T2", D2)
    buf = a.to_parquet(index=False)
    import io

    r2b = reg.update_register(pd.read_parquet(io.BytesIO(buf)), listing(*rows[:2]), "T2", D2)
    pd.testing.assert_frame_equal(r2a, r2b)


def test_status_counts():
    r1 = reg.update_register(None, listing(q("Q101-A"), q("Q101-B", subj="101-002")), "T1", D1)
    r2 = reg.update_register(r1, listing(q("Q101-A")), "T2", D2)
    assert reg.status_counts(r2) == {"OPEN": 1, "ANSWERED": 0, "CLOSED": 1, "REOPENED": 0, "CANCELLED": 0}
