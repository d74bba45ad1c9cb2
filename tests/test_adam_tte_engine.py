"""The time-to-event engine on hand-made inputs whose rows are worked out by hand."""

import pandas as pd
import pytest

from pipeline.adam.tte import TTESource, derive_param_tte

D = pd.Timestamp

ADSL = pd.DataFrame(
    {
        "STUDYID": "S",
        "USUBJID": ["S-1", "S-2", "S-3", "S-4", "S-5"],
        "STARTDT": [D("2018-01-10")] * 5,
    }
)
# S-1: recurrence and death on the same day. S-2: death without recurrence.
# S-3: no assessment after surgery. S-4: recurrence dated before the origin.
# S-5: two assessments without recurrence, alive.
RECUR = pd.DataFrame({"USUBJID": ["S-1", "S-4"], "RSDT": [D("2019-03-01"), D("2018-01-05")], "RSSEQ": [3.0, 1.0]})
ASSESS = pd.DataFrame(
    {
        "USUBJID": ["S-1", "S-1", "S-2", "S-5", "S-5"],
        "RSDT": [D("2018-04-01"), D("2018-07-01"), D("2018-05-02"), D("2018-03-10"), D("2018-06-10")],
        "RSSEQ": [1.0, 2.0, 1.0, 1.0, 2.0],
    }
)
DEATH = pd.DataFrame({"USUBJID": ["S-1", "S-2"], "DTHDT": [D("2019-03-01"), D("2018-09-30")]})
SOURCES = {"recur": RECUR, "assess": ASSESS, "death": DEATH, "adsl": ADSL}

RFS_EVENTS = [
    TTESource("recur", "RSDT", 0, "RECURRENCE", "RS", "RSDTC", seq="RSSEQ"),
    TTESource("death", "DTHDT", 0, "DEATH", "DM", "DTHDTC"),
]
CENSORS = [
    TTESource("adsl", "STARTDT", 1, "HEPATECTOMY (NO ASSESSMENT)", "PR", "PRSTDTC"),
    TTESource("assess", "RSDT", 2, "LAST ASSESSMENT WITHOUT RECURRENCE", "RS", "RSDTC", seq="RSSEQ"),
]


def rfs(sources=SOURCES, adsl=ADSL):
    return derive_param_tte(adsl, sources, RFS_EVENTS, CENSORS, "RFS", "Recurrence-free survival (days)").set_index("USUBJID")


def test_tie_between_recurrence_and_death_goes_to_first_listed_source():
    r = rfs().loc["S-1"]
    assert (r.CNSR, r.EVNTDESC, r.SRCDOM, r.SRCSEQ) == (0, "RECURRENCE", "RS", 3.0)
    # 2018-01-10 -> 2019-03-01 is 415 days later; AVAL counts the origin as day 1.
    assert r.AVAL == 416


def test_death_without_recurrence_is_an_rfs_event_and_censors_ttr():
    assert rfs().loc["S-2"][["CNSR", "EVNTDESC", "AVAL"]].tolist() == [0, "DEATH", 264]
    ttr = derive_param_tte(ADSL, SOURCES, RFS_EVENTS[:1], CENSORS, "TTR", "Time to recurrence").set_index("USUBJID")
    row = ttr.loc["S-2"]
    # Censored at the last assessment without recurrence, 2018-05-02 = day 113.
    assert (row.CNSR, row.CNSDTDSC, row.AVAL, row.SRCSEQ) == (2, "LAST ASSESSMENT WITHOUT RECURRENCE", 113, 1.0)


def test_no_assessment_after_surgery_is_censored_at_the_origin():
    r = rfs().loc["S-3"]
    assert (1, 1, D("2018-01-10")) == (r.CNSR, r.AVAL, r.ADT)


def test_event_before_origin_moves_to_origin():
    r = rfs().loc["S-4"]
    assert (0, D("2018-01-10"), 1) == (r.CNSR, r.ADT, r.AVAL)


def test_censoring_takes_the_last_assessment():
    r = rfs().loc["S-5"]
    assert (2, D("2018-06-10"), 2.0, 152) == (r.CNSR, r.ADT, r.SRCSEQ, r.AVAL)


def test_an_event_beats_a_later_censoring():
    later = pd.concat([ASSESS, pd.DataFrame({"USUBJID": ["S-1"], "RSDT": [D("2020-01-01")], "RSSEQ": [9.0]})])
    r = rfs({**SOURCES, "assess": later}).loc["S-1"]
    assert (0, D("2019-03-01")) == (r.CNSR, r.ADT)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_result_does_not_depend_on_input_row_order(seed):
    shuffled = {k: v.sample(frac=1, random_state=seed) for k, v in SOURCES.items()}
    adsl = ADSL.sample(frac=1, random_state=seed)
    pd.testing.assert_frame_equal(rfs(shuffled, adsl), rfs())


def test_every_adsl_subject_gets_exactly_one_row():
    out = rfs()
    assert sorted(out.index) == sorted(ADSL["USUBJID"]) and out.index.is_unique
