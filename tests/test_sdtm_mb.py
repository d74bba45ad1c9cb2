"""MB from a hand-made export: HBsAg before surgery; every expected value worked out by hand.

101-001 (hepatectomy 2018-01-10): HBsAg POSITIVE. 101-002 (hepatectomy 2018-02-01): NEGATIVE.
101-003: enrolled, but HBsAg left blank on the CRF: no MB record (nothing to submit).
101-077: surgery record of a subject never enrolled (not in DM): a query.

No date is collected: MBDTC null, timed by MBTPT = PRE-OPERATIVE relative to MBTPTREF =
HEPATECTOMY at MBRFTDTC = the hepatectomy date. One test per subject: MBSEQ = 1.
"""

import pandas as pd
import pytest
from sdtm_inputs import build_dm, pair_form

from pipeline.schemas import validate_frame
from pipeline.sdtm import mb as mb_mod
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
        "101-001": {"HBSAG": "POSITIVE"},
        "101-002": {"HBSAG": "NEGATIVE"},
        "101-003": {"PRSTDAT": "2018-03-01", "PRTRT": "ANATOMICAL HEPATECTOMY"},
        "101-077": {"PRSTDAT": "2018-03-05", "PRTRT": "ANATOMICAL HEPATECTOMY", "HBSAG": "POSITIVE"},  # not enrolled
    },
)


@pytest.fixture(scope="module")
def mb():
    dm = build_dm(ENROL, DEMOG, SURG)
    return mb_mod.build(SURG, dm, se_mod.build(dm, ENROL))


def test_mb_conforms_to_its_spec(mb):
    ok, failures = validate_frame(mb.data, load_dataset_spec("sdtm", "mb"))
    assert ok, failures.to_string()


def test_mb_hbsag_timed_by_the_hepatectomy(mb):
    cols = ["USUBJID", "MBSEQ", "MBTESTCD", "MBTEST", "MBORRES", "MBSTRESC", "MBSPEC", "MBTPT", "MBTPTREF", "MBRFTDTC"]
    assert mb.data[cols].values.tolist() == [
        [
            S1,
            1.0,
            "HBSAG",
            "Hepatitis B Virus Surface Antigen",
            "POSITIVE",
            "POSITIVE",
            "SERUM",
            "PRE-OPERATIVE",
            "HEPATECTOMY",
            "2018-01-10",
        ],
        [
            S2,
            1.0,
            "HBSAG",
            "Hepatitis B Virus Surface Antigen",
            "NEGATIVE",
            "NEGATIVE",
            "SERUM",
            "PRE-OPERATIVE",
            "HEPATECTOMY",
            "2018-02-01",
        ],
    ]
    assert mb.data["MBDTC"].isna().all()
    assert mb.lineage["RAWROW"].tolist() == [2, 3]


def test_mb_visit_epoch_time_point(mb):
    # The surgery form's visit (0, HEPATECTOMY); EPOCH of the reference date, the first day of SCRN.
    assert mb.data[["VISITNUM", "VISIT", "EPOCH", "MBTPTNUM"]].values.tolist() == [[0.0, "HEPATECTOMY", "SCREENING", 1.0]] * 2
    assert mb.data["MBDY"].isna().all() and mb.data["MBMETHOD"].isna().all()


def test_subject_not_in_dm_is_a_query(mb):
    assert mb.queries[["subjid", "form", "rule"]].values.tolist() == [["101-077", "surg", "SUBJECT_NOT_IN_DM"]]
    assert not mb.data["USUBJID"].str.endswith("101-077").any()
    assert not pd.Series(mb.data["USUBJID"]).str.endswith("101-003").any()
