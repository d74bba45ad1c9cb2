"""LB from a hand-made export of the three lab sources; every expected value worked out by hand.

101-001 SORAFENIB: hepatectomy 2018-01-10 (RFSTDTC), first dose 2018-01-25 (RFXSTDTC).
  Eligibility labs 2018-01-15 (day 6, SCREENING): WBC 5.2 10^9/L; HGB 13.5 g/dL -> x10 = 135 g/L;
  PLT 180 10^9/L (CRF code PLT -> CDISC PLAT); CREAT 1.0 mg/dL -> x88.4 = 88.4 umol/L;
  BILI 0.8 mg/dL -> x17.1 = 13.68 umol/L; ALT 40 U/L; ALB 3.5 mg/dL: lb_units.csv has no
  (ALB, mg/dL) conversion -> query, record held back.
  Pre-operative AFP 25 ng/mL -> ug/L (CDISC synonym), factor 1: 25 ug/L; no date (LBTPT).
  Follow-up AFP: Month 1 2018-01-24 30 ng/mL (day 15, SCREENING, before the first dose; month 1 is
  not on the schedule, so an unscheduled visit after SCREENING (VISITNUM 1, from day 2) and
  before MONTH 2 (day 62): VISITNUM 1.01, VISIT UNSCHEDULED 1.01);
  Month 2 2018-03-10 10 IU/mL -> x1.21 = 12.1 ug/L (day 31+28+1 = 60, TREATMENT);
  Month 4 without AFP (no record); Month 6 AFP 5 without unit -> query, held back.
  LBLOBXFL (last result on or before 2018-01-25, per test): every eligibility test, and for
  AFP the Month 1 result (later than the pre-operative one).
  Visits by form: eligibility labs SCREENING (1), the pre-operative AFP HEPATECTOMY (0, LBTPTNUM 1,
  EPOCH of its reference date 2018-01-10 = the first day of SCRN: SCREENING).
  LBSEQ: by LBTESTCD, pre-operative first, then LBDTC: AFP 1-3, ALT 4, BILI 5, CREAT 6,
  HGB 7, PLAT 8, WBC 9.
101-002 CONTROL: hepatectomy 2018-02-01. WBC 6.0 on 2018-01-28: 4 days before, LBDY -4, before
  the first SE element so its EPOCH (SCREENING); visit SCREENING by its form. Pre-operative AFP 100 IU/mL -> 121 ug/L. Follow-up AFP
  8 ug/L at 术后2个月 (VISIT = MONTH 2, one English name for every site) on 2018-04-01: day 28+31+1 = 60, FOLLOW-UP.
  Never dosed: no LBLOBXFL.
101-009: an eligibility lab of a subject never enrolled -> query.
"""

import pytest
from sdtm_inputs import build_dm, extract, pair

from pipeline.schemas import validate_frame
from pipeline.sdtm import lb as lb_mod
from pipeline.sdtm import se as se_mod
from pipeline.specs.datasets import load_dataset_spec

S1, S2 = "NCT02867280-101-101-001", "NCT02867280-101-101-002"

ENROL, DEMOG, SURG, EX = pair(
    enrol={"101-001": {"RFICDAT": "2018-01-12"}},
    surg={"101-001": {"AFP": 25.0, "AFPU": "ng/mL"}, "101-002": {"AFP": 100.0, "AFPU": "IU/mL"}},
)
SURV = extract(
    "surv",
    [
        {"SUBJID": "101-001", "CONTDAT": "2018-09-30", "SURVSTAT": "ALIVE"},
        {"SUBJID": "101-002", "CONTDAT": "2018-10-15", "SURVSTAT": "ALIVE"},
    ],
)


def lab(subjid, dat, test, res, unit):
    return {"SUBJID": subjid, "LBDAT": dat, "LBTESTCD": test, "LBORRES": res, "LBORRESU": unit}


LB = extract(
    "lb",
    [
        lab("101-001", "2018-01-15", "WBC", 5.2, "10^9/L"),  # row 2
        lab("101-001", "2018-01-15", "HGB", 13.5, "g/dL"),  # row 3
        lab("101-001", "2018-01-15", "PLT", 180.0, "10^9/L"),  # row 4
        lab("101-001", "2018-01-15", "CREAT", 1.0, "mg/dL"),  # row 5
        lab("101-001", "2018-01-15", "BILI", 0.8, "mg/dL"),  # row 6
        lab("101-001", "2018-01-15", "ALT", 40.0, "U/L"),  # row 7
        lab("101-001", "2018-01-15", "ALB", 3.5, "mg/dL"),  # row 8: no (ALB, mg/dL) conversion
        lab("101-002", "2018-01-28", "WBC", 6.0, "10^9/L"),  # row 9
        lab("101-009", "2018-01-28", "WBC", 6.0, "10^9/L"),  # row 10: not in DM
    ],
)


def visit(subjid, name, dat, afp=None, unit=None):
    return {"SUBJID": subjid, "VISIT": name, "TADAT": dat, "TAMETHOD": "CT SCAN", "AFP": afp, "AFPU": unit, "RECUR": "N"}


TA = extract(
    "ta",
    [
        visit("101-001", "Month 1", "2018-01-24", 30.0, "ng/mL"),  # row 2
        visit("101-001", "Month 2", "2018-03-10", 10.0, "IU/mL"),  # row 3
        visit("101-001", "Month 4", "2018-05-10"),  # row 4: no AFP
        visit("101-001", "Month 6", "2018-07-10", 5.0),  # row 5: no unit
        visit("101-002", "术后2个月", "2018-04-01", 8.0, "ug/L"),  # row 6
    ],
)


def build(ta=TA):
    dm = build_dm(ENROL, DEMOG, SURG, EX, surv=SURV, ta=ta)
    return lb_mod.build(LB, SURG, ta, dm, se_mod.build(dm, ENROL))


@pytest.fixture(scope="module")
def lb():
    return build()


def rows(df, cols):
    return df[cols].astype(object).where(df[cols].notna(), None).values.tolist()


def test_lb_conforms_to_its_spec(lb):
    ok, failures = validate_frame(lb.data, load_dataset_spec("sdtm", "lb"))
    assert ok, failures.to_string()


def test_lb_results_standardised(lb):
    cols = [
        "USUBJID",
        "LBSEQ",
        "LBTESTCD",
        "LBTEST",
        "LBCAT",
        "LBORRES",
        "LBORRESU",
        "LBSTRESC",
        "LBSTRESN",
        "LBSTRESU",
        "LBSPEC",
    ]
    tm, ch, he = "TUMOR MARKERS", "CHEMISTRY", "HEMATOLOGY"
    assert rows(lb.data, cols) == [
        [S1, 1.0, "AFP", "Alpha Fetoprotein", tm, "25", "ug/L", "25", 25.0, "ug/L", "SERUM"],
        [S1, 2.0, "AFP", "Alpha Fetoprotein", tm, "30", "ug/L", "30", 30.0, "ug/L", "SERUM"],
        [S1, 3.0, "AFP", "Alpha Fetoprotein", tm, "10", "IU/mL", "12.1", 12.1, "ug/L", "SERUM"],
        [S1, 4.0, "ALT", "Alanine Aminotransferase", ch, "40", "U/L", "40", 40.0, "U/L", "SERUM"],
        [S1, 5.0, "BILI", "Bilirubin", ch, "0.8", "mg/dL", "13.68", 13.68, "umol/L", "SERUM"],
        [S1, 6.0, "CREAT", "Creatinine", ch, "1", "mg/dL", "88.4", 88.4, "umol/L", "SERUM"],
        [S1, 7.0, "HGB", "Hemoglobin", he, "13.5", "g/dL", "135", 135.0, "g/L", "BLOOD"],
        [S1, 8.0, "PLAT", "Platelets", he, "180", "10^9/L", "180", 180.0, "10^9/L", "BLOOD"],
        [S1, 9.0, "WBC", "Leukocytes", he, "5.2", "10^9/L", "5.2", 5.2, "10^9/L", "BLOOD"],
        [S2, 1.0, "AFP", "Alpha Fetoprotein", tm, "100", "IU/mL", "121", 121.0, "ug/L", "SERUM"],
        [S2, 2.0, "AFP", "Alpha Fetoprotein", tm, "8", "ug/L", "8", 8.0, "ug/L", "SERUM"],
        [S2, 3.0, "WBC", "Leukocytes", he, "6", "10^9/L", "6", 6.0, "10^9/L", "BLOOD"],
    ]
    for v in ["LBORNRLO", "LBORNRHI", "LBSTNRLO", "LBSTNRHI", "LBNRIND"]:
        assert lb.data[v].isna().all()


def test_lb_timing_and_baseline_flag(lb):
    cols = [
        "USUBJID",
        "LBTESTCD",
        "LBDTC",
        "LBDY",
        "EPOCH",
        "VISITNUM",
        "VISIT",
        "LBTPT",
        "LBTPTNUM",
        "LBTPTREF",
        "LBRFTDTC",
        "LBLOBXFL",
    ]
    pre = ["PRE-OPERATIVE", 1.0, "HEPATECTOMY"]
    nt = [None, None, None]
    assert rows(lb.data, cols) == [
        [S1, "AFP", None, None, "SCREENING", 0.0, "HEPATECTOMY", *pre, "2018-01-10", None],
        [S1, "AFP", "2018-01-24", 15.0, "SCREENING", 1.01, "UNSCHEDULED 1.01", *nt, None, "Y"],
        [S1, "AFP", "2018-03-10", 60.0, "TREATMENT", 2.0, "MONTH 2", *nt, None, None],
        *[
            [S1, t, "2018-01-15", 6.0, "SCREENING", 1.0, "SCREENING", *nt, None, "Y"]
            for t in ["ALT", "BILI", "CREAT", "HGB", "PLAT", "WBC"]
        ],
        [S2, "AFP", None, None, "SCREENING", 0.0, "HEPATECTOMY", *pre, "2018-02-01", None],
        [S2, "AFP", "2018-04-01", 60.0, "FOLLOW-UP", 2.0, "MONTH 2", *nt, None, None],
        [S2, "WBC", "2018-01-28", -4.0, "SCREENING", 1.0, "SCREENING", *nt, None, None],
    ]


def test_pre_operative_afp_is_the_last_before_exposure_without_an_earlier_dated_one():
    lb = build(extract("ta", [visit("101-001", "Month 2", "2018-03-10", 10.0, "IU/mL")]))
    afp = lb.data[(lb.data["USUBJID"] == S1) & (lb.data["LBTESTCD"] == "AFP")]
    assert rows(afp, ["LBTPT", "LBLOBXFL"]) == [["PRE-OPERATIVE", "Y"], [None, None]]


def test_unknown_unit_missing_unit_and_unenrolled_subject_are_queries(lb):
    q = lb.queries
    assert q[["subjid", "form", "field", "row", "value", "rule"]].values.tolist() == [
        ["101-009", "lb", "SUBJID", 10, "101-009", "SUBJECT_NOT_IN_DM"],
        ["101-001", "lb", "LBORRESU", 8, "mg/dL", "LB_UNIT_UNKNOWN"],
        ["101-001", "ta", "AFPU", 5, "", "LB_UNIT_UNKNOWN"],
    ]
    assert "ALB" in q["message"].iloc[1] and "no unit" in q["message"].iloc[2]
    assert "ALB" not in lb.data["LBTESTCD"].tolist()
    # Lineage of the held-back rows is absent; every kept record points to its raw row.
    assert sorted(lb.lineage.loc[lb.lineage["RAWFILE"] == "101/lb.csv", "RAWROW"]) == [2, 3, 4, 5, 6, 7, 9]
