"""RS from a hand-made three-subject export; every expected value worked out by hand.

101-001 SORAFENIB: hepatectomy 2018-01-10, enrolled 2018-01-22, sorafenib 2018-01-25..2018-07-24,
        last survival contact 2018-10-01 (RFPENDTC). SE: SCRN [01-10, 01-25), SORA [01-25, 07-25), FU [07-25, 10-01].
        Surgery: ECOG 1, Child-Pugh 5, BCLC A, T2 N0 M0 R0.
        Assessments: 2018-03-12 NED (day 62 = 21 + 28 + 12 days after Jan 10, +1), 2018-05-10 NED (day 121),
        2018-07-09 recurrence diagnosed the same day (day 181; no query: not after the assessment).
101-002 CONTROL: hepatectomy 2018-02-01, enrolled 2018-02-12, last assessment 2018-06-01 (RFPENDTC).
        SE: SCRN [02-01, 02-12), FU [02-12, 06-01]. Surgery: ECOG 0, Child-Pugh 6, BCLC B, T3a N0 M0 R1.
        2018-04-02 ("术后2个月" -> VISIT MONTH 2) RECUR = N but a RECURDAT 2018-03-30 -> NED on 2018-04-02
        (day 61 = 28 + 31 + 1, +1), queried;
        2018-05-01 RECUR = "U" -> held back; 2018-06-01 recurrence diagnosed "2018-06" (partial; RSDTC is the
        assessment date 2018-06-01, day 121 = 28 + 31 + 30 + 31 + 1; the diagnosis date goes to SUPPRS).
101-003 CONTROL: hepatectomy 2018-03-01, enrolled 2018-03-09, last assessment 2018-07-01.
        SE: SCRN [03-01, 03-09), FU [03-09, 07-01]. Surgery: ECOG 7 (out of 0-4: held back), Child-Pugh 5,
        BCLC A, T "T9" (no AJCCT7 term: held back), N0 M0 R0 -> 5 baseline records.
        2018-02-20 NED at visit "Baseline" (not a month after surgery, queried: an unscheduled visit by its
        date, before the hepatectomy so after visit 0: VISITNUM 0.01, UNSCHEDULED 0.01), before the
        hepatectomy (day -9; before the first element, so its EPOCH SCREENING), queried; 2018-05-02 recurrence confirmed 2018-05-09 (a
        confirmatory scan: no query): RSDTC 2018-05-02 (day 63 = 31 + 30 + 1, +1);
        2018-07-01 recurrence without RECURDAT: kept, dated by its assessment (day 123), queried.
101-009: a tumour assessment of a subject who is not in DM.
Visits: the surgery-form records are HEPATECTOMY (VISITNUM 0); the pre-operative ones (no RSDTC) take the
EPOCH of RSRFTDTC, the hepatectomy = the first day of SCRN: SCREENING; RSTPTNUM = 1. Month n -> VISITNUM n.
"""

import pytest
from sdtm_inputs import build_dm, empty, extract, pair_form

from pipeline.schemas import validate_frame
from pipeline.sdtm import rs as rs_mod
from pipeline.sdtm import se as se_mod
from pipeline.specs.datasets import load_dataset_spec

S1, S2, S3 = (f"NCT02867280-101-101-00{i}" for i in (1, 2, 3))

ENROL = pair_form("enrol", {"101-003": {"RFICDAT": "2018-03-08", "ENRLDAT": "2018-03-09", "TRTGRP": "CONTROL", "IEYN": "Y"}})
DEMOG = pair_form("dm", {"101-003": {}}, every={"BRTHDAT": "1960-01-01", "SEX": "M", "RACE": "ASIAN"})
SURG = extract(
    "surg",
    [
        {
            "SUBJID": "101-001",
            "PRSTDAT": "2018-01-10",
            "ECOG": 1,
            "CHILDPGH": 5,
            "BCLC": "A",
            "TNMT": "T2",
            "TNMN": "N0",
            "TNMM": "M0",
            "RESECT": "R0",
        },
        {
            "SUBJID": "101-002",
            "PRSTDAT": "2018-02-01",
            "ECOG": 0,
            "CHILDPGH": 6,
            "BCLC": "B",
            "TNMT": "T3a",
            "TNMN": "N0",
            "TNMM": "M0",
            "RESECT": "R1",
        },
        {
            "SUBJID": "101-003",
            "PRSTDAT": "2018-03-01",
            "ECOG": 7,
            "CHILDPGH": 5,
            "BCLC": "A",
            "TNMT": "T9",
            "TNMN": "N0",
            "TNMM": "M0",
            "RESECT": "R0",
        },
    ],
)
EX = extract(
    "ex",
    [
        {
            "SUBJID": "101-001",
            "EXTRT": "SORAFENIB",
            "EXSTDAT": "2018-01-25",
            "EXENDAT": "2018-07-24",
            "EXDOSE": 800.0,
            "EXDOSU": "mg",
            "EXDOSFRQ": "BID",
        },
    ],
)
SURV = extract("surv", [{"SUBJID": "101-001", "CONTDAT": "2018-10-01", "SURVSTAT": "ALIVE"}])
TA = extract(
    "ta",
    [
        {"SUBJID": "101-001", "VISIT": "Month 2", "TADAT": "2018-03-12", "TAMETHOD": "ULTRASOUND", "RECUR": "N"},
        {"SUBJID": "101-001", "VISIT": "Month 4", "TADAT": "2018-05-10", "TAMETHOD": "CT SCAN", "RECUR": "N"},
        {
            "SUBJID": "101-001",
            "VISIT": "Month 6",
            "TADAT": "2018-07-09",
            "TAMETHOD": "MRI",
            "RECUR": "Y",
            "RECURDAT": "2018-07-09",
        },
        {
            "SUBJID": "101-002",
            "VISIT": "术后2个月",
            "TADAT": "2018-04-02",
            "TAMETHOD": "CT SCAN",
            "RECUR": "N",
            "RECURDAT": "2018-03-30",
        },
        {"SUBJID": "101-002", "VISIT": "Month 3", "TADAT": "2018-05-01", "TAMETHOD": "CT SCAN", "RECUR": "U"},
        {"SUBJID": "101-002", "VISIT": "Month 4", "TADAT": "2018-06-01", "TAMETHOD": "MRI", "RECUR": "Y", "RECURDAT": "2018-06"},
        {"SUBJID": "101-003", "VISIT": "Baseline", "TADAT": "2018-02-20", "TAMETHOD": "CT SCAN", "RECUR": "N"},
        {
            "SUBJID": "101-003",
            "VISIT": "Month 2",
            "TADAT": "2018-05-02",
            "TAMETHOD": "CT SCAN",
            "RECUR": "Y",
            "RECURDAT": "2018-05-09",
        },
        {"SUBJID": "101-003", "VISIT": "Month 4", "TADAT": "2018-07-01", "TAMETHOD": "CT SCAN", "RECUR": "Y"},
        {"SUBJID": "101-009", "VISIT": "Month 2", "TADAT": "2018-07-01", "TAMETHOD": "CT SCAN", "RECUR": "N"},
    ],
)

COLS = ["RSSEQ", "RSTESTCD", "RSCAT", "RSORRES", "RSSTRESC", "RSSTRESN", "VISITNUM", "VISIT", "RSDTC", "RSDY", "EPOCH"]
HEP = [0.0, "HEPATECTOMY"]


@pytest.fixture(scope="module")
def dm():
    return build_dm(ENROL, DEMOG, SURG, EX, surv=SURV, ta=TA)


@pytest.fixture(scope="module")
def se(dm):
    return se_mod.build(dm, ENROL)


@pytest.fixture(scope="module")
def rs(dm, se):
    return rs_mod.build(SURG, TA, dm, se)


def rows(result, usubjid, cols=COLS):
    d = result.data[result.data["USUBJID"].eq(usubjid)][cols]
    return d.astype(object).where(d.notna(), None).values.tolist()


def test_rs_conforms_to_spec(rs):
    ok, failures = validate_frame(rs.data, load_dataset_spec("sdtm", "rs"))
    assert ok, failures.to_string()


def test_sorafenib_subject_classifications_then_assessments(rs):
    assert rows(rs, S1) == [
        [1, "ECOG101", "ECOG", "1", "1", 1.0, *HEP, None, None, "SCREENING"],
        [2, "CPS0106", "CHILD-PUGH CLASSIFICATION", "5", "5", 5.0, *HEP, None, None, "SCREENING"],
        [3, "BCLC101", "BCLC", "A", "A", None, *HEP, None, None, "SCREENING"],
        [4, "AJCC101", "AJCC V7", "T2", "T2", None, *HEP, "2018-01-10", 1.0, "SCREENING"],
        [5, "AJCC102", "AJCC V7", "N0", "N0", None, *HEP, "2018-01-10", 1.0, "SCREENING"],
        [6, "AJCC103", "AJCC V7", "M0", "M0", None, *HEP, "2018-01-10", 1.0, "SCREENING"],
        [7, "AJCC105", "AJCC V7", "R0", "R0", None, *HEP, "2018-01-10", 1.0, "SCREENING"],
        [8, "OVRLRESP", "PROTOCOL-DEFINED RECURRENCE", "NED", "NED", None, 2.0, "MONTH 2", "2018-03-12", 62.0, "TREATMENT"],
        [9, "OVRLRESP", "PROTOCOL-DEFINED RECURRENCE", "NED", "NED", None, 4.0, "MONTH 4", "2018-05-10", 121.0, "TREATMENT"],
        [
            10,
            "OVRLRESP",
            "PROTOCOL-DEFINED RECURRENCE",
            "RELAPSED DISEASE",
            "RELAPSED DISEASE",
            None,
            6.0,
            "MONTH 6",
            "2018-07-09",
            181.0,
            "TREATMENT",
        ],
    ]


def test_pre_operative_timing_and_test_names(rs):
    cols = ["RSTESTCD", "RSTEST", "RSTPT", "RSTPTREF", "RSRFTDTC", "RSEVAL", "RSTPTNUM"]
    got = rows(rs, S1, cols)
    assert got[0] == ["ECOG101", "ECOG1-Performance Status", "PRE-OPERATIVE", "HEPATECTOMY", "2018-01-10", "INVESTIGATOR", 1.0]
    assert got[1][:2] == ["CPS0106", "CPS01-Total Score"] and got[2][:2] == ["BCLC101", "BCLC1-Stage"]
    assert got[3] == ["AJCC101", "AJCC1-Primary Tumor (T)", None, None, None, "INVESTIGATOR", None]
    assert got[6][:2] == ["AJCC105", "AJCC1-Residual Tumor (R)"]
    assert got[7][:2] == ["OVRLRESP", "Overall Response"]


def test_partial_recurrence_date_and_stray_recurdat(rs):
    got = rows(rs, S2, ["RSSEQ", "RSTESTCD", "RSORRES", "VISIT", "RSDTC", "RSDY", "EPOCH"])
    assert [r[1] for r in got[:7]] == ["ECOG101", "CPS0106", "BCLC101", "AJCC101", "AJCC102", "AJCC103", "AJCC105"]
    assert got[3][2] == "T3a" and got[6][2] == "R1"
    assert got[7:] == [
        [8, "OVRLRESP", "NED", "MONTH 2", "2018-04-02", 61.0, "FOLLOW-UP"],
        [9, "OVRLRESP", "RELAPSED DISEASE", "MONTH 4", "2018-06-01", 121.0, "FOLLOW-UP"],
    ]


def test_held_back_results_and_kept_inconsistent_assessments(rs):
    got = rows(rs, S3, ["RSSEQ", "RSTESTCD", "RSORRES", "VISITNUM", "VISIT", "RSDTC", "RSDY", "EPOCH"])
    assert got == [
        [1, "CPS0106", "5", *HEP, None, None, "SCREENING"],
        [2, "BCLC101", "A", *HEP, None, None, "SCREENING"],
        [3, "AJCC102", "N0", *HEP, "2018-03-01", 1.0, "SCREENING"],
        [4, "AJCC103", "M0", *HEP, "2018-03-01", 1.0, "SCREENING"],
        [5, "AJCC105", "R0", *HEP, "2018-03-01", 1.0, "SCREENING"],
        [6, "OVRLRESP", "NED", 0.01, "UNSCHEDULED 0.01", "2018-02-20", -9.0, "SCREENING"],
        [7, "OVRLRESP", "RELAPSED DISEASE", 2.0, "MONTH 2", "2018-05-02", 63.0, "FOLLOW-UP"],
        [8, "OVRLRESP", "RELAPSED DISEASE", 4.0, "MONTH 4", "2018-07-01", 123.0, "FOLLOW-UP"],
    ]
    assert (
        "T9" not in rs.data["RSORRES"].tolist() and "7" not in rs.data.loc[rs.data["RSTESTCD"].eq("ECOG101"), "RSORRES"].tolist()
    )


def test_queries(rs):
    q = rs.queries
    got = sorted(map(tuple, q[["form", "subjid", "field", "value", "rule"]].values.tolist()))
    assert got == sorted(
        [
            ("ta", "101-009", "SUBJID", "101-009", "SUBJECT_NOT_IN_DM"),
            ("surg", "101-003", "ECOG", "7", "SCORE_OUT_OF_RANGE"),
            ("surg", "101-003", "TNMT", "T9", "RESULT_NOT_IN_CT"),
            ("ta", "101-002", "RECUR", "U", "RECUR_UNMAPPED"),
            ("ta", "101-002", "RECURDAT", "2018-03-30", "RECURDAT_WITHOUT_RECURRENCE"),
            ("ta", "101-003", "RECURDAT", "", "RECURDAT_MISSING"),
            ("ta", "101-003", "TADAT", "2018-02-20", "BEFORE_HEPATECTOMY"),
            ("ta", "101-003", "VISIT", "Baseline", "VISIT_UNKNOWN"),
        ]
    )
    # Each query points at its raw record.
    missing = q[q["rule"].eq("RECURDAT_MISSING")].iloc[0]
    assert (missing["file"], missing["row"]) == ("101/ta.csv", 10)


def test_lineage_keeps_each_records_own_raw_file(rs):
    lin = rs.lineage[rs.lineage["USUBJID"].eq(S1)]
    assert lin["RAWFILE"].tolist() == ["101/surg.csv"] * 7 + ["101/ta.csv"] * 3
    assert lin["RAWROW"].tolist() == [2] * 7 + [2, 3, 4]


def test_duplicate_visit_and_date_is_held_back(dm, se):
    ta = extract(
        "ta",
        [
            {
                "SUBJID": "101-001",
                "VISIT": "Month 6",
                "TADAT": "2018-07-09",
                "TAMETHOD": "MRI",
                "RECUR": "Y",
                "RECURDAT": "2018-07",
            },
            {
                "SUBJID": "101-001",
                "VISIT": "Month 6",
                "TADAT": "2018-07-09",
                "TAMETHOD": "CT SCAN",
                "RECUR": "Y",
                "RECURDAT": "2018-07",
            },
        ],
    )
    rs = rs_mod.build(empty("surg"), ta, dm, se)
    assert rs.data["RSDTC"].tolist() == ["2018-07-09"]
    assert rs.queries["rule"].tolist() == ["DUPLICATE_ASSESSMENT"] and rs.queries["row"].tolist() == [3]


def test_empty_export(dm, se):
    rs = rs_mod.build(empty("surg"), empty("ta"), dm, se)
    assert rs.data.empty and rs.queries.empty
    ok, failures = validate_frame(rs.data, load_dataset_spec("sdtm", "rs"))
    assert ok, failures.to_string()
