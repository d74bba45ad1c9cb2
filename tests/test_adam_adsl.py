"""ADSL groupings, last known alive date, and the SDTM rules ADaM relies on, each pinned at its boundary.

Every case is a pair on either side of the rule (hand-worked): a change of > to >= (or an ignored source)
makes one of them fail.
"""

import pandas as pd
import pytest
from sdtm_inputs import empty, extract

from pipeline.adam import adsl as adsl_mod
from pipeline.adam.common import as_submission
from pipeline.analysis.endpoints import covariate_frame
from pipeline.schemas import validate_frame
from pipeline.sdtm import ae as ae_mod
from pipeline.sdtm import dm as dm_mod
from pipeline.sdtm.common import DomainResult, empty_queries
from pipeline.specs.datasets import load_dataset_spec

D = pd.Timestamp


def U(name):
    return f"S-{name}"


COLS = {
    "ds": ["DSSTDTC", "DSSCAT", "DSCAT", "DSDECOD"],
    "ex": ["EXSTDTC", "EXENDTC"],
    "ae": ["AESTDTC", "AEENDTC"],
    "lb": ["LBDTC", "LBTESTCD", "LBTPT", "LBSTRESN"],
    "rs": ["RSDTC", "RSTESTCD", "RSSTRESC", "RSSTRESN"],
    "ss": ["SSDTC", "SSSTRESC"],
    "mi": ["MITESTCD", "MISTRESN", "MISTRESC"],
    "mb": ["MBTESTCD", "MBSTRESC"],
    "mh": ["MHOCCUR"],
}


def sdtm(name, rows):
    df = pd.DataFrame(rows, columns=["USUBJID", *COLS.get(name, [])]) if not rows else pd.DataFrame(rows)
    return DomainResult(name.upper(), df, pd.DataFrame(), empty_queries())


def dm_row(usubjid, age=60.0, dthdtc=None):
    return {
        "STUDYID": "S",
        "USUBJID": U(usubjid),
        "SUBJID": usubjid,
        "SITEID": "101",
        "AGE": age,
        "AGEU": "YEARS",
        "SEX": "M",
        "RACE": "ASIAN",
        "ETHNIC": None,
        "COUNTRY": "CHN",
        "ARMCD": "CONTROL",
        "ARM": "No adjuvant therapy",
        "ACTARMCD": "CONTROL",
        "ACTARM": "No adjuvant therapy",
        "DTHFL": "Y" if dthdtc else None,
        "DTHDTC": dthdtc,
        "RFICDTC": "2018-01-20",
        "RFSTDTC": "2018-01-10",
        "RFXSTDTC": None,
        "RFXENDTC": None,
        "RFPENDTC": "2018-12-01",
    }


def build_adsl(dm_rows, **domains):
    ids = [r["USUBJID"] for r in dm_rows]
    inputs = {n: sdtm(n, [{**r, "USUBJID": U(r["USUBJID"])} for r in domains.get(n, [])]) for n in COLS}
    out = adsl_mod.build(sdtm("dm", dm_rows), sdtm("pr", [{"USUBJID": u, "PRSTDTC": "2018-01-10"} for u in ids]), **inputs)
    spec = load_dataset_spec("adam", "adsl")
    ok, failures = validate_frame(as_submission(out.data, spec), spec)
    assert ok, failures.to_string()
    return out.data.assign(USUBJID=out.data["USUBJID"].str.slice(2)).set_index("USUBJID")


def mi(u, testcd, value):
    return {"USUBJID": u, "MITESTCD": testcd, "MISTRESN": value, "MISTRESC": str(value)}


def afp(u, value):
    return {"USUBJID": u, "LBDTC": None, "LBTESTCD": "AFP", "LBTPT": "PRE-OPERATIVE", "LBSTRESN": value}


def test_groupings_at_their_boundaries():
    # LO sits on the boundary of each rule (64 y, 5.0 cm, 1 tumour, AFP 400), HI just past it (65, 5.1, 2, 400.1).
    a = build_adsl(
        [dm_row("LO", age=64.0), dm_row("HI", age=65.0), dm_row("NA", age=None)],
        mi=[mi("LO", "LDIAM", 5.0), mi("HI", "LDIAM", 5.1), mi("LO", "TUMNUM", 1.0), mi("HI", "TUMNUM", 2.0)],
        lb=[afp("LO", 400.0), afp("HI", 400.1)],
    )
    cols = ["AGEGR1", "TUMSZGR1", "TUMNUMGR", "AFPGR1"]
    assert a.loc["LO", cols].tolist() == ["<65", "<=5 cm", "SINGLE", "<=400"]
    assert a.loc["HI", cols].tolist() == [">=65", ">5 cm", "MULTIPLE", ">400"]
    assert a.loc["NA", cols].isna().all()  # nothing known, no group
    # The adjusted Cox model's 0/1 covariates come from these groups.
    rows = pd.DataFrame({"USUBJID": ["LO", "HI"]})
    cov = covariate_frame(rows, a.reset_index())
    assert cov[["TUMSZ_GT5", "MULTIPLE", "AFP_GT400"]].values.tolist() == [[0, 0, 0], [1, 1, 1]]


def test_last_known_alive_takes_ae_end_dates_and_stops_at_death():
    a = build_adsl(
        [dm_row("ALIVE"), dm_row("DEAD", dthdtc="2018-07-10")],
        rs=[
            {"USUBJID": u, "RSDTC": "2018-06-01", "RSTESTCD": "OVRLRESP", "RSSTRESC": "NED", "RSSTRESN": None}
            for u in ("ALIVE", "DEAD")
        ],
        ss=[{"USUBJID": "ALIVE", "SSDTC": "2018-08-01", "SSSTRESC": "ALIVE"}],
        # ALIVE: the AE end 2018-09-15 is the latest date alive. DEAD: an AE end recorded after the death date.
        ae=[
            {"USUBJID": "ALIVE", "AESTDTC": "2018-07-01", "AEENDTC": "2018-09-15"},
            {"USUBJID": "DEAD", "AESTDTC": "2018-07-01", "AEENDTC": "2018-07-20"},
        ],
    )
    assert a.loc["ALIVE", "LSTALVDT"] == D("2018-09-15")
    assert a.loc["DEAD", ["DTHDT", "LSTALVDT"]].tolist() == [D("2018-07-10"), D("2018-07-10")]


def test_age_in_completed_years_turns_on_the_birthday():
    birth = pd.Series(["1950-03-05", "1950-03-05", "1952-02-29", "1952-02-29"])
    consent = pd.Series(["2015-03-04", "2015-03-05", "2016-02-28", "2016-02-29"])
    assert dm_mod.age_at(birth, consent).tolist() == [64, 65, 63, 64]


def test_baseline_lab_flag_includes_the_first_dose_day():
    from test_sdtm_lb import S1, build, visit

    # First dose 2018-01-25: an AFP drawn that day is the baseline (on or before), not the pre-operative one.
    lb = build(
        extract(
            "ta",
            [visit("101-001", "Month 1", "2018-01-25", 30.0, "ng/mL"), visit("101-001", "Month 2", "2018-01-26", 10.0, "ng/mL")],
        )
    )
    afp_rows = lb.data[(lb.data["USUBJID"] == S1) & (lb.data["LBTESTCD"] == "AFP")]
    got = afp_rows[["LBDTC", "LBLOBXFL"]].astype(object).where(afp_rows[["LBDTC", "LBLOBXFL"]].notna(), None).values.tolist()
    assert got == [[None, None], ["2018-01-25", "Y"], ["2018-01-26", None]]


@pytest.mark.parametrize(
    "aerel, queried", [("NOT RELATED", False), ("NOT APPLICABLE", False), ("POSSIBLY RELATED", True), ("RELATED", True)]
)
def test_control_arm_causality_is_not_applicable_or_not_related(aerel, queried):
    from test_sdtm_core import DEMOG, ENROL, EX, SURG

    from pipeline.sdtm import se as se_mod

    dm = dm_mod.build(ENROL, DEMOG, SURG, EX, empty("ds"), empty("surv"), empty("ta"))
    ae = extract(
        "ae",
        [
            {
                "SUBJID": "101-002",
                "AESPID": 1,
                "AETERM": "腹泻",
                "AESTDAT": "2018-04-02",
                "AETOXGR": "1",
                "AESER": "N",
                "AEREL": aerel,
                "AEACN": "NOT APPLICABLE",
                "AEOUT": "RECOVERED/RESOLVED",
            }
        ],
    )
    out = ae_mod.build(ae, dm, se_mod.build(dm, ENROL))
    rules = out.queries["rule"].tolist()
    assert ("CONTROL_ARM_AEREL" in rules) is queried
    assert out.data["AEREL"].tolist() == [aerel]  # kept as collected, queried
