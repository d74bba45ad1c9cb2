"""PR from a hand-made two-subject export; every expected value worked out by hand.

101-001 SORAFENIB: anatomical hepatectomy 2018-01-10 (= RFSTDTC), first dose 2018-01-25.
101-002 CONTROL: non-anatomical hepatectomy 2018-02-01, enrolled 2018-02-12.
101-077: a surgery record of a subject never enrolled (not in DM).

The hepatectomy is the reference start: PRSTDY = 1, and it opens the SCRN element, so
EPOCH = SCREENING. One procedure per subject: PRSEQ = 1.
"""

import pytest
from sdtm_inputs import empty, extract

from pipeline.schemas import validate_frame
from pipeline.sdtm import dm as dm_mod
from pipeline.sdtm import pr as pr_mod
from pipeline.sdtm import se as se_mod
from pipeline.specs.datasets import load_dataset_spec

S1, S2 = "NCT02867280-101-101-001", "NCT02867280-101-101-002"

ENROL = extract(
    "enrol",
    [
        {"SUBJID": "101-001", "RFICDAT": "2018-01-20", "ENRLDAT": "2018-01-22", "TRTGRP": "SORAFENIB", "IEYN": "Y"},
        {"SUBJID": "101-002", "RFICDAT": "2018-02-10", "ENRLDAT": "2018-02-12", "TRTGRP": "CONTROL", "IEYN": "Y"},
    ],
)
DEMOG = extract(
    "dm",
    [
        {"SUBJID": "101-001", "BRTHDAT": "1960-05-15", "SEX": "M", "RACE": "ASIAN"},
        {"SUBJID": "101-002", "BRTHDAT": "1970-12-31", "SEX": "F", "RACE": "ASIAN"},
    ],
)
SURG = extract(
    "surg",
    [
        {"SUBJID": "101-001", "PRSTDAT": "2018-01-10", "PRTRT": "ANATOMICAL HEPATECTOMY"},
        {"SUBJID": "101-002", "PRSTDAT": "2018-02-01", "PRTRT": "NON-ANATOMICAL HEPATECTOMY"},
        {"SUBJID": "101-077", "PRSTDAT": "2018-03-01", "PRTRT": "ANATOMICAL HEPATECTOMY"},
    ],
)
EX = extract(
    "ex",
    [
        {
            "SUBJID": "101-001",
            "EXTRT": "SORAFENIB",
            "EXSTDAT": "2018-01-25",
            "EXENDAT": "2018-06-30",
            "EXDOSE": 400.0,
            "EXDOSU": "mg",
            "EXDOSFRQ": "QD",
        },
    ],
)


@pytest.fixture(scope="module")
def dm():
    return dm_mod.build(ENROL, DEMOG, SURG, EX, empty("ds"), empty("surv"), empty("ta"))


@pytest.fixture(scope="module")
def pr(dm):
    return pr_mod.build(SURG, dm, se_mod.build(dm, ENROL))


def test_pr_conforms_to_its_spec(pr):
    ok, failures = validate_frame(pr.data, load_dataset_spec("sdtm", "pr"))
    assert ok, failures.to_string()


def test_pr_one_hepatectomy_per_subject(pr):
    cols = ["USUBJID", "PRSEQ", "PRTRT", "PRCAT", "PRINDC", "PRLOC", "EPOCH", "PRSTDTC", "PRSTDY"]
    assert pr.data[cols].values.tolist() == [
        [S1, 1.0, "ANATOMICAL HEPATECTOMY", "SURGERY", "HEPATOCELLULAR CARCINOMA", "LIVER", "SCREENING", "2018-01-10", 1.0],
        [S2, 1.0, "NON-ANATOMICAL HEPATECTOMY", "SURGERY", "HEPATOCELLULAR CARCINOMA", "LIVER", "SCREENING", "2018-02-01", 1.0],
    ]
    assert pr.data["STUDYID"].eq("NCT02867280").all() and pr.data["DOMAIN"].eq("PR").all()
    assert pr.lineage[["USUBJID", "RECORD", "RAWFILE", "RAWROW"]].values.tolist() == [
        [S1, 1.0, "101/surg.csv", 2],
        [S2, 1.0, "101/surg.csv", 3],
    ]


def test_surgery_of_a_subject_not_in_dm_is_a_query(pr):
    assert pr.queries[["subjid", "form", "field", "row", "rule"]].values.tolist() == [
        ["101-077", "surg", "SUBJID", 4, "SUBJECT_NOT_IN_DM"]
    ]
    assert "101-077" not in pr.data["USUBJID"].str.cat()


def test_empty_surgery_form_gives_an_empty_valid_domain(dm):
    pr = pr_mod.build(empty("surg"), dm, se_mod.build(dm, ENROL))
    assert pr.data.empty and pr.queries.empty
    ok, failures = validate_frame(pr.data, load_dataset_spec("sdtm", "pr"))
    assert ok, failures.to_string()
