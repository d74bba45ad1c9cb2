"""SS from a hand-made two-subject survival form; every expected value worked out by hand.

101-001 SORAFENIB: hepatectomy 2018-01-10, enrolled 2018-01-22, sorafenib 2018-01-25..2018-04-30, last contact
        2018-10-20; died 2018-10-01 = RFPENDTC (participation ends at death). SE: SCRN [01-10, 01-25),
        SORA [01-25, 05-01), FU [05-01, 10-01]: the contacts after the death have no EPOCH.
        Contacts: 2018-04-10 ALIVE (day 91 = 31 + 28 + 31 days after Jan 10, +1; TREATMENT),
        2018-07-10 ALIVE (day 182 = 90 + 91, +1; FOLLOW-UP), 2018-10-05 DEAD, died 2018-10-01 (day 269),
        2018-10-20 ALIVE (day 284): alive after the recorded death -> queried, kept.
101-002 CONTROL: hepatectomy 2018-02-01, enrolled 2018-02-12. SE: SCRN [02-01, 02-12), FU [02-12, 09-01].
        Contacts: 2018-05-01 ALIVE (day 90 = 28 + 31 + 30, +1), "2018-08" LOST TO FOLLOW-UP (-> UNKNOWN;
        partial: SSDY and EPOCH null), 2018-09-01 status "GONE" (no SSTATRS term: held back).
101-009: a contact of a subject who is not in DM.
Visits: a contact is unscheduled, after the last planned visit whose VISITDY is on or before its day (MONTH 2
day 62, MONTH 4 day 123, MONTH 6 day 184, MONTH 8 day 245, MONTH 10 day 305): 101-001 day 91 -> 2.01, day 182 ->
4.01 (two days before MONTH 6), days 269 and 284 -> 8.01 and 8.02; 101-002 day 90 -> 2.01, the partial date none.
"""

import pytest
from sdtm_inputs import build_dm, empty, extract, pair_form

from pipeline.schemas import validate_frame
from pipeline.sdtm import se as se_mod
from pipeline.sdtm import ss as ss_mod
from pipeline.specs.datasets import load_dataset_spec

S1, S2 = "NCT02867280-101-101-001", "NCT02867280-101-101-002"

ENROL = pair_form("enrol")
DEMOG = pair_form("dm", every={"BRTHDAT": "1960-01-01", "SEX": "F", "RACE": "ASIAN"})
SURG = pair_form("surg", every={"PRTRT": None})
EX = extract(
    "ex",
    [
        {
            "SUBJID": "101-001",
            "EXTRT": "SORAFENIB",
            "EXSTDAT": "2018-01-25",
            "EXENDAT": "2018-04-30",
            "EXDOSE": 800.0,
            "EXDOSU": "mg",
            "EXDOSFRQ": "BID",
        },
    ],
)
SURV = extract(
    "surv",
    [
        {"SUBJID": "101-001", "CONTDAT": "2018-04-10", "SURVSTAT": "ALIVE"},
        {"SUBJID": "101-001", "CONTDAT": "2018-07-10", "SURVSTAT": "ALIVE"},
        {
            "SUBJID": "101-001",
            "CONTDAT": "2018-10-05",
            "SURVSTAT": "DEAD",
            "DTHDAT": "2018-10-01",
            "DTHCAUS": "HEPATOCELLULAR CARCINOMA",
        },
        {"SUBJID": "101-001", "CONTDAT": "2018-10-20", "SURVSTAT": "ALIVE"},
        {"SUBJID": "101-002", "CONTDAT": "2018-08", "SURVSTAT": "LOST TO FOLLOW-UP"},
        {"SUBJID": "101-002", "CONTDAT": "2018-05-01", "SURVSTAT": "ALIVE"},
        {"SUBJID": "101-002", "CONTDAT": "2018-09-01", "SURVSTAT": "GONE"},
        {"SUBJID": "101-009", "CONTDAT": "2018-09-01", "SURVSTAT": "ALIVE"},
    ],
)


@pytest.fixture(scope="module")
def ss():
    dm = build_dm(ENROL, DEMOG, SURG, EX, surv=SURV)
    se = se_mod.build(dm, ENROL)
    return ss_mod.build(SURV, dm, se)


def rows(result, usubjid):
    d = result.data[result.data["USUBJID"].eq(usubjid)][
        ["SSSEQ", "SSORRES", "SSSTRESC", "SSDTC", "SSDY", "EPOCH", "VISITNUM", "VISIT"]
    ]
    return d.astype(object).where(d.notna(), None).values.tolist()


def test_ss_conforms_to_spec(ss):
    ok, failures = validate_frame(ss.data, load_dataset_spec("sdtm", "ss"))
    assert ok, failures.to_string()
    assert set(ss.data["SSTESTCD"]) == {"SURVSTAT"} and set(ss.data["SSTEST"]) == {"Survival Status"}


def test_contacts_of_a_subject_who_died(ss):
    assert rows(ss, S1) == [
        [1, "ALIVE", "ALIVE", "2018-04-10", 91.0, "TREATMENT", 2.01, "UNSCHEDULED 2.01"],
        [2, "ALIVE", "ALIVE", "2018-07-10", 182.0, "FOLLOW-UP", 4.01, "UNSCHEDULED 4.01"],
        [3, "DEAD", "DEAD", "2018-10-05", 269.0, None, 8.01, "UNSCHEDULED 8.01"],
        [4, "ALIVE", "ALIVE", "2018-10-20", 284.0, None, 8.02, "UNSCHEDULED 8.02"],
    ]


def test_lost_to_follow_up_is_unknown_and_unknown_status_held_back(ss):
    assert rows(ss, S2) == [
        [1, "ALIVE", "ALIVE", "2018-05-01", 90.0, "FOLLOW-UP", 2.01, "UNSCHEDULED 2.01"],
        [2, "LOST TO FOLLOW-UP", "UNKNOWN", "2018-08", None, None, None, None],
    ]
    assert "GONE" not in ss.data.astype(str).to_string()
    # Lineage: the lost-to-follow-up record is raw row 6 of 101/surv.csv.
    lin = ss.lineage[ss.lineage["USUBJID"].eq(S2)]
    assert lin["RAWROW"].tolist() == [7, 6] and set(lin["RAWFILE"]) == {"101/surv.csv"}


def test_queries(ss):
    got = sorted(map(tuple, ss.queries[["subjid", "field", "value", "rule", "row"]].values.tolist()))
    assert got == [
        ("101-001", "CONTDAT", "2018-10-20", "ALIVE_AFTER_DEATH", 5),
        ("101-002", "SURVSTAT", "GONE", "STATUS_NOT_IN_CT", 8),
        ("101-009", "SUBJID", "101-009", "SUBJECT_NOT_IN_DM", 9),
    ]
    assert "2018-10-01" in ss.queries.loc[ss.queries["rule"].eq("ALIVE_AFTER_DEATH"), "message"].iloc[0]


def test_empty_export():
    dm = build_dm(ENROL, DEMOG, SURG, EX)
    ss = ss_mod.build(empty("surv"), dm, se_mod.build(dm, ENROL))
    assert ss.data.empty and ss.queries.empty
    assert validate_frame(ss.data, load_dataset_spec("sdtm", "ss"))[0]
