"""DM participation end and SE elements at their boundaries; every expected value worked out by hand.

Every subject: hepatectomy 2018-01-10 (RFSTDTC, day 1), consent 2018-01-20, enrolled 2018-01-22.
Sorafenib subjects take 400 mg QD from 2018-01-25 (day 16) to 2018-06-30 (day 172).

Participation ending around the last dose (the end-of-study record gives the last date):
- 101-001 ends 2018-06-30 = last dose: SORA ends at RFPENDTC 2018-06-30 (not the day after), no FU
  (it would start 2018-07-01, after participation) -- the case of 104-1040013 in the embedded study;
- 101-002 ends 2018-07-01 = last dose + 1: SORA ends 2018-07-01, FU 2018-07-01 -> 2018-07-01;
- 101-003 ends 2018-07-02 = last dose + 2: SORA ends 2018-07-01, FU 2018-07-01 -> 2018-07-02.
SEENDY: 2018-06-30 is day 172, 2018-07-01 day 173, 2018-07-02 day 174; 2018-01-25 day 16.

Death:
- 101-004 CONTROL died 2018-11-10, reported at the contact of 2018-12-01 (after the death, as a
  report is): RFPENDTC = 2018-11-10 (like 101-011 in the embedded study), FU ends 2018-11-10 (day 305).
  An ALIVE contact dated 2018-11-20, after the death, does not count (SS queries it: ALIVE_AFTER_DEATH).
- 101-005 SORAFENIB still dosing (no end date) died 2018-03-15, reported 2018-04-02: RFPENDTC =
  2018-03-15; the open SORA element ends at the death (day 65); no FU.
- 101-006 CONTROL died "2018-11" (partial), last ALIVE contact 2018-11-05 (inside that month, no
  conflict), reported 2018-12-20: RFPENDTC = 2018-11-05. An end-of-study record of 2018-12-20 is
  after the last day the death can be (2018-11-30): a query, and RFENDTC = the death date "2018-11".
- 101-007 CONTROL died "2018-11", last ALIVE contact 2018-10-01: RFPENDTC = "2018-11" (the death, as
  collected); FU ends "2018-11", SEENDY null (partial).
- 101-008 CONTROL "died" 2017-12-01, before its hepatectomy (a wrong death date, DD's query): it bounds
  nothing, so RFPENDTC = the reporting contact 2018-03-01 (day 51) and no date is queried here.
"""

import pandas as pd
import pytest
from sdtm_inputs import build_dm, extract

from pipeline.schemas import validate_frame
from pipeline.sdtm import se as se_mod
from pipeline.specs.datasets import load_dataset_spec

SUBJ = [f"101-00{i}" for i in range(1, 9)]
SORA = {"101-001", "101-002", "101-003", "101-005"}


def U(s):
    return f"NCT02867280-101-{s}"


ENROL = extract(
    "enrol",
    [
        {
            "SUBJID": s,
            "RFICDAT": "2018-01-20",
            "ENRLDAT": "2018-01-22",
            "TRTGRP": "SORAFENIB" if s in SORA else "CONTROL",
            "IEYN": "Y",
        }
        for s in SUBJ
    ],
)
DEMOG = extract("dm", [{"SUBJID": s, "BRTHDAT": "1960-05-15", "SEX": "M"} for s in SUBJ])
SURG = extract("surg", [{"SUBJID": s, "PRSTDAT": "2018-01-10", "PRTRT": "ANATOMICAL HEPATECTOMY"} for s in SUBJ])
EX = extract(
    "ex",
    [
        *(
            {
                "SUBJID": s,
                "EXTRT": "SORAFENIB",
                "EXSTDAT": "2018-01-25",
                "EXENDAT": "2018-06-30",
                "EXDOSE": 400.0,
                "EXDOSU": "mg",
                "EXDOSFRQ": "QD",
            }
            for s in ("101-001", "101-002", "101-003")
        ),
        {"SUBJID": "101-005", "EXTRT": "SORAFENIB", "EXSTDAT": "2018-01-25", "EXDOSE": 400.0, "EXDOSU": "mg", "EXDOSFRQ": "QD"},
    ],
)
DS = extract(
    "ds",
    [
        {"SUBJID": "101-001", "DSCAT": "END OF STUDY", "DSSTDAT": "2018-06-30", "DSDECOD": "WITHDRAWAL BY SUBJECT"},  # row 2
        {"SUBJID": "101-002", "DSCAT": "END OF STUDY", "DSSTDAT": "2018-07-01", "DSDECOD": "WITHDRAWAL BY SUBJECT"},  # row 3
        {"SUBJID": "101-003", "DSCAT": "END OF STUDY", "DSSTDAT": "2018-07-02", "DSDECOD": "WITHDRAWAL BY SUBJECT"},  # row 4
        {"SUBJID": "101-006", "DSCAT": "END OF STUDY", "DSSTDAT": "2018-12-20", "DSDECOD": "DEATH"},  # row 5
    ],
)
SURV = extract(
    "surv",
    [
        {"SUBJID": "101-004", "CONTDAT": "2018-11-20", "SURVSTAT": "ALIVE"},  # row 2
        {"SUBJID": "101-004", "CONTDAT": "2018-12-01", "SURVSTAT": "DEAD", "DTHDAT": "2018-11-10", "DTHCAUS": "OTHER"},  # row 3
        {"SUBJID": "101-005", "CONTDAT": "2018-04-02", "SURVSTAT": "DEAD", "DTHDAT": "2018-03-15", "DTHCAUS": "OTHER"},  # row 4
        {"SUBJID": "101-006", "CONTDAT": "2018-11-05", "SURVSTAT": "ALIVE"},  # row 5
        {"SUBJID": "101-006", "CONTDAT": "2018-12-20", "SURVSTAT": "DEAD", "DTHDAT": "2018-11", "DTHCAUS": "OTHER"},  # row 6
        {"SUBJID": "101-007", "CONTDAT": "2018-10-01", "SURVSTAT": "ALIVE"},  # row 7
        {"SUBJID": "101-007", "CONTDAT": "2018-12-20", "SURVSTAT": "DEAD", "DTHDAT": "2018-11", "DTHCAUS": "OTHER"},  # row 8
        {"SUBJID": "101-008", "CONTDAT": "2018-03-01", "SURVSTAT": "DEAD", "DTHDAT": "2017-12-01", "DTHCAUS": "OTHER"},  # row 9
    ],
)


@pytest.fixture(scope="module")
def dm():
    return build_dm(ENROL, DEMOG, SURG, EX, ds=DS, surv=SURV)


@pytest.fixture(scope="module")
def se(dm):
    return se_mod.build(dm, ENROL)


def _none(v):
    return None if pd.isna(v) else v


def test_participation_ends_at_death_at_the_latest(dm):
    assert validate_frame(dm.data, load_dataset_spec("sdtm", "dm"))[0]
    d = dm.data.set_index("USUBJID")
    got = {s: [_none(d.loc[U(s), v]) for v in ("RFPENDTC", "RFENDTC", "DTHDTC")] for s in SUBJ}
    assert got == {
        "101-001": ["2018-06-30", "2018-06-30", None],
        "101-002": ["2018-07-01", "2018-07-01", None],
        "101-003": ["2018-07-02", "2018-07-02", None],
        "101-004": ["2018-11-10", None, "2018-11-10"],
        "101-005": ["2018-03-15", None, "2018-03-15"],
        "101-006": ["2018-11-05", "2018-11", "2018-11"],
        "101-007": ["2018-11", None, "2018-11"],
        "101-008": ["2018-03-01", None, "2017-12-01"],
    }


def test_dates_after_death_are_queries(dm):
    # The end-of-study record after the death; the ALIVE contact after it is SS's query, not DM's.
    got = sorted(map(tuple, dm.queries[["subjid", "form", "row", "field", "value", "rule", "message"]].values.tolist()))
    assert got == [
        (
            "101-006",
            "ds",
            5,
            "DSSTDAT",
            "2018-12-20",
            "DATE_AFTER_DEATH",
            "Date after the death (2018-11); not counted as participation",
        ),
    ]


def test_elements_end_with_participation(se):
    assert validate_frame(se.data, load_dataset_spec("sdtm", "se"))[0]
    rows = [[r.USUBJID[-7:], r.ETCD, r.SESTDTC, _none(r.SEENDTC), _none(r.SESTDY), _none(r.SEENDY)] for r in se.data.itertuples()]
    assert rows == [
        ["101-001", "SCRN", "2018-01-10", "2018-01-25", 1, 16],
        ["101-001", "SORA", "2018-01-25", "2018-06-30", 16, 172],
        ["101-002", "SCRN", "2018-01-10", "2018-01-25", 1, 16],
        ["101-002", "SORA", "2018-01-25", "2018-07-01", 16, 173],
        ["101-002", "FU", "2018-07-01", "2018-07-01", 173, 173],
        ["101-003", "SCRN", "2018-01-10", "2018-01-25", 1, 16],
        ["101-003", "SORA", "2018-01-25", "2018-07-01", 16, 173],
        ["101-003", "FU", "2018-07-01", "2018-07-02", 173, 174],
        ["101-004", "SCRN", "2018-01-10", "2018-01-22", 1, 13],
        ["101-004", "FU", "2018-01-22", "2018-11-10", 13, 305],
        ["101-005", "SCRN", "2018-01-10", "2018-01-25", 1, 16],
        ["101-005", "SORA", "2018-01-25", "2018-03-15", 16, 65],
        ["101-006", "SCRN", "2018-01-10", "2018-01-22", 1, 13],
        ["101-006", "FU", "2018-01-22", "2018-11-05", 13, 300],
        ["101-007", "SCRN", "2018-01-10", "2018-01-22", 1, 13],
        ["101-007", "FU", "2018-01-22", "2018-11", 13, None],
        ["101-008", "SCRN", "2018-01-10", "2018-01-22", 1, 13],
        ["101-008", "FU", "2018-01-22", "2018-03-01", 13, 51],
    ]
