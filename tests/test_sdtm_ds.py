"""DS from a hand-made export; every expected value worked out by hand.

101-001 SORAFENIB: hepatectomy 2018-01-10 (RFSTDTC), consent 2018-01-20 (day 11), entered
        2018-01-22 (day 13), sorafenib 2018-01-25..2018-06-30. End of treatment 2018-06-30 for
        an adverse event (day 21+28+31+30+31+30 = 171 days after -> 172; EPOCH TREATMENT, the
        epoch it closes). End of study 2018-09-30 lost to follow-up (day 264); its EPOCH is
        the last SE element's, FOLLOW-UP. Then reported dead on 2018-11-02 on the survival
        form: not the end-of-study reason, so an OTHER EVENT / DEATH record dated 2018-11-02
        (day 297; the last day of the FU element, which ends at the death: participation ends there).
101-002 CONTROL: hepatectomy 2018-02-01, consent and entry the same day 2018-02-12 (day 12):
        the SCRN element ends there, so both milestones fall in FOLLOW-UP; consent is
        numbered before entry. End of study by death 2018-08-15 (day 196, FOLLOW-UP), the
        same date as the survival form: no extra death record. An end-of-treatment record
        for this control subject is a query and held back.
101-009: a disposition record of a subject never enrolled -> query.
"""

import pytest
from sdtm_inputs import build_dm, extract, pair

from pipeline.schemas import validate_frame
from pipeline.sdtm import ds as ds_mod
from pipeline.sdtm import se as se_mod
from pipeline.specs.datasets import load_dataset_spec

S1, S2 = "NCT02867280-101-101-001", "NCT02867280-101-101-002"

ENROL, DEMOG, SURG, EX = pair(enrol={"101-002": {"RFICDAT": "2018-02-12"}})  # consent on the day of enrolment
DS = extract(
    "ds",
    [
        {"SUBJID": "101-001", "DSCAT": "END OF TREATMENT", "DSSTDAT": "2018-06-30", "DSDECOD": "ADVERSE EVENT"},  # row 2
        {"SUBJID": "101-001", "DSCAT": "END OF STUDY", "DSSTDAT": "2018-09-30", "DSDECOD": "LOST TO FOLLOW-UP"},  # row 3
        {"SUBJID": "101-002", "DSCAT": "END OF TREATMENT", "DSSTDAT": "2018-03-01", "DSDECOD": "COMPLETED"},  # row 4
        {"SUBJID": "101-002", "DSCAT": "END OF STUDY", "DSSTDAT": "2018-08-15", "DSDECOD": "DEATH"},  # row 5
        {"SUBJID": "101-009", "DSCAT": "END OF STUDY", "DSSTDAT": "2018-08-15", "DSDECOD": "WITHDRAWAL BY SUBJECT"},  # row 6
    ],
)


def survival(s2_death="2018-08-15"):
    return extract(
        "surv",
        [
            {"SUBJID": "101-001", "CONTDAT": "2018-09-30", "SURVSTAT": "LOST TO FOLLOW-UP"},
            {
                "SUBJID": "101-001",
                "CONTDAT": "2018-11-05",
                "SURVSTAT": "DEAD",
                "DTHDAT": "2018-11-02",
                "DTHCAUS": "HEPATOCELLULAR CARCINOMA",
            },
            *(
                [{"SUBJID": "101-002", "CONTDAT": s2_death, "SURVSTAT": "DEAD", "DTHDAT": s2_death}]
                if s2_death
                else [{"SUBJID": "101-002", "CONTDAT": "2018-08-15", "SURVSTAT": "ALIVE"}]
            ),
        ],
    )


def build(surv):
    dm = build_dm(ENROL, DEMOG, SURG, EX, ds=DS, surv=surv)
    return ds_mod.build(ENROL, DS, surv, dm, se_mod.build(dm, ENROL))


@pytest.fixture(scope="module")
def ds():
    return build(survival())


def rows(df, cols):
    return df[cols].astype(object).where(df[cols].notna(), None).values.tolist()


def test_ds_conforms_to_its_spec(ds):
    ok, failures = validate_frame(ds.data, load_dataset_spec("sdtm", "ds"))
    assert ok, failures.to_string()


def test_ds_milestones_disposition_and_later_death(ds):
    cols = ["USUBJID", "DSSEQ", "DSTERM", "DSDECOD", "DSCAT", "DSSCAT", "EPOCH", "DSSTDTC", "DSSTDY"]
    pm, de = "PROTOCOL MILESTONE", "DISPOSITION EVENT"
    assert rows(ds.data, cols) == [
        [S1, 1.0, "INFORMED CONSENT OBTAINED", "INFORMED CONSENT OBTAINED", pm, None, "SCREENING", "2018-01-20", 11.0],
        [S1, 2.0, "ENTERED INTO TRIAL", "ENTERED INTO TRIAL", pm, None, "SCREENING", "2018-01-22", 13.0],
        [S1, 3.0, "ADVERSE EVENT", "ADVERSE EVENT", de, "END OF TREATMENT", "TREATMENT", "2018-06-30", 172.0],
        [S1, 4.0, "LOST TO FOLLOW-UP", "LOST TO FOLLOW-UP", de, "END OF STUDY", "FOLLOW-UP", "2018-09-30", 264.0],
        [S1, 5.0, "DEATH", "DEATH", "OTHER EVENT", None, "FOLLOW-UP", "2018-11-02", 297.0],
        [S2, 1.0, "INFORMED CONSENT OBTAINED", "INFORMED CONSENT OBTAINED", pm, None, "FOLLOW-UP", "2018-02-12", 12.0],
        [S2, 2.0, "ENTERED INTO TRIAL", "ENTERED INTO TRIAL", pm, None, "FOLLOW-UP", "2018-02-12", 12.0],
        [S2, 3.0, "DEATH", "DEATH", de, "END OF STUDY", "FOLLOW-UP", "2018-08-15", 196.0],
    ]
    # Lineage: milestones point to the enrollment row, the later death to the survival row.
    assert ds.lineage[["USUBJID", "RECORD", "RAWFILE", "RAWROW"]].values.tolist() == [
        [S1, 1.0, "101/enrol.csv", 2],
        [S1, 2.0, "101/enrol.csv", 2],
        [S1, 3.0, "101/ds.csv", 2],
        [S1, 4.0, "101/ds.csv", 3],
        [S1, 5.0, "101/surv.csv", 3],
        [S2, 1.0, "101/enrol.csv", 3],
        [S2, 2.0, "101/enrol.csv", 3],
        [S2, 3.0, "101/ds.csv", 5],
    ]


def test_ds_queries(ds):
    assert ds.queries[["subjid", "form", "field", "row", "rule"]].values.tolist() == [
        ["101-009", "ds", "SUBJID", 6, "SUBJECT_NOT_IN_DM"],
        ["101-002", "ds", "DSCAT", 4, "EOT_IN_CONTROL_ARM"],
    ]


def test_end_of_study_by_death_must_agree_with_the_survival_form():
    other_date = build(survival("2018-08-20"))
    q = other_date.queries[other_date.queries["rule"] == "DEATH_INCONSISTENT"]
    assert q[["subjid", "field", "value"]].values.tolist() == [["101-002", "DSSTDAT", "2018-08-15"]]
    assert "2018-08-20" in q["message"].iloc[0]
    # The record stays (the site is asked); no second death record is added.
    s2 = other_date.data[other_date.data["USUBJID"] == S2]
    assert s2["DSDECOD"].tolist().count("DEATH") == 1

    no_death = build(survival(None))
    q = no_death.queries[no_death.queries["rule"] == "DEATH_INCONSISTENT"]
    assert q["subjid"].tolist() == ["101-002"] and "no death date" in q["message"].iloc[0]
