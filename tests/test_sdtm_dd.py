"""DD from a hand-made survival form of five control subjects; every expected value worked out by hand.

SE of a control subject: SCRN [hepatectomy, enrolment), FU [enrolment, RFPENDTC = last contact or assessment].

101-001: hepatectomy 2018-01-10; reported dead at the contact of 2018-10-05 (died 2018-10-01, hepatocellular
         carcinoma) -> DDDTC 2018-10-05, DDDY 269 (Jan 10 -> Oct 5 = 21 + 28 + 31 + 30 + 31 + 30 + 31 + 31 + 30 + 5 = 268, +1).
101-002: hepatectomy 2018-02-01, last tumour assessment 2018-06-01; reported dead 2018-06-10 with death date
         "2018-05" (at the latest 2018-05-31: before the last assessment -> queried, kept), liver failure;
         DDDY 130 (28 + 31 + 30 + 31 + 9 = 129, +1). Reported dead again 2018-07-01: held back.
101-003: hepatectomy 2018-03-01; reported dead 2018-03-20 (DDDY 20) with death date 2018-02-25, before the
         hepatectomy -> queried, kept; cause OTHER.
101-004: hepatectomy 2018-04-02; an ALIVE contact carrying a cause of death (queried); reported dead
         2018-06-01 with death date 2018-06-03 (after the report: queried) and cause "HEART ATTACK" (no DTHCAUS term:
         held back).
101-005: reported dead 2018-06-15 without death date or cause: both queried, no DD record.
101-009: a death of a subject who is not in DM.
"""

import pytest
from sdtm_inputs import build_dm, empty, extract

from pipeline.schemas import validate_frame
from pipeline.sdtm import dd as dd_mod
from pipeline.sdtm import se as se_mod
from pipeline.specs.datasets import load_dataset_spec

SUBJ = {
    "101-001": "2018-01-10",
    "101-002": "2018-02-01",
    "101-003": "2018-03-01",
    "101-004": "2018-04-02",
    "101-005": "2018-04-02",
}
ENROL_DATES = {
    "101-001": "2018-01-22",
    "101-002": "2018-02-12",
    "101-003": "2018-03-09",
    "101-004": "2018-04-10",
    "101-005": "2018-04-10",
}

ENROL = extract(
    "enrol", [{"SUBJID": s, "RFICDAT": d, "ENRLDAT": d, "TRTGRP": "CONTROL", "IEYN": "Y"} for s, d in ENROL_DATES.items()]
)
DEMOG = extract("dm", [{"SUBJID": s, "BRTHDAT": "1960-01-01", "SEX": "M", "RACE": "ASIAN"} for s in SUBJ])
SURG = extract("surg", [{"SUBJID": s, "PRSTDAT": d} for s, d in SUBJ.items()])
TA = extract("ta", [{"SUBJID": "101-002", "VISIT": "Month 4", "TADAT": "2018-06-01", "TAMETHOD": "CT SCAN", "RECUR": "N"}])
HCC, LF = "HEPATOCELLULAR CARCINOMA", "LIVER FAILURE"
SURV = extract(
    "surv",
    [
        {"SUBJID": "101-001", "CONTDAT": "2018-04-10", "SURVSTAT": "ALIVE"},
        {"SUBJID": "101-001", "CONTDAT": "2018-10-05", "SURVSTAT": "DEAD", "DTHDAT": "2018-10-01", "DTHCAUS": HCC},
        {"SUBJID": "101-002", "CONTDAT": "2018-06-10", "SURVSTAT": "DEAD", "DTHDAT": "2018-05", "DTHCAUS": LF},
        {"SUBJID": "101-002", "CONTDAT": "2018-07-01", "SURVSTAT": "DEAD", "DTHDAT": "2018-05-20", "DTHCAUS": LF},
        {"SUBJID": "101-003", "CONTDAT": "2018-03-20", "SURVSTAT": "DEAD", "DTHDAT": "2018-02-25", "DTHCAUS": "OTHER"},
        {"SUBJID": "101-004", "CONTDAT": "2018-05-01", "SURVSTAT": "ALIVE", "DTHCAUS": "OTHER"},
        {"SUBJID": "101-004", "CONTDAT": "2018-06-01", "SURVSTAT": "DEAD", "DTHDAT": "2018-06-03", "DTHCAUS": "HEART ATTACK"},
        {"SUBJID": "101-005", "CONTDAT": "2018-06-15", "SURVSTAT": "DEAD"},
        {"SUBJID": "101-009", "CONTDAT": "2018-06-01", "SURVSTAT": "DEAD", "DTHDAT": "2018-06-01", "DTHCAUS": HCC},
    ],
)


@pytest.fixture(scope="module")
def dd():
    dm = build_dm(ENROL, DEMOG, SURG, surv=SURV, ta=TA)
    se = se_mod.build(dm, ENROL)
    return dd_mod.build(SURV, TA, dm, se)


def test_dd_conforms_to_spec(dd):
    ok, failures = validate_frame(dd.data, load_dataset_spec("sdtm", "dd"))
    assert ok, failures.to_string()


def test_one_primary_cause_per_deceased_subject(dd):
    d = dd.data[["USUBJID", "DDSEQ", "DDTESTCD", "DDTEST", "DDORRES", "DDSTRESC", "DDDTC", "DDDY", "EPOCH"]]
    d = d.astype(object).where(d.notna(), None)
    assert d.values.tolist() == [
        # Reported after the death, where participation and the last element end (DM, SE): no EPOCH.
        ["NCT02867280-101-101-001", 1, "PRCDTH", "Primary Cause of Death", HCC, HCC, "2018-10-05", 269, None],
        ["NCT02867280-101-101-002", 1, "PRCDTH", "Primary Cause of Death", LF, LF, "2018-06-10", 130, "FOLLOW-UP"],
        # A death before the hepatectomy is the error itself (queried): it does not end participation.
        ["NCT02867280-101-101-003", 1, "PRCDTH", "Primary Cause of Death", "OTHER", "OTHER", "2018-03-20", 20, "FOLLOW-UP"],
    ]
    assert dd.lineage["RAWROW"].tolist() == [3, 4, 6]
    assert "HEART ATTACK" not in dd.data.astype(str).to_string()


def test_queries(dd):
    got = sorted(map(tuple, dd.queries[["subjid", "field", "value", "rule", "row"]].values.tolist()))
    assert got == [
        ("101-002", "DTHDAT", "2018-05", "DEATH_BEFORE_LAST_ASSESSMENT", 4),
        ("101-002", "SURVSTAT", "DEAD", "DEATH_REPORTED_TWICE", 5),
        ("101-003", "DTHDAT", "2018-02-25", "DEATH_BEFORE_HEPATECTOMY", 6),
        ("101-004", "DTHCAUS", "HEART ATTACK", "CAUSE_NOT_IN_CT", 8),
        ("101-004", "DTHCAUS", "OTHER", "DEATH_DATA_NOT_DEAD", 7),
        ("101-004", "DTHDAT", "2018-06-03", "DEATH_AFTER_REPORT", 8),
        ("101-005", "DTHCAUS", "", "DEATH_CAUSE_MISSING", 9),
        ("101-005", "DTHDAT", "", "DEATH_DATE_MISSING", 9),
        ("101-009", "SUBJID", "101-009", "SUBJECT_NOT_IN_DM", 10),
    ]
    msg = dd.queries.set_index("rule")["message"]
    assert "2018-06-01" in msg["DEATH_BEFORE_LAST_ASSESSMENT"] and "2018-03-01" in msg["DEATH_BEFORE_HEPATECTOMY"]
    assert "2018-06-10" in msg["DEATH_REPORTED_TWICE"]


def test_no_death_gives_an_empty_dd():
    alive = extract("surv", [{"SUBJID": "101-001", "CONTDAT": "2018-04-10", "SURVSTAT": "ALIVE"}])
    dm = build_dm(ENROL, DEMOG, SURG, surv=alive)
    dd = dd_mod.build(alive, empty("ta"), dm, se_mod.build(dm, ENROL))
    assert dd.data.empty and dd.queries.empty
    assert validate_frame(dd.data, load_dataset_spec("sdtm", "dd"))[0]
