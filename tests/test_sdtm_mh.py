"""MH from a hand-made export: liver cirrhosis as a pre-specified question; worked out by hand.

101-001: cirrhosis Y -> MHOCCUR = Y. 101-002: cirrhosis N -> MHOCCUR = N (a pre-specified
"no" is still a record). 101-003: question left blank -> no record. 101-077: not in DM -> query.

Every record: MHTERM = LIVER CIRRHOSIS, MHDECOD = Hepatic cirrhosis (no MHCAT: one value only),
MHPRESP = Y, MHSEQ = 1; no onset date is collected. MHDTC = the hepatectomy (the assessment), so
MHDY = 1 and EPOCH = SCREENING (the first day of SCRN).
"""

import pytest
from sdtm_inputs import build_dm, pair_form

from pipeline.schemas import validate_frame
from pipeline.sdtm import mh as mh_mod
from pipeline.sdtm import se as se_mod
from pipeline.specs.datasets import load_dataset_spec

S1, S2 = "NCT02867280-101-101-001", "NCT02867280-101-101-002"

# Three CONTROL subjects, each consenting on the day of enrolment.
ENROL = pair_form(
    "enrol",
    {
        "101-001": {"ENRLDAT": "2018-01-20", "TRTGRP": "CONTROL"},
        "101-002": {"ENRLDAT": "2018-02-10"},
        "101-003": {"RFICDAT": "2018-03-10", "ENRLDAT": "2018-03-10", "TRTGRP": "CONTROL", "IEYN": "Y"},
    },
)
DEMOG = pair_form("dm", {"101-003": {"BRTHDAT": "1960-05-15", "SEX": "M"}})
SURG = pair_form(
    "surg",
    {
        "101-001": {"CIRRH": "Y"},
        "101-002": {"CIRRH": "N"},
        "101-003": {"PRSTDAT": "2018-03-01", "PRTRT": "ANATOMICAL HEPATECTOMY"},
        "101-077": {"PRSTDAT": "2018-03-05", "PRTRT": "ANATOMICAL HEPATECTOMY", "CIRRH": "Y"},  # not enrolled
    },
)


@pytest.fixture(scope="module")
def mh():
    dm = build_dm(ENROL, DEMOG, SURG)
    return mh_mod.build(SURG, dm, se_mod.build(dm, ENROL))


def test_mh_conforms_to_its_spec(mh):
    ok, failures = validate_frame(mh.data, load_dataset_spec("sdtm", "mh"))
    assert ok, failures.to_string()


def test_mh_cirrhosis_pre_specified(mh):
    cols = ["USUBJID", "MHSEQ", "MHTERM", "MHDECOD", "MHPRESP", "MHOCCUR", "MHDTC", "MHDY", "EPOCH"]
    assert mh.data[cols].values.tolist() == [
        [S1, 1.0, "LIVER CIRRHOSIS", "Hepatic cirrhosis", "Y", "Y", "2018-01-10", 1.0, "SCREENING"],
        [S2, 1.0, "LIVER CIRRHOSIS", "Hepatic cirrhosis", "Y", "N", "2018-02-01", 1.0, "SCREENING"],
    ]
    assert "MHCAT" not in mh.data.columns  # one value only: not submitted
    assert mh.lineage["RAWROW"].tolist() == [2, 3]


def test_subject_not_in_dm_is_a_query(mh):
    assert mh.queries[["subjid", "form", "rule"]].values.tolist() == [["101-077", "surg", "SUBJECT_NOT_IN_DM"]]
