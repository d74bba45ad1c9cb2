"""IS from a hand-made export: anti-HCV antibody before surgery; expected values worked out by hand.

101-001 (hepatectomy 2018-01-10): anti-HCV NEGATIVE. 101-002 (hepatectomy 2018-02-01): POSITIVE.
101-077: surgery record of a subject never enrolled (not in DM): a query.

ISTESTCD = MBAB (Microbial-induced Antibody), ISBDAGNT = HEPATITIS C VIRUS, ISDTC null,
ISTPT = PRE-OPERATIVE (ISTPTNUM 1) relative to ISTPTREF = HEPATECTOMY at ISRFTDTC = hepatectomy date.
The surgery form's visit: VISITNUM 0, HEPATECTOMY. EPOCH of the reference date: both subjects' SCRN
element starts at the hepatectomy (101-001 to enrollment 2018-01-22), so SCREENING. ISDY null (no ISDTC);
the result is qualitative: units, ranges, ISSTRESN and ISLLOQ null.
The module is pipeline.sdtm.is_ (``is`` is a Python keyword); its dataset is IS.
"""

import pytest
from sdtm_inputs import build_dm, pair

from pipeline.schemas import validate_frame
from pipeline.sdtm import is_ as is_mod
from pipeline.sdtm import se as se_mod
from pipeline.specs.datasets import load_dataset_spec

S1, S2 = "NCT02867280-101-101-001", "NCT02867280-101-101-002"

ENROL, DEMOG, SURG, _ = pair(
    surg={
        "101-001": {"ANTIHCV": "NEGATIVE"},
        "101-002": {"ANTIHCV": "POSITIVE"},
        "101-077": {"PRSTDAT": "2018-03-05", "PRTRT": "ANATOMICAL HEPATECTOMY", "ANTIHCV": "NEGATIVE"},  # not enrolled
    }
)


@pytest.fixture(scope="module")
def is_():
    dm = build_dm(ENROL, DEMOG, SURG)
    return is_mod.build(SURG, dm, se_mod.build(dm, ENROL))


def test_is_module_declares_the_is_dataset():
    assert is_mod.DOMAIN == "IS" and is_mod.DOMAIN.lower() == "is"


def test_is_conforms_to_its_spec(is_):
    ok, failures = validate_frame(is_.data, load_dataset_spec("sdtm", "is"))
    assert ok, failures.to_string()


def test_is_anti_hcv_antibody(is_):
    cols = [
        "USUBJID",
        "ISSEQ",
        "ISTESTCD",
        "ISTEST",
        "ISBDAGNT",
        "ISORRES",
        "ISSTRESC",
        "ISSPEC",
        "ISTPT",
        "ISTPTREF",
        "ISRFTDTC",
    ]
    assert is_.data[cols].values.tolist() == [
        [
            S1,
            1.0,
            "MBAB",
            "Microbial-induced Antibody",
            "HEPATITIS C VIRUS",
            "NEGATIVE",
            "NEGATIVE",
            "SERUM",
            "PRE-OPERATIVE",
            "HEPATECTOMY",
            "2018-01-10",
        ],
        [
            S2,
            1.0,
            "MBAB",
            "Microbial-induced Antibody",
            "HEPATITIS C VIRUS",
            "POSITIVE",
            "POSITIVE",
            "SERUM",
            "PRE-OPERATIVE",
            "HEPATECTOMY",
            "2018-02-01",
        ],
    ]
    assert is_.data["ISDTC"].isna().all() and is_.data["DOMAIN"].eq("IS").all()


def test_is_visit_epoch_time_point_and_empty_result_variables(is_):
    cols = ["VISITNUM", "VISIT", "EPOCH", "ISTPTNUM"]
    assert is_.data[cols].values.tolist() == [[0.0, "HEPATECTOMY", "SCREENING", 1.0]] * 2
    for v in ["ISDY", "ISORRESU", "ISORNRLO", "ISORNRHI", "ISSTRESN", "ISSTRESU", "ISSTNRLO", "ISSTNRHI", "ISNRIND", "ISLLOQ"]:
        assert is_.data[v].isna().all(), v


def test_subject_not_in_dm_is_a_query(is_):
    assert is_.queries[["subjid", "form", "row", "rule"]].values.tolist() == [["101-077", "surg", 4, "SUBJECT_NOT_IN_DM"]]
