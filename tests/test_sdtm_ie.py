"""IE from a hand-made three-subject export; every expected value worked out by hand.

101-001 SORAFENIB: hepatectomy 2018-01-10 (RFSTDTC), enrolled 2018-01-22, first dose 2018-01-25.
        IN04 answered N (no microvascular invasion: inclusion not met) and EX04 answered N
        (hypersensitivity to sorafenib: exclusion present); IEYN = Y contradicts both.
101-002 CONTROL: hepatectomy 2018-02-01, enrolled 2018-02-12. Every criterion met, but IEYN = N;
        one unknown criterion code IN99 answered N (held back).
101-003 CONTROL: hepatectomy 2018-03-01, enrolled 2018-03-08. IN06 answered N (Child-Pugh B),
        IEYN = N agrees; IN02 left blank.
101-077: criteria of a subject never enrolled (not in DM).

IESEQ follows IETESTCD: for 101-001 EX04 (1) before IN04 (2). IEDTC = enrollment date:
101-001 day 13 (2018-01-22 - 2018-01-10 + 1), in SCRN (2018-01-10..2018-01-25) -> SCREENING;
101-003 day 8, the day the control subject's FU element starts (SE rule SESTDTC <= date) -> FOLLOW-UP.
"""

import pandas as pd
import pytest
from sdtm_inputs import build_dm, extract, pair_form

from pipeline.schemas import validate_frame
from pipeline.sdtm import ie as ie_mod
from pipeline.sdtm import se as se_mod
from pipeline.specs.datasets import load_dataset_spec

S1, S3 = "NCT02867280-101-101-001", "NCT02867280-101-101-003"

ENROL = pair_form(
    "enrol",
    {"101-002": {"IEYN": "N"}, "101-003": {"RFICDAT": "2018-03-05", "ENRLDAT": "2018-03-08", "TRTGRP": "CONTROL", "IEYN": "N"}},
)
DEMOG = pair_form("dm", {"101-003": {"BRTHDAT": "1960-05-15", "SEX": "M"}}, every={"RACE": "ASIAN"})
SURG = pair_form("surg", {"101-003": {"PRSTDAT": "2018-03-01", "PRTRT": "ANATOMICAL HEPATECTOMY"}})
EX = pair_form("ex", {"101-001": {"EXENDAT": None}})
IE = extract(
    "ie",
    [
        {"SUBJID": "101-001", "IETESTCD": "IN01", "IEORRES": "Y"},  # row 2
        {"SUBJID": "101-001", "IETESTCD": "IN04", "IEORRES": "N"},  # row 3
        {"SUBJID": "101-001", "IETESTCD": "EX01", "IEORRES": "Y"},  # row 4
        {"SUBJID": "101-001", "IETESTCD": "EX04", "IEORRES": "N"},  # row 5
        {"SUBJID": "101-002", "IETESTCD": "IN01", "IEORRES": "Y"},  # row 6
        {"SUBJID": "101-002", "IETESTCD": "EX01", "IEORRES": "Y"},  # row 7
        {"SUBJID": "101-002", "IETESTCD": "IN99", "IEORRES": "N"},  # row 8
        {"SUBJID": "101-003", "IETESTCD": "IN06", "IEORRES": "N"},  # row 9
        {"SUBJID": "101-003", "IETESTCD": "IN02"},  # row 10
        {"SUBJID": "101-077", "IETESTCD": "IN01", "IEORRES": "N"},  # row 11
    ],
)


@pytest.fixture(scope="module")
def dm():
    return build_dm(ENROL, DEMOG, SURG, EX)


@pytest.fixture(scope="module")
def ie(dm):
    return ie_mod.build(IE, ENROL, dm, se_mod.build(dm, ENROL))


def test_ie_holds_only_criteria_not_met(ie):
    ok, failures = validate_frame(ie.data, load_dataset_spec("sdtm", "ie"))
    assert ok, failures.to_string()
    cols = ["USUBJID", "IESEQ", "IETESTCD", "IECAT", "IEORRES", "IESTRESC", "IEDTC", "IEDY", "EPOCH"]
    assert ie.data[cols].values.tolist() == [
        [S1, 1.0, "EX04", "EXCLUSION", "Y", "Y", "2018-01-22", 13.0, "SCREENING"],
        [S1, 2.0, "IN04", "INCLUSION", "N", "N", "2018-01-22", 13.0, "SCREENING"],
        [S3, 1.0, "IN06", "INCLUSION", "N", "N", "2018-03-08", 8.0, "FOLLOW-UP"],
    ]
    assert ie.data["IETEST"].tolist() == [
        "Known hypersensitivity to sorafenib",
        "Microvascular invasion on pathology",
        "Child-Pugh class A liver function",
    ]
    assert set(ie.data["STUDYID"]) == {"NCT02867280"} and set(ie.data["DOMAIN"]) == {"IE"}
    assert ie.lineage[["USUBJID", "RECORD", "RAWFILE", "RAWROW"]].values.tolist() == [
        [S1, 1.0, "101/ie.csv", 5],
        [S1, 2.0, "101/ie.csv", 3],
        [S3, 1.0, "101/ie.csv", 9],
    ]


def test_ie_queries(ie):
    q = ie.queries[["subjid", "form", "field", "value", "rule", "row"]].values.tolist()
    assert q == [
        ["101-077", "ie", "SUBJID", "101-077", "SUBJECT_NOT_IN_DM", 11],
        ["101-002", "ie", "IETESTCD", "IN99", "IE_CRITERION_UNKNOWN", 8],
        ["101-003", "ie", "IEORRES", "", "IE_RESULT_MISSING", 10],
        ["101-001", "ie", "IETESTCD", "IN04", "IE_ENROLLED_NOT_ELIGIBLE", 3],
        ["101-001", "ie", "IETESTCD", "EX04", "IE_ENROLLED_NOT_ELIGIBLE", 5],
        ["101-003", "ie", "IETESTCD", "IN06", "IE_ENROLLED_NOT_ELIGIBLE", 9],
        ["101-001", "enrol", "IEYN", "Y", "IEYN_CONTRADICTS_IE", 2],
        ["101-002", "enrol", "IEYN", "N", "IEYN_CONTRADICTS_IE", 3],
    ]
    msg = ie.queries["message"].tolist()
    assert (
        msg[4]
        == "Enrolled subject with exclusion criterion present: EX04 (Known hypersensitivity to sorafenib); protocol deviation"
    )
    assert msg[6].endswith("criteria not met: EX04, IN04")


def test_ie_all_met_is_empty(dm):
    ie = extract("ie", [{"SUBJID": "101-001", "IETESTCD": c, "IEORRES": "Y"} for c in ("IN01", "EX01")])
    enrol = extract(
        "enrol", [{"SUBJID": "101-001", "RFICDAT": "2018-01-20", "ENRLDAT": "2018-01-22", "TRTGRP": "SORAFENIB", "IEYN": "Y"}]
    )
    res = ie_mod.build(ie, enrol, dm, se_mod.build(dm, ENROL))
    assert res.data.empty and res.queries.empty
    assert list(res.data.columns) == [v.name for v in load_dataset_spec("sdtm", "ie").variables]
    ok, failures = validate_frame(res.data, load_dataset_spec("sdtm", "ie"))
    assert ok, failures.to_string()


def test_ie_does_not_depend_on_row_order(dm, ie):
    shuffled = extract("ie", IE.data.drop(columns=["_site", "_file", "_row"]).iloc[::-1].to_dict("records"))
    again = ie_mod.build(shuffled, ENROL, dm, se_mod.build(dm, ENROL))
    pd.testing.assert_frame_equal(again.data, ie.data)
