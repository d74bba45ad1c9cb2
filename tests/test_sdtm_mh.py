"""MH from a hand-made export: liver cirrhosis as a pre-specified question; worked out by hand.

101-001: cirrhosis Y -> MHOCCUR = Y. 101-002: cirrhosis N -> MHOCCUR = N (a pre-specified
"no" is still a record). 101-003: question left blank -> no record. 101-077: not in DM -> query.

Every record: MHTERM = LIVER CIRRHOSIS, MHDECOD = Hepatic cirrhosis (no MHCAT: one value only),
MHPRESP = Y, MHSEQ = 1; no onset date is collected. MHDTC = the hepatectomy (the assessment), so
MHDY = 1 and EPOCH = SCREENING (the first day of SCRN).
"""

import pytest
from sdtm_inputs import empty, extract

from pipeline.schemas import validate_frame
from pipeline.sdtm import dm as dm_mod
from pipeline.sdtm import mh as mh_mod
from pipeline.sdtm import se as se_mod
from pipeline.specs.datasets import load_dataset_spec

S1, S2 = "NCT02867280-101-101-001", "NCT02867280-101-101-002"

ENROL = extract(
    "enrol",
    [
        {"SUBJID": s, "RFICDAT": d, "ENRLDAT": d, "TRTGRP": "CONTROL", "IEYN": "Y"}
        for s, d in [("101-001", "2018-01-20"), ("101-002", "2018-02-10"), ("101-003", "2018-03-10")]
    ],
)
DEMOG = extract("dm", [{"SUBJID": s, "BRTHDAT": "1960-05-15", "SEX": "M"} for s in ["101-001", "101-002", "101-003"]])
SURG = extract(
    "surg",
    [
        {"SUBJID": "101-001", "PRSTDAT": "2018-01-10", "PRTRT": "ANATOMICAL HEPATECTOMY", "CIRRH": "Y"},
        {"SUBJID": "101-002", "PRSTDAT": "2018-02-01", "PRTRT": "ANATOMICAL HEPATECTOMY", "CIRRH": "N"},
        {"SUBJID": "101-003", "PRSTDAT": "2018-03-01", "PRTRT": "ANATOMICAL HEPATECTOMY"},
        {"SUBJID": "101-077", "PRSTDAT": "2018-03-05", "PRTRT": "ANATOMICAL HEPATECTOMY", "CIRRH": "Y"},
    ],
)


@pytest.fixture(scope="module")
def mh():
    dm = dm_mod.build(ENROL, DEMOG, SURG, empty("ex"), empty("ds"), empty("surv"), empty("ta"))
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
