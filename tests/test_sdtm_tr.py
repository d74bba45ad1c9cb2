"""TR from the new-lesion export of test_sdtm_tu (see its docstring); every expected value worked out by hand.

101-001: NL01 15 mm and NL02 12.5 mm on 2018-05-10 (MRI, MONTH 4, day 121, FOLLOW-UP): TRSEQ by TRLNKID.
101-002: lesion "1" 9 mm on 2018-04-02 (CT SCAN, MONTH 2, day 61, FOLLOW-UP); "2" 20 mm on 2018-04-20 (day 79;
         no assessment that day, so no method or EPOCH in TU and TR, and TU's unscheduled visit 2.01); "3" measured 0 mm -> held back;
         "4" is not in TU (held back there) -> held back.
101-009: not in DM.
"""

import pytest
from listed import listed
from test_sdtm_tu import NL, S1, S2, inputs

from pipeline.schemas import validate_frame
from pipeline.sdtm import tr as tr_mod
from pipeline.specs.datasets import load_dataset_spec

COLS = [
    "USUBJID",
    "TRSEQ",
    "TRLNKID",
    "TRORRES",
    "TRORRESU",
    "TRSTRESC",
    "TRSTRESN",
    "TRSTRESU",
    "TRMETHOD",
    "VISITNUM",
    "VISIT",
    "TRDTC",
    "TRDY",
    "EPOCH",
]


@pytest.fixture(scope="module")
def tr():
    dm, se, tu = inputs()
    return tr_mod.build(NL, tu, dm, se)


def test_tr_conforms_to_spec(tr):
    ok, failures = validate_frame(tr.data, load_dataset_spec("sdtm", "tr"))
    assert ok, failures.to_string()
    assert set(zip(tr.data["TRTESTCD"], tr.data["TRTEST"], tr.data["TREVAL"])) == {("LDIAM", "Longest Diameter", "INVESTIGATOR")}


def test_one_longest_diameter_per_lesion(tr):
    d = tr.data[COLS]
    assert d.astype(object).where(d.notna(), None).values.tolist() == [
        [S1, 1, "NL01", "15", "mm", "15", 15.0, "mm", "MRI", 4.0, "MONTH 4", "2018-05-10", 121.0, "FOLLOW-UP"],
        [S1, 2, "NL02", "12.5", "mm", "12.5", 12.5, "mm", "MRI", 4.0, "MONTH 4", "2018-05-10", 121.0, "FOLLOW-UP"],
        [S2, 1, "1", "9", "mm", "9", 9.0, "mm", "CT SCAN", 2.0, "MONTH 2", "2018-04-02", 61.0, "FOLLOW-UP"],
        [S2, 2, "2", "20", "mm", "20", 20.0, "mm", None, 2.01, "UNSCHEDULED 2.01", "2018-04-20", 79.0, None],
    ]
    assert tr.data["TRLOBXFL"].isna().all()  # control subjects: no exposure
    assert tr.lineage["RAWROW"].tolist() == [3, 2, 4, 5]


def test_queries(tr):
    got = sorted(map(tuple, tr.queries[["subjid", "field", "value", "rule", "row"]].values.tolist()))
    assert got == [
        ("101-002", "LESID", "4", "LESION_NOT_IN_TU", 7),
        ("101-002", "LESSZ", "0.0", "SIZE_INVALID", 6),
        ("101-009", "SUBJID", "101-009", "SUBJECT_NOT_IN_DM", 8),
    ]


def test_number_text():
    import pandas as pd

    assert listed(tr_mod.number_text(pd.Series([7.0, 7.5, 120.25, None]))) == ["7", "7.5", "120.25", None]
