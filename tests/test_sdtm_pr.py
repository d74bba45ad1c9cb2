"""PR from a hand-made two-subject export; every expected value worked out by hand.

101-001 SORAFENIB: anatomical hepatectomy 2018-01-10 (= RFSTDTC), first dose 2018-01-25.
101-002 CONTROL: non-anatomical hepatectomy 2018-02-01, enrolled 2018-02-12.
101-077: a surgery record of a subject never enrolled (not in DM).

The hepatectomy is the reference start: PRSTDY = 1, and it opens the SCRN element, so
EPOCH = SCREENING. One procedure per subject: PRSEQ = 1.
"""

import pytest
from sdtm_inputs import build_dm, empty, pair

from pipeline.schemas import validate_frame
from pipeline.sdtm import pr as pr_mod
from pipeline.sdtm import se as se_mod
from pipeline.specs.datasets import load_dataset_spec

S1, S2 = "NCT02867280-101-101-001", "NCT02867280-101-101-002"

ENROL, DEMOG, SURG, EX = pair(
    demog={"101-001": {"RACE": "ASIAN"}, "101-002": {"BRTHDAT": "1970-12-31", "SEX": "F", "RACE": "ASIAN"}},
    surg={
        "101-002": {"PRTRT": "NON-ANATOMICAL HEPATECTOMY"},
        "101-077": {"PRSTDAT": "2018-03-01", "PRTRT": "ANATOMICAL HEPATECTOMY"},  # not enrolled
    },
)


@pytest.fixture(scope="module")
def dm():
    return build_dm(ENROL, DEMOG, SURG, EX)


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
