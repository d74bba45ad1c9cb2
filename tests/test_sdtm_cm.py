"""CM from a hand-made export of antiviral therapy; every expected value worked out by hand.

101-001 SORAFENIB: hepatectomy 2018-01-10 (RFSTDTC), sorafenib 2018-01-25..2018-06-30, last
        contact 2018-09-30 (RFPENDTC). SE: SCREENING 01-10..01-25, TREATMENT 01-25..07-01,
        FOLLOW-UP 07-01..09-30.
  #1 entecavir from "2017-06" (partial, before surgery) to 2018-03-31, not ongoing:
     CMSTDY null, EPOCH null; CMENDY = 21 (rest of Jan) + 28 + 31 = 80 days after -> day 81.
  #2 tenofovir alafenamide from 2018-04-01, ongoing: CMSTDY 82, EPOCH TREATMENT,
     CMENRTPT ONGOING, CMENTPT = RFPENDTC 2018-09-30.
101-002 CONTROL: hepatectomy 2018-02-01, last contact 2018-10-15 (RFPENDTC).
  #1 entecavir, #9 lamivudine, #10 tenofovir disoproxil, all from 2018-01-05 (27 days before
     surgery: CMSTDY -27, EPOCH null), ongoing (CMENTPT 2018-10-15). Same start date:
     CMSEQ follows the medication number as a number (1, 9, 10), not as text.
  #2 adefovir 2018-05-01 to 2018-04-01: ends before it starts -> query, held back.
  #3 entecavir from 2018-01-05 again: same medication and start as #1 -> query, held back.
101-009: a medication of a subject never enrolled -> query.
"""

import pytest
from sdtm_inputs import build_dm, extract, pair

from pipeline.schemas import validate_frame
from pipeline.sdtm import cm as cm_mod
from pipeline.sdtm import se as se_mod
from pipeline.specs.datasets import load_dataset_spec

S1, S2 = "NCT02867280-101-101-001", "NCT02867280-101-101-002"

ENROL, DEMOG, SURG, EX = pair()
SURV = extract(
    "surv",
    [
        {"SUBJID": "101-001", "CONTDAT": "2018-09-30", "SURVSTAT": "ALIVE"},
        {"SUBJID": "101-002", "CONTDAT": "2018-10-15", "SURVSTAT": "ALIVE"},
    ],
)


def med(subjid, spid, trt, dose, start, end=None, ongoing="N"):
    return {
        "SUBJID": subjid,
        "CMSPID": spid,
        "CMTRT": trt,
        "CMDOSE": dose,
        "CMDOSU": "mg",
        "CMDOSFRQ": "QD",
        "CMSTDAT": start,
        "CMENDAT": end,
        "CMONGO": ongoing,
    }


CM = extract(
    "cm",
    [
        med("101-001", 1, "ENTECAVIR", 0.5, "2017-06", "2018-03-31"),  # row 2
        med("101-001", 2, "TENOFOVIR ALAFENAMIDE", 25.0, "2018-04-01", ongoing="Y"),  # row 3
        med("101-002", 10, "TENOFOVIR DISOPROXIL", 300.0, "2018-01-05", ongoing="Y"),  # row 4
        med("101-002", 1, "ENTECAVIR", 0.5, "2018-01-05", ongoing="Y"),  # row 5
        med("101-002", 2, "ADEFOVIR", 10.0, "2018-05-01", "2018-04-01"),  # row 6
        med("101-002", 3, "ENTECAVIR", 0.5, "2018-01-05", ongoing="Y"),  # row 7
        med("101-002", 9, "LAMIVUDINE", 100.0, "2018-01-05", ongoing="Y"),  # row 8
        med("101-009", 1, "ENTECAVIR", 0.5, "2018-01-05", ongoing="Y"),  # row 9
    ],
)


@pytest.fixture(scope="module")
def cm():
    dm = build_dm(ENROL, DEMOG, SURG, EX, surv=SURV)
    return cm_mod.build(CM, dm, se_mod.build(dm, ENROL))


def rows(df, cols):
    return df[cols].astype(object).where(df[cols].notna(), None).values.tolist()


def test_cm_conforms_to_its_spec(cm):
    ok, failures = validate_frame(cm.data, load_dataset_spec("sdtm", "cm"))
    assert ok, failures.to_string()


def test_cm_records_timing_and_ongoing(cm):
    cols = [
        "USUBJID",
        "CMSEQ",
        "CMSPID",
        "CMTRT",
        "CMDOSE",
        "EPOCH",
        "CMSTDTC",
        "CMENDTC",
        "CMSTDY",
        "CMENDY",
        "CMENRTPT",
        "CMENTPT",
    ]
    assert rows(cm.data, cols) == [
        [S1, 1.0, "1", "ENTECAVIR", 0.5, None, "2017-06", "2018-03-31", None, 81.0, None, None],
        [S1, 2.0, "2", "TENOFOVIR ALAFENAMIDE", 25.0, "TREATMENT", "2018-04-01", None, 82.0, None, "ONGOING", "2018-09-30"],
        [S2, 1.0, "1", "ENTECAVIR", 0.5, None, "2018-01-05", None, -27.0, None, "ONGOING", "2018-10-15"],
        [S2, 2.0, "9", "LAMIVUDINE", 100.0, None, "2018-01-05", None, -27.0, None, "ONGOING", "2018-10-15"],
        [S2, 3.0, "10", "TENOFOVIR DISOPROXIL", 300.0, None, "2018-01-05", None, -27.0, None, "ONGOING", "2018-10-15"],
    ]
    d = cm.data
    assert d["CMCAT"].eq("ANTIVIRAL THERAPY").all() and d["CMROUTE"].eq("ORAL").all()
    assert d["CMDOSU"].eq("mg").all() and d["CMDOSFRQ"].eq("QD").all()
    assert cm.lineage["RAWROW"].tolist() == [2, 3, 5, 8, 4]


def test_cm_queries(cm):
    assert cm.queries[["subjid", "field", "row", "rule"]].values.tolist() == [
        ["101-009", "SUBJID", 9, "SUBJECT_NOT_IN_DM"],
        ["101-002", "CMENDAT", 6, "END_BEFORE_START"],
        ["101-002", "CMSPID", 7, "DUPLICATE_MEDICATION"],
    ]
    assert cm.queries["form"].eq("cm").all()
    assert "ADEFOVIR" not in cm.data["CMTRT"].tolist()
