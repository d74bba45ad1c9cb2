"""TU from a hand-made new-lesion form of two control subjects; every expected value worked out by hand.

The same export feeds the TR, SUPPTU and RELREC tests (they import NL, TA and the ``inputs`` helper).
SE of a control subject: SCRN [hepatectomy, enrolment), FU [enrolment, RFPENDTC = last assessment].

101-001: hepatectomy 2018-01-10, enrolled 2018-01-22; assessments 2018-03-12 (ultrasound, no recurrence) and
         2018-05-10 (MRI, "Month 4" -> VISIT MONTH 4, recurrence) -> FU [01-22, 05-10]. Two new lesions on 2018-05-10 (day 121 =
         21 + 28 + 31 + 30 + 10, +1), written NL02 then NL01 in the file: TUSEQ follows TULNKID, so
         NL01 (lung, extrahepatic) gets 1-2 and NL02 (segment S8 -> LIVER, RIGHT LOBE ANTEROSUPERIOR SEGMENT) 3-4.
101-002: hepatectomy 2018-02-01, enrolled 2018-02-12; one assessment 2018-04-02 (CT, "术后第2月" -> MONTH 2, RECUR = N)
         -> FU [02-12, 04-02]. Lesions:
         "1" on 2018-04-02 (day 61 = 28 + 31 + 1, +1), S3 -> LIVER, LEFT LOBE ANTEROLATERAL SEGMENT: found at an
             assessment without recurrence -> queried, kept;
         "2" on 2018-04-20 (day 79), liver without segment -> TULOC LIVER: no assessment that day -> queried, kept
             with TUMETHOD null, an unscheduled visit by its date (day 79: after MONTH 2, day 62, before
             MONTH 4, day 123 -> VISITNUM 2.01, UNSCHEDULED 2.01); after the last element -> EPOCH null;
         "3" on 2018-04-02, bone but with segment S2 and extrahepatic: the spec's TULOC is the segment's location
             (LIVER, LEFT LOBE POSTEROLATERAL SEGMENT) -> location queried, kept; size 0 (TR) and basis "GUESS" (SUPPTU);
         "4" on 2018-04-02 with LESSITE "BOTH" (no TUIDRS term) -> held back.
         By TUDTC then TULNKID: "1" (1-2), "3" (3-4), "2" (5-6).
101-009: a lesion of a subject who is not in DM.
Both subjects are controls (no exposure): TULOBXFL null everywhere.
"""

import pytest
from sdtm_inputs import build_dm, empty, extract, pair_form

from pipeline.schemas import validate_frame
from pipeline.sdtm import se as se_mod
from pipeline.sdtm import tu as tu_mod
from pipeline.specs.datasets import load_dataset_spec

S1, S2 = "NCT02867280-101-101-001", "NCT02867280-101-101-002"
SEG8, SEG3, SEG2 = (
    "LIVER, RIGHT LOBE ANTEROSUPERIOR SEGMENT",
    "LIVER, LEFT LOBE ANTEROLATERAL SEGMENT",
    "LIVER, LEFT LOBE POSTEROLATERAL SEGMENT",
)

# Both CONTROL, consenting on the day of enrolment.
ENROL = pair_form("enrol", {"101-001": {"RFICDAT": "2018-01-22", "TRTGRP": "CONTROL"}, "101-002": {"RFICDAT": "2018-02-12"}})
DEMOG = pair_form("dm", every={"BRTHDAT": "1960-01-01", "RACE": "ASIAN"})
SURG = pair_form("surg", every={"PRTRT": None})
TA = extract(
    "ta",
    [
        {"SUBJID": "101-001", "VISIT": "Month 2", "TADAT": "2018-03-12", "TAMETHOD": "ULTRASOUND", "RECUR": "N"},
        {
            "SUBJID": "101-001",
            "VISIT": "Month 4",
            "TADAT": "2018-05-10",
            "TAMETHOD": "MRI",
            "RECUR": "Y",
            "RECURDAT": "2018-05-10",
        },
        {"SUBJID": "101-002", "VISIT": "术后第2月", "TADAT": "2018-04-02", "TAMETHOD": "CT SCAN", "RECUR": "N"},
    ],
)
NL = extract(
    "nl",
    [
        {
            "SUBJID": "101-001",
            "TADAT": "2018-05-10",
            "LESID": "NL02",
            "LESLOC": "LIVER",
            "LIVSEG": "S8",
            "LESSZ": 12.5,
            "LESSITE": "INTRAHEPATIC",
            "DIAGBAS": "HISTOPATHOLOGY",
        },
        {
            "SUBJID": "101-001",
            "TADAT": "2018-05-10",
            "LESID": "NL01",
            "LESLOC": "LUNG",
            "LESSZ": 15.0,
            "LESSITE": "EXTRAHEPATIC",
            "DIAGBAS": "IMAGING",
        },
        {
            "SUBJID": "101-002",
            "TADAT": "2018-04-02",
            "LESID": "1",
            "LESLOC": "LIVER",
            "LIVSEG": "S3",
            "LESSZ": 9.0,
            "LESSITE": "INTRAHEPATIC",
            "DIAGBAS": "IMAGING",
        },
        {
            "SUBJID": "101-002",
            "TADAT": "2018-04-20",
            "LESID": "2",
            "LESLOC": "LIVER",
            "LESSZ": 20.0,
            "LESSITE": "INTRAHEPATIC",
            "DIAGBAS": "IMAGING AND AFP",
        },
        {
            "SUBJID": "101-002",
            "TADAT": "2018-04-02",
            "LESID": "3",
            "LESLOC": "BONE",
            "LIVSEG": "S2",
            "LESSZ": 0.0,
            "LESSITE": "EXTRAHEPATIC",
            "DIAGBAS": "GUESS",
        },
        {
            "SUBJID": "101-002",
            "TADAT": "2018-04-02",
            "LESID": "4",
            "LESLOC": "LIVER",
            "LIVSEG": "S4",
            "LESSZ": 10.0,
            "LESSITE": "BOTH",
            "DIAGBAS": "IMAGING",
        },
        {
            "SUBJID": "101-009",
            "TADAT": "2018-04-02",
            "LESID": "NL01",
            "LESLOC": "LIVER",
            "LIVSEG": "S4",
            "LESSZ": 10.0,
            "LESSITE": "INTRAHEPATIC",
            "DIAGBAS": "IMAGING",
        },
    ],
)


def inputs():
    """(dm, se, tu) built from this export."""
    dm = build_dm(ENROL, DEMOG, SURG, ta=TA)
    se = se_mod.build(dm, ENROL)
    return dm, se, tu_mod.build(NL, TA, dm, se)


@pytest.fixture(scope="module")
def tu():
    return inputs()[2]


def rows(result, usubjid, cols):
    d = result.data[result.data["USUBJID"].eq(usubjid)][cols]
    return d.astype(object).where(d.notna(), None).values.tolist()


COLS = ["TUSEQ", "TULNKID", "TUTESTCD", "TUORRES", "TUSTRESC", "TULOC", "TUMETHOD", "VISITNUM", "VISIT", "TUDTC", "TUDY", "EPOCH"]


def test_tu_conforms_to_spec(tu):
    ok, failures = validate_frame(tu.data, load_dataset_spec("sdtm", "tu"))
    assert ok, failures.to_string()
    assert set(zip(tu.data["TUTESTCD"], tu.data["TUTEST"])) == {
        ("TUMIDENT", "Tumor Identification"),
        ("DRCRLTLC", "Disease Recurrence Relative Location"),
    }
    assert set(tu.data["TUEVAL"]) == {"INVESTIGATOR"}


def test_two_records_per_lesion_located_and_timed_by_the_assessment(tu):
    assert rows(tu, S1, COLS) == [
        [1, "NL01", "TUMIDENT", "NEW", "NEW", "LUNG", "MRI", 4.0, "MONTH 4", "2018-05-10", 121.0, "FOLLOW-UP"],
        [2, "NL01", "DRCRLTLC", "EXTRAHEPATIC", "EXTRAHEPATIC", "LUNG", "MRI", 4.0, "MONTH 4", "2018-05-10", 121.0, "FOLLOW-UP"],
        [3, "NL02", "TUMIDENT", "NEW", "NEW", SEG8, "MRI", 4.0, "MONTH 4", "2018-05-10", 121.0, "FOLLOW-UP"],
        [4, "NL02", "DRCRLTLC", "INTRAHEPATIC", "INTRAHEPATIC", SEG8, "MRI", 4.0, "MONTH 4", "2018-05-10", 121.0, "FOLLOW-UP"],
    ]
    lin = tu.lineage[tu.lineage["USUBJID"].eq(S1)]
    assert lin["RAWROW"].tolist() == [3, 3, 2, 2] and set(lin["RAWFILE"]) == {"101/nl.csv"}


def test_inconsistent_lesions_kept_unmappable_held_back(tu):
    assert rows(tu, S2, COLS) == [
        [1, "1", "TUMIDENT", "NEW", "NEW", SEG3, "CT SCAN", 2.0, "MONTH 2", "2018-04-02", 61.0, "FOLLOW-UP"],
        [2, "1", "DRCRLTLC", "INTRAHEPATIC", "INTRAHEPATIC", SEG3, "CT SCAN", 2.0, "MONTH 2", "2018-04-02", 61.0, "FOLLOW-UP"],
        [3, "3", "TUMIDENT", "NEW", "NEW", SEG2, "CT SCAN", 2.0, "MONTH 2", "2018-04-02", 61.0, "FOLLOW-UP"],
        [4, "3", "DRCRLTLC", "EXTRAHEPATIC", "EXTRAHEPATIC", SEG2, "CT SCAN", 2.0, "MONTH 2", "2018-04-02", 61.0, "FOLLOW-UP"],
        [5, "2", "TUMIDENT", "NEW", "NEW", "LIVER", None, 2.01, "UNSCHEDULED 2.01", "2018-04-20", 79.0, None],
        [6, "2", "DRCRLTLC", "INTRAHEPATIC", "INTRAHEPATIC", "LIVER", None, 2.01, "UNSCHEDULED 2.01", "2018-04-20", 79.0, None],
    ]
    assert "BOTH" not in tu.data.astype(str).to_string()
    assert tu.data["TULOBXFL"].isna().all()


def test_queries(tu):
    got = sorted(map(tuple, tu.queries[["form", "subjid", "field", "value", "rule", "row"]].values.tolist()))
    assert got == [
        ("nl", "101-002", "LESLOC", "BONE", "LOCATION_INCONSISTENT", 6),
        ("nl", "101-002", "LESSITE", "BOTH", "TERM_NOT_IN_CT", 7),
        ("nl", "101-002", "TADAT", "2018-04-02", "LESION_AT_NED_ASSESSMENT", 4),
        ("nl", "101-002", "TADAT", "2018-04-02", "LESION_AT_NED_ASSESSMENT", 6),
        ("nl", "101-002", "TADAT", "2018-04-02", "LESION_AT_NED_ASSESSMENT", 7),
        ("nl", "101-002", "TADAT", "2018-04-20", "NO_MATCHING_ASSESSMENT", 5),
        ("nl", "101-009", "SUBJID", "101-009", "SUBJECT_NOT_IN_DM", 8),
    ]


def test_unknown_imaging_method_holds_the_lesions_of_that_assessment():
    dm, se, _ = inputs()
    ta = extract(
        "ta",
        [
            {
                "SUBJID": "101-001",
                "VISIT": "Month 4",
                "TADAT": "2018-05-10",
                "TAMETHOD": "X-RAY",
                "RECUR": "Y",
                "RECURDAT": "2018-05-10",
            }
        ],
    )
    res = tu_mod.build(
        extract("nl", NL.data[NL.data["SUBJID"].eq("101-001")].drop(columns=["_site", "_file", "_row"]).to_dict("records")),
        ta,
        dm,
        se,
    )
    assert res.data.empty
    assert res.queries[["form", "field", "value", "rule", "row"]].values.tolist() == [
        ["ta", "TAMETHOD", "X-RAY", "TERM_NOT_IN_CT", 2]
    ]  # once per assessment


def test_empty_export():
    dm, se, _ = inputs()
    tu = tu_mod.build(empty("nl"), TA, dm, se)
    assert tu.data.empty and tu.queries.empty
    assert validate_frame(tu.data, load_dataset_spec("sdtm", "tu"))[0]
