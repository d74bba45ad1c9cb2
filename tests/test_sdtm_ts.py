"""TS from specs/trial/ts.csv, study.yaml and a hand-made three-subject DM; values worked out by hand.

DM: consents 2018-02-10 (101-001), 2018-01-20 (101-002) and "2017-12" (101-003, partial).
SSTDTC is the earliest *complete* consent date, 2018-01-20: a month cannot be a study start
(FDA technical rejection criterion 1734 wants a valid date). ACTSUB = 3 subjects in DM.
study.yaml: 2 arms, 400 mg per day, 730 days -> NARMS 2, DOSE 400, PTRTDUR P730D.
"""

import pandas as pd
import pytest
from sdtm_inputs import build_dm, extract

from pipeline.schemas import validate_frame
from pipeline.sdtm import ts as ts_mod
from pipeline.sdtm.common import DomainResult, empty_queries
from pipeline.specs.datasets import load_dataset_spec
from pipeline.specs.study import load_study

SUBJECTS = [("101-001", "2018-02-10"), ("101-002", "2018-01-20"), ("101-003", "2017-12")]
ENROL = extract(
    "enrol", [{"SUBJID": s, "RFICDAT": c, "ENRLDAT": "2018-02-12", "TRTGRP": "CONTROL", "IEYN": "Y"} for s, c in SUBJECTS]
)
DEMOG = extract("dm", [{"SUBJID": s, "BRTHDAT": "1960-05-15", "SEX": "F", "RACE": "ASIAN"} for s, _ in SUBJECTS])
SURG = extract("surg", [{"SUBJID": s, "PRSTDAT": "2018-01-05", "PRTRT": "ANATOMICAL HEPATECTOMY"} for s, _ in SUBJECTS])


@pytest.fixture(scope="module")
def ts():
    dm = build_dm(ENROL, DEMOG, SURG)
    return ts_mod.build(dm)


def value(ts, parmcd):
    d = ts.data[ts.data["TSPARMCD"] == parmcd]
    return d[["TSSEQ", "TSVAL", "TSVALCD", "TSVCDREF", "TSVCDVER"]].astype(object).where(d.notna(), None).values.tolist()


def test_ts_conforms_one_record_per_ts_csv_row(ts):
    ok, failures = validate_frame(ts.data, load_dataset_spec("sdtm", "ts"))
    assert ok, failures.to_string()
    assert len(ts.data) == 58  # data rows of specs/trial/ts.csv
    assert set(ts.data["STUDYID"]) == {"NCT02867280"} and set(ts.data["DOMAIN"]) == {"TS"}
    assert ts.data["TSPARMCD"].is_monotonic_increasing


def test_ts_sstdtc_is_first_complete_consent(ts):
    assert value(ts, "SSTDTC") == [[1.0, "2018-01-20", None, "ISO 8601", None]]
    assert value(ts, "ACTSUB") == [[1.0, "3", None, None, None]]
    # Lineage: the ts.csv line the record comes from (SSTDTC is line 45).
    lin = ts.lineage[ts.data["TSPARMCD"].eq("SSTDTC").to_numpy()]
    assert lin[["RAWFILE", "RAWROW"]].values.tolist() == [["specs/trial/ts.csv", 45]]


def test_ts_values_from_study_yaml(ts):
    assert value(ts, "NARMS") == [[1.0, "2", None, None, None]]
    assert value(ts, "DOSE") == [[1.0, "400", None, None, None]]
    assert value(ts, "PLANSUB") == [[1.0, "154", None, None, None]]
    assert value(ts, "PTRTDUR") == [[1.0, "P730D", None, "ISO 8601", None]]
    assert value(ts, "DCUTDTC") == [[1.0, "2022-12-31", None, "ISO 8601", None]]
    assert value(ts, "TPHASE") == [[1.0, "PHASE III TRIAL", "C15602", "CDISC CT", "2025-03-28"]]
    assert value(ts, "TITLE")[0][1] == (
        "A Prospective, Multicenter, Non-randomized Study of Adjuvant Sorafenib After R0 Hepatectomy"
        " for Hepatocellular Carcinoma With Microvascular Invasion"
    )


def test_ts_codes_versions_and_sequence(ts):
    assert value(ts, "ADAPT") == [[1.0, "N", "C49487", "CDISC CT", "2025-03-28"]]
    assert value(ts, "DOSFRQ") == [[1.0, "QD", "C25473", "CDISC CT", "2025-03-28"]]
    assert value(ts, "TTYPE") == [
        [1.0, "EFFICACY", "C49666", "CDISC CT", "2025-03-28"],
        [2.0, "SAFETY", "C49667", "CDISC CT", "2025-03-28"],
    ]
    # No adjuvant therapy in the control arm: the CT term NONE of codelist C66785, with its NCI code.
    assert value(ts, "TCNTRL") == [[1.0, "NONE", "C41132", "CDISC CT", "2025-03-28"]]
    # An interim cut of an ongoing study.
    assert value(ts, "ONGOSIND") == [[1.0, "Y", "C49488", "CDISC CT", "2025-03-28"]]
    # Codes of non-CDISC references are those written in ts.csv (or left for the submission team).
    assert value(ts, "FCNTRY") == [[1.0, "CHN", "CHN", "ISO 3166", None]]
    assert value(ts, "REGID") == [[1.0, "NCT02867280", "NCT02867280", "CLINICALTRIALS.GOV", None]]
    assert value(ts, "TRT") == [[1.0, "SORAFENIB TOSYLATE", "5T62Q3B36J", "UNII", "2025-03"]]
    assert value(ts, "INDIC") == [[1.0, "Hepatocellular Carcinoma", "109841003", "SNOMED", "2025-03-01"]]
    assert value(ts, "TDIGRP") == [[1.0, "Hepatocellular Carcinoma", "109841003", "SNOMED", "2025-03-01"]]
    assert value(ts, "PCLAS") == [[1.0, "Kinase Inhibitor", "N0000175605", "MED-RT", "2024AB"]]
    assert value(ts, "NCOHORT") == [[1.0, "2", None, None, None]]
    assert [r[0] for r in value(ts, "OUTMSSEC")] == [1.0, 2.0, 3.0, 4.0]
    assert value(ts, "OUTMSSEC")[0][1] == "Time to recurrence"


def test_ts_null_flavor_if_and_only_if_no_value(ts):
    d = ts.data.set_index("TSPARMCD")
    # The study has not ended: no end date, null flavor NAV (temporarily unavailable).
    assert pd.isna(d.loc["SENDTC", "TSVAL"]) and d.loc["SENDTC", "TSVALNF"] == "NAV"
    assert (ts.data["TSVAL"].isna() == ts.data["TSVALNF"].notna()).all()


def test_ts_derive_value_rules():
    study = load_study()
    dm = pd.DataFrame({"USUBJID": ["a", "b", "b", None], "RFICDTC": ["2019-05", None, "2019-06-01", "2019-05-31"]})
    assert ts_mod.derive_value("study:arms:count", study, dm, "t") == "2"
    assert ts_mod.derive_value("study:planned_duration_days:days", study, dm, "t") == "P730D"
    assert ts_mod.derive_value("DM.RFICDTC:min", study, dm, "t") == "2019-05-31"
    assert ts_mod.derive_value("DM.USUBJID:count", study, dm, "t") == "2"
    assert ts_mod.derive_value("DM.RFICDTC:min", study, dm.iloc[:2], "t") is None
    for bad in ("study:nosuchkey", "study:arms:sum", "DM.NOSUCH:min", "LB.LBORRES:min"):
        with pytest.raises(ValueError):
            ts_mod.derive_value(bad, study, dm, "t")


@pytest.mark.parametrize(
    "parmcd, column, new, message",
    [
        ("NARMS", "TSVAL", "3", "written and derived"),
        ("STYPE", "TSVAL", "OBSERVATIONAL STUDY", "not a term"),
        ("TITLE", "TSPARM", "Title", "TSPARM is not the CDISC name"),
        ("ADAPT", "TSVCDREF", "", "must have TSVCDREF"),
        ("SENDTC", "derivation", "nullflavor:NOTYET", "not an ISO 21090 null flavor"),
        ("SPONSOR", "TSVAL", "", "no TSVAL, derivation or null flavor"),
    ],
)
def test_ts_inconsistent_spec_raises(monkeypatch, parmcd, column, new, message):
    rows = ts_mod.load_ts_rows()
    rows.loc[rows["TSPARMCD"] == parmcd, column] = new
    monkeypatch.setattr(ts_mod, "load_ts_rows", lambda: rows)
    dm = DomainResult("DM", pd.DataFrame({"USUBJID": ["a"], "RFICDTC": ["2018-01-01"]}), pd.DataFrame(), empty_queries())
    with pytest.raises(ValueError, match=message):
        ts_mod.build(dm)
