"""TA from specs/trial/ta.csv, arm names from study.yaml, element names from te.csv; expected by hand.

Sorted by ARMCD then TAETORD: CONTROL (SCRN, FU) before SORAFENIB (SCRN, SORA, FU). The
branch (the group chosen at enrollment) sits on each arm's SCRN element; no transition rules.
"""

import pandas as pd
import pytest

from pipeline.schemas import validate_frame
from pipeline.sdtm import ta as ta_mod
from pipeline.specs.datasets import load_dataset_spec


@pytest.fixture(scope="module")
def ta():
    return ta_mod.build()


def test_ta_records(ta):
    ok, failures = validate_frame(ta.data, load_dataset_spec("sdtm", "ta"))
    assert ok, failures.to_string()
    assert ta.data[["ARMCD", "ARM", "TAETORD", "ETCD", "ELEMENT", "EPOCH"]].values.tolist() == [
        ["CONTROL", "No adjuvant therapy", 1.0, "SCRN", "Screening", "SCREENING"],
        ["CONTROL", "No adjuvant therapy", 2.0, "FU", "Follow-up", "FOLLOW-UP"],
        ["SORAFENIB", "Sorafenib 400 mg QD for 2 years", 1.0, "SCRN", "Screening", "SCREENING"],
        ["SORAFENIB", "Sorafenib 400 mg QD for 2 years", 2.0, "SORA", "Sorafenib", "TREATMENT"],
        ["SORAFENIB", "Sorafenib 400 mg QD for 2 years", 3.0, "FU", "Follow-up", "FOLLOW-UP"],
    ]
    assert set(ta.data["STUDYID"]) == {"NCT02867280"} and set(ta.data["DOMAIN"]) == {"TA"}
    assert ta.data["TATRANS"].isna().all()
    branch = ta.data["TABRANCH"]
    assert branch.notna().tolist() == [True, False, True, False, False]
    assert branch[0].startswith("Assigned to CONTROL at enrollment") and branch[2].startswith("Assigned to SORAFENIB")
    assert ta.lineage[["RECORD", "RAWFILE", "RAWROW"]].values.tolist() == [
        [1.0, "specs/trial/ta.csv", 5],
        [2.0, "specs/trial/ta.csv", 6],
        [3.0, "specs/trial/ta.csv", 2],
        [4.0, "specs/trial/ta.csv", 3],
        [5.0, "specs/trial/ta.csv", 4],
    ]


def test_ta_unknown_element_raises(monkeypatch):
    real = ta_mod._read

    def fake(name):
        rows = real(name)
        if name == "ta.csv":
            rows.loc[1, "ETCD"] = "WASH"
        return rows

    monkeypatch.setattr(ta_mod, "_read", fake)
    with pytest.raises(ValueError, match="ETCD \\['WASH'\\] not in specs/trial/te.csv"):
        ta_mod.build()


def test_ta_is_deterministic(ta):
    pd.testing.assert_frame_equal(ta_mod.build().data, ta.data)
