"""SV from hand-made Findings records of one subject; every expected value worked out by hand.

Subject S1, hepatectomy (RFSTDTC) 2018-01-10.
  LB: SCREENING (1) on 2018-01-15 and 2018-01-17; the pre-operative AFP of HEPATECTOMY (0), undated, at its
      reference date LBRFTDTC 2018-01-10; MONTH 2 (2) on 2018-03-12.
  RS: HEPATECTOMY on 2018-01-10; MONTH 2 on 2018-03-12; an unscheduled assessment 2.01 on 2018-04-01.
  SS: a contact at 2.01 on 2018-04-01 (with the RS one), a contact 4.01 on 2018-06-01, a partial-date contact
      without VISITNUM (no visit).
Visits: 0 [01-10, 01-10] day 1-1, VISITDY 1; 1 [01-15, 01-17] days 6-8, no VISITDY; 2 [03-12] day 62 = VISITDY 62;
  2.01 [04-01] day 82 = 21 + 28 + 31 + 1, +1 (RS and SS: an assessment outside the schedule);
  4.01 [06-01] day 143 = 81 + 30 + 31, +1 (SS only: a survival status contact).
"""

import pandas as pd
import pytest
from listed import rows

from pipeline.columns import TEXT
from pipeline.schemas import validate_frame
from pipeline.sdtm import sv as sv_mod
from pipeline.sdtm.common import DomainResult, empty_queries
from pipeline.specs.datasets import load_dataset_spec

S1 = "NCT02867280-101-101-001"


def result(domain: str, records: list[dict]) -> DomainResult:
    df = pd.DataFrame(records)
    df.insert(0, "DOMAIN", domain)
    df.insert(0, "USUBJID", S1)
    df = df.astype({c: TEXT for c in df.columns if c != "VISITNUM"})
    return DomainResult(domain, df, pd.DataFrame(), empty_queries())


DM = DomainResult(
    "DM",
    pd.DataFrame(
        {"STUDYID": ["NCT02867280"], "USUBJID": [S1], "RFSTDTC": ["2018-01-10"], "RFXSTDTC": [None], "RFXENDTC": [None]}
    ),
    pd.DataFrame(),
    empty_queries(),
)
LB = result(
    "LB",
    [
        {"VISITNUM": 1.0, "VISIT": "SCREENING", "LBDTC": "2018-01-17", "LBRFTDTC": None},
        {"VISITNUM": 1.0, "VISIT": "SCREENING", "LBDTC": "2018-01-15", "LBRFTDTC": None},
        {"VISITNUM": 0.0, "VISIT": "HEPATECTOMY", "LBDTC": None, "LBRFTDTC": "2018-01-10"},
        {"VISITNUM": 2.0, "VISIT": "MONTH 2", "LBDTC": "2018-03-12", "LBRFTDTC": None},
    ],
)
RS = result(
    "RS",
    [
        {"VISITNUM": 0.0, "VISIT": "HEPATECTOMY", "RSDTC": "2018-01-10", "RSRFTDTC": None},
        {"VISITNUM": 2.0, "VISIT": "MONTH 2", "RSDTC": "2018-03-12", "RSRFTDTC": None},
        {"VISITNUM": 2.01, "VISIT": "UNSCHEDULED 2.01", "RSDTC": "2018-04-01", "RSRFTDTC": None},
    ],
)
SS = result(
    "SS",
    [
        {"VISITNUM": 2.01, "VISIT": "UNSCHEDULED 2.01", "SSDTC": "2018-04-01"},
        {"VISITNUM": 4.01, "VISIT": "UNSCHEDULED 4.01", "SSDTC": "2018-06-01"},
        {"VISITNUM": None, "VISIT": None, "SSDTC": "2018-08"},
    ],
)


@pytest.fixture(scope="module")
def sv():
    return sv_mod.build(DM, lb_=LB, rs_=RS, ss_=SS)


def test_sv_conforms_to_its_spec(sv):
    ok, failures = validate_frame(sv.data, load_dataset_spec("sdtm", "sv"))
    assert ok, failures.to_string()


def test_one_record_per_visit_with_its_dates(sv):
    cols = ["USUBJID", "VISITNUM", "VISIT", "SVPRESP", "SVOCCUR", "VISITDY", "SVSTDTC", "SVENDTC", "SVSTDY", "SVENDY", "SVUPDES"]
    assert rows(sv.data[cols]) == [
        [S1, 0.0, "HEPATECTOMY", "Y", "Y", 1.0, "2018-01-10", "2018-01-10", 1.0, 1.0, None],
        [S1, 1.0, "SCREENING", "Y", "Y", None, "2018-01-15", "2018-01-17", 6.0, 8.0, None],
        [S1, 2.0, "MONTH 2", "Y", "Y", 62.0, "2018-03-12", "2018-03-12", 62.0, 62.0, None],
        [
            S1,
            2.01,
            "UNSCHEDULED 2.01",
            None,
            None,
            None,
            "2018-04-01",
            "2018-04-01",
            82.0,
            82.0,
            "Assessment outside the visit schedule (RS, SS)",
        ],
        [S1, 4.01, "UNSCHEDULED 4.01", None, None, None, "2018-06-01", "2018-06-01", 143.0, 143.0, "Survival status contact"],
    ]
    assert set(sv.data["DOMAIN"]) == {"SV"} and set(sv.data["STUDYID"]) == {"NCT02867280"}


def test_sv_takes_every_findings_domain_with_visits():
    assert set(sv_mod.INPUTS) == {"dm", "lb_", "rs_", "is_", "mb_", "mi_", "tu_", "tr_", "ss_"}
    assert sv_mod.INPUTS["is_"] == ["sdtm", "is"]
