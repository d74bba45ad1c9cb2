"""MI from a hand-made export: pathology of the resected tumour; every value worked out by hand.

101-001 SORAFENIB, hepatectomy 2018-01-10: MVI Y, Edmondson-Steiner III, largest diameter
        4.0 cm, 2 tumours -> four records, MISEQ 1-4 in the order VASINV, OVLTGRD, LDIAM, TUMNUM.
101-002 CONTROL, hepatectomy 2018-02-01: MVI N, grade left blank, 2.35 cm, 1 tumour ->
        three records (no OVLTGRD record: nothing was collected), MISEQ 1-3.
101-077: a surgery record of a subject never enrolled -> a query, no MI records.

VASINV: Y -> PRESENT, N -> ABSENT (specs/ct/raw_to_sdtm.csv). LDIAM: MIORRES "4" (4.0
without the spurious .0), MIORRESU = MISTRESU = cm, MISTRESN 4.0. TUMNUM: "2", MISTRESN 2.0,
no unit. MIDTC = the hepatectomy date, so MIDY = 1, EPOCH = SCREENING and VISITNUM 0 (HEPATECTOMY).
MILOBXFL = Y on 101-001's four results (before its first dose 2018-01-25); 101-002 is a control: null.
"""

import pandas as pd
import pytest
from sdtm_inputs import build_dm, pair

from pipeline.schemas import validate_frame
from pipeline.sdtm import mi as mi_mod
from pipeline.sdtm import se as se_mod
from pipeline.specs.datasets import load_dataset_spec

S1, S2 = "NCT02867280-101-101-001", "NCT02867280-101-101-002"

ENROL, DEMOG, SURG, EX = pair(
    surg={
        "101-001": {"MVI": "Y", "EDMGRD": "III", "TUMSZ": 4.0, "TUMNUM": 2},
        "101-002": {"MVI": "N", "TUMSZ": 2.35, "TUMNUM": 1},
        "101-077": {
            "PRSTDAT": "2018-03-05",
            "PRTRT": "ANATOMICAL HEPATECTOMY",
            "MVI": "Y",
            "EDMGRD": "II",
            "TUMSZ": 3.0,
            "TUMNUM": 1,
        },
    }
)


@pytest.fixture(scope="module")
def mi():
    dm = build_dm(ENROL, DEMOG, SURG, EX)
    return mi_mod.build(SURG, dm, se_mod.build(dm, ENROL))


def rows(df, cols):
    return df[cols].astype(object).where(df[cols].notna(), None).values.tolist()


def test_mi_conforms_to_its_spec(mi):
    ok, failures = validate_frame(mi.data, load_dataset_spec("sdtm", "mi"))
    assert ok, failures.to_string()


def test_mi_four_findings_of_the_specimen(mi):
    cols = ["USUBJID", "MISEQ", "MITESTCD", "MITEST", "MITSTDTL", "MIORRES", "MIORRESU", "MISTRESC", "MISTRESN", "MISTRESU"]
    assert rows(mi.data, cols) == [
        [S1, 1.0, "VASINV", "Vascular Invasion", None, "PRESENT", None, "PRESENT", None, None],
        [S1, 2.0, "OVLTGRD", "Overall Tumor Grade", "EDMONDSON-STEINER GRADE", "III", None, "III", None, None],
        [S1, 3.0, "LDIAM", "Longest Diameter", None, "4", "cm", "4", 4.0, "cm"],
        [S1, 4.0, "TUMNUM", "Number of Tumors", None, "2", None, "2", 2.0, None],
        [S2, 1.0, "VASINV", "Vascular Invasion", None, "ABSENT", None, "ABSENT", None, None],
        [S2, 2.0, "LDIAM", "Longest Diameter", None, "2.35", "cm", "2.35", 2.35, "cm"],
        [S2, 3.0, "TUMNUM", "Number of Tumors", None, "1", None, "1", 1.0, None],
    ]


def test_mi_timing_is_the_hepatectomy(mi):
    d = mi.data
    assert d["MIDTC"].tolist() == ["2018-01-10"] * 4 + ["2018-02-01"] * 3
    assert d["MIDY"].tolist() == [1.0] * 7 and d["EPOCH"].tolist() == ["SCREENING"] * 7
    assert d["MISPEC"].eq("TISSUE").all() and d["MILOC"].eq("LIVER").all()
    # The surgery form's visit; the specimen precedes 101-001's first dose (2018-01-25): the last (only)
    # result of each test before exposure. 101-002 is a control subject: no exposure, no flag.
    assert set(d["VISITNUM"]) == {0.0} and set(d["VISIT"]) == {"HEPATECTOMY"} and d["MISPCCND"].isna().all()
    assert rows(d, ["MILOBXFL"]) == [["Y"]] * 4 + [[None]] * 3
    # Lineage: every record of a subject points to its one surgery row.
    assert mi.lineage["RAWROW"].tolist() == [2, 2, 2, 2, 3, 3, 3]


def test_subject_not_in_dm_is_a_query(mi):
    assert mi.queries[["subjid", "form", "row", "rule"]].values.tolist() == [["101-077", "surg", 4, "SUBJECT_NOT_IN_DM"]]
    assert not pd.Series(mi.data["USUBJID"]).str.endswith("101-077").any()
