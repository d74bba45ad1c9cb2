"""ADTTE, ADAE and ADEX from hand-made SDTM/ADSL inputs; every expected value worked out by hand.

Subjects (hepatectomy 2018-01-10 for all):
  S-1 recurrence and death on the same day 2019-03-01 (RS then death): RFS event = recurrence.
  S-2 death 2018-09-30 without recurrence, last NED 2018-05-02: RFS death; TTR censored at 2018-05-02.
  S-3 no assessment after surgery, alive at 2018-02-01: RFS/TTR censored at the origin (AVAL 1), OS at LSTALVDT.
  S-4 recurrence dated "2018-06" (partial), last NED 2018-06-12: imputed to 2018-06-13 (day after the NED).
  S-5 recurrence recorded 2018-01-05, before the hepatectomy: moved to the origin.
  S-6 recurrence seen at the 2018-09-10 assessment, diagnosed 2018-08-20 outside the schedule
      (SUPPRS): the earlier diagnosis date wins; S-1's diagnosis date 2019-03-05 (after its
      assessment) does not.
"""

import pandas as pd
import pytest
from listed import listed

from pipeline.adam import adae, adex, adtte
from pipeline.adam.common import AdamResult, as_submission, issues_frame
from pipeline.schemas import validate_frame
from pipeline.sdtm.common import DomainResult, empty_queries
from pipeline.specs.datasets import load_dataset_spec

D = pd.Timestamp
ORIGIN = D("2018-01-10")


def sdtm(name, rows):
    return DomainResult(name.upper(), pd.DataFrame(rows), pd.DataFrame(), empty_queries())


def adsl_frame(rows):
    base = {
        "STUDYID": "S",
        "SUBJID": "x",
        "SITEID": "101",
        "TRT01P": "SORAFENIB",
        "TRT01A": "SORAFENIB",
        "TRT01AN": 1.0,
        "FASFL": "Y",
        "SAFFL": "Y",
        "HEPDT": ORIGIN,
        "TRTSDT": pd.NaT,
        "TRTEDT": pd.NaT,
        "DTHDT": pd.NaT,
        "DTHDTF": None,
        "LSTALVDT": pd.NaT,
    }
    return AdamResult("ADSL", pd.DataFrame([{**base, **r} for r in rows]), issues_frame())


ADSL = adsl_frame(
    [
        {"USUBJID": "S-1", "DTHDT": D("2019-03-01"), "LSTALVDT": D("2019-03-01")},
        {"USUBJID": "S-2", "DTHDT": D("2018-09-30"), "LSTALVDT": D("2018-09-30")},
        {"USUBJID": "S-3", "LSTALVDT": D("2018-02-01")},
        {"USUBJID": "S-4", "LSTALVDT": D("2018-12-01")},
        {"USUBJID": "S-5", "LSTALVDT": D("2018-12-01")},
        {"USUBJID": "S-6", "LSTALVDT": D("2018-12-01")},
    ]
)


def ovr(usubjid, seq, dtc, res):
    return {"USUBJID": usubjid, "RSSEQ": float(seq), "RSTESTCD": "OVRLRESP", "RSSTRESC": res, "RSDTC": dtc}


RS = sdtm(
    "rs",
    [
        ovr("S-1", 7, "2018-04-01", "NED"),
        ovr("S-1", 8, "2019-03-01", "RELAPSED DISEASE"),
        ovr("S-2", 7, "2018-05-02", "NED"),
        ovr("S-4", 7, "2018-06-12", "NED"),
        ovr("S-4", 8, "2018-06", "RELAPSED DISEASE"),
        ovr("S-5", 7, "2018-01-05", "RELAPSED DISEASE"),
        ovr("S-6", 7, "2018-06-01", "NED"),
        ovr("S-6", 8, "2018-09-10", "RELAPSED DISEASE"),
        {"USUBJID": "S-3", "RSSEQ": 1.0, "RSTESTCD": "ECOG101", "RSSTRESC": "0", "RSDTC": None},
    ],
)


SUPPRS = sdtm(
    "supprs",
    [
        {"USUBJID": "S-1", "QNAM": "RECURDTC", "IDVARVAL": "8", "QVAL": "2019-03-05"},
        {"USUBJID": "S-6", "QNAM": "RECURDTC", "IDVARVAL": "8", "QVAL": "2018-08-20"},
    ],
)


@pytest.fixture(scope="module")
def tte():
    out = adtte.build(ADSL, RS, SUPPRS)
    ok, failures = validate_frame(as_submission(out.data, load_dataset_spec("adam", "adtte")), load_dataset_spec("adam", "adtte"))
    assert ok, failures.to_string()
    return out.data.set_index(["USUBJID", "PARAMCD"])


def row(tte, s, p, cols):
    return tte.loc[(s, p), cols].tolist()


def test_tie_recurrence_and_death(tte):
    assert row(tte, "S-1", "RFS", ["CNSR", "EVNTDESC", "SRCDOM", "SRCSEQ", "AVAL"]) == [0, "RECURRENCE", "RS", 8, 416]
    assert row(tte, "S-1", "OS", ["CNSR", "EVNTDESC", "AVAL"]) == [0, "DEATH", 416]


def test_death_without_recurrence(tte):
    assert row(tte, "S-2", "RFS", ["CNSR", "EVNTDESC", "SRCDOM", "SRCVAR", "AVAL"]) == [0, "DEATH", "ADSL", "DTHDT", 264]
    # TTR: the competing event (CNSR 4, its own EVNTDESC), censored at the last NED 2018-05-02 (Kaplan–Meier counts it censored).
    assert row(tte, "S-2", "TTR", ["CNSR", "EVNTDESC", "CNSDTDSC", "SRCSEQ", "AVAL"]) == [
        4,
        "DEATH WITHOUT RECURRENCE",
        "LAST ASSESSMENT WITHOUT RECURRENCE",
        7,
        113,
    ]


def test_only_a_death_without_recurrence_competes(tte):
    # S-1 died on the day of its recurrence: a TTR event, not competing. S-3..S-6 are alive: plain censorings or events.
    assert row(tte, "S-1", "TTR", ["CNSR", "EVNTDESC"]) == [0, "RECURRENCE"]
    assert tte.xs("TTR", level="PARAMCD")["CNSR"].tolist() == [0, 4, 1, 0, 0, 0]
    assert tte.xs("RFS", level="PARAMCD")["CNSR"].max() < 4 and tte.xs("OS", level="PARAMCD")["CNSR"].max() < 4


def test_no_assessment_after_surgery(tte):
    assert row(tte, "S-3", "RFS", ["CNSR", "AVAL", "SRCVAR"]) == [1, 1, "HEPDT"]
    # OS censored at the last known alive date 2018-02-01: day 23.
    assert row(tte, "S-3", "OS", ["CNSR", "AVAL", "CNSDTDSC"]) == [3, 23, "LAST KNOWN ALIVE"]


def test_partial_recurrence_date_imputed_after_last_ned(tte):
    assert row(tte, "S-4", "TTR", ["CNSR", "ADT", "ADTF", "AVAL"]) == [0, D("2018-06-13"), "D", 155]


def test_event_before_origin_moves_to_origin(tte):
    assert row(tte, "S-5", "RFS", ["CNSR", "ADT", "AVAL"]) == [0, ORIGIN, 1]


def test_diagnosis_date_before_the_assessment_dates_the_recurrence(tte):
    # 2018-01-10 -> 2018-08-20 is 222 days; AVAL 223.
    assert row(tte, "S-6", "TTR", ["CNSR", "ADT", "SRCDOM", "SRCVAR", "SRCSEQ", "AVAL"]) == [
        0,
        D("2018-08-20"),
        "SUPPRS",
        "QVAL",
        8,
        223,
    ]


def test_three_parameters_per_subject_and_order_independent(tte):
    assert len(tte) == 18
    shuffled = adtte.build(
        AdamResult("ADSL", ADSL.data.sample(frac=1, random_state=3), issues_frame()),
        DomainResult("RS", RS.data.sample(frac=1, random_state=4), pd.DataFrame(), empty_queries()),
        DomainResult("SUPPRS", SUPPRS.data.sample(frac=1, random_state=5), pd.DataFrame(), empty_queries()),
    )
    pd.testing.assert_frame_equal(shuffled.data.set_index(["USUBJID", "PARAMCD"]), tte)


# ---- ADAE: first dose 2018-02-01, last dose 2018-06-30 ---------------------------------------
ADSL_T = adsl_frame(
    [
        {"USUBJID": "S-T1", "TRTSDT": D("2018-02-01"), "TRTEDT": D("2018-06-30")},
        {"USUBJID": "S-C1", "TRT01P": "CONTROL", "TRT01A": "CONTROL"},
    ]
)


def ae(usubjid, seq, st, en=None, acn="DOSE NOT CHANGED", rel="NOT RELATED", grade="1", out="RECOVERED/RESOLVED"):
    return {
        "STUDYID": "S",
        "USUBJID": usubjid,
        "AESEQ": float(seq),
        "AETERM": "t",
        "AELLT": "Diarrhea",
        "AEDECOD": "Diarrhoea",
        "AEBODSYS": "Gastrointestinal disorders",
        "AESER": "N",
        "AEREL": rel,
        "AEACN": acn,
        "AEOUT": out,
        "AETOXGR": grade,
        "AESTDTC": st,
        "AEENDTC": en,
    }


AE = sdtm(
    "ae",
    [
        ae("S-T1", 1, "2018-01-20"),  # before first dose: not emergent
        ae("S-T1", 2, "2018-02-01", acn="DOSE REDUCED", rel="RELATED", grade="3"),  # at first dose
        ae("S-T1", 3, "2018-02", "2018-02"),  # partial: imputed to the first dose date
        ae("S-T1", 4, "2018-07-30", acn="DRUG WITHDRAWN", rel="POSSIBLY RELATED"),  # last dose + 30: emergent
        ae("S-T1", 5, "2018-07-31"),  # last dose + 31: not emergent
        ae("S-C1", 1, "2018-01-09"),  # control, before hepatectomy
        ae("S-C1", 2, "2018-03-01", grade="5", out="FATAL"),
    ],
)


def test_adae_treatment_emergence_and_flags():
    out = adae.build(ADSL_T, AE)
    spec = load_dataset_spec("adam", "adae")
    ok, failures = validate_frame(as_submission(out.data, spec), spec)
    assert ok, failures.to_string()
    d = out.data.set_index(["USUBJID", "AESEQ"])
    keys = [("S-T1", 1), ("S-T1", 2), ("S-T1", 3), ("S-T1", 4), ("S-T1", 5), ("S-C1", 1), ("S-C1", 2)]
    assert listed(d.loc[keys, "TRTEMFL"]) == [None, "Y", "Y", "Y", None, None, "Y"]
    assert d.loc[("S-T1", 3), ["ASTDT", "ASTDTF", "AENDT", "AENDTF"]].tolist() == [D("2018-02-01"), "D", D("2018-02-28"), "D"]
    assert d.loc[("S-T1", 2), ["ASTDY", "RELFL", "DOSREDFL", "DOSMODFL", "GR3FL"]].tolist() == [1, "Y", "Y", "Y", "Y"]
    assert d.loc[("S-T1", 4), ["RELFL", "DRUGWDFL", "DOSMODFL"]].tolist() == ["Y", "Y", "Y"]
    assert d.loc[("S-T1", 1), "ASTDY"] == -12
    assert out.issues.empty


def test_adae_occurrence_flags_by_hand():
    # Treated subject S-T1 (first dose 2018-02-01, last 2018-06-30); ASTDT, PT, SOC, grade:
    #  1 02-10 Diarrhoea GI 1 | 2 02-20 Diarrhoea GI 3 | 3 03-01 Nausea GI 3 | 4 02-05 Rash Skin 2 | 5 02-05 Rash Skin 2
    #  6 01-20 Rash Skin 4 (before the first dose: not treatment-emergent, never flagged)
    def occ(seq, st, pt, soc, grade):
        return {**ae("S-T1", seq, st, grade=str(grade)), "AEDECOD": pt, "AEBODSYS": soc}

    gi, skin = "Gastrointestinal disorders", "Skin and subcutaneous tissue disorders"
    rows = [
        occ(1, "2018-02-10", "Diarrhoea", gi, 1),
        occ(2, "2018-02-20", "Diarrhoea", gi, 3),
        occ(3, "2018-03-01", "Nausea", gi, 3),
        occ(4, "2018-02-05", "Rash", skin, 2),
        occ(5, "2018-02-05", "Rash", skin, 2),
        occ(6, "2018-01-20", "Rash", skin, 4),
    ]
    d = adae.build(ADSL_T, sdtm("ae", rows)).data.set_index("AESEQ").sort_index()
    flagged = {
        f: [int(s) for s in d.index[d[f].eq("Y")]] for f in ["AOCCFL", "AOCCSFL", "AOCCPFL", "AOCCIFL", "AOCCSIFL", "AOCCPIFL"]
    }
    assert flagged == {
        "AOCCFL": [4],  # earliest TEAE (02-05; AESEQ 4 before 5)
        "AOCCSFL": [1, 4],  # GI first 02-10, Skin first 02-05
        "AOCCPFL": [1, 3, 4],  # Diarrhoea, Nausea, Rash
        "AOCCIFL": [2],  # grade 3 first reached 02-20 (the grade 4 is not emergent)
        "AOCCSIFL": [2, 4],  # GI worst 3 (02-20), Skin worst 2 (02-05, AESEQ 4)
        "AOCCPIFL": [2, 3, 4],  # Diarrhoea worst 3, Nausea 3, Rash 2
    }
    assert d["TRTAN"].eq(1.0).all()


def test_adae_grade5_without_fatal_outcome_is_an_issue():
    bad = sdtm("ae", [ae("S-C1", 1, "2018-03-01", grade="5", out="RECOVERED/RESOLVED")])
    out = adae.build(ADSL_T, bad)
    assert out.issues["rule"].tolist() == ["GRADE5_FATAL"]


def test_adex_total_dose_and_modification():
    # 400 mg QD x 31 days (Feb 1 - Mar 3) + 0 x 7 days + 100 mg BID x 119 days (Mar 11 - Jul 7) = 12,400 + 23,800 = 36,200 mg
    ex = sdtm(
        "ex",
        [
            {
                "USUBJID": "S-T1",
                "EXDOSE": 400.0,
                "EXDOSFRQ": "QD",
                "EXSTDTC": "2018-02-01",
                "EXENDTC": "2018-03-03",
                "EXADJ": None,
            },
            {
                "USUBJID": "S-T1",
                "EXDOSE": 0.0,
                "EXDOSFRQ": "QD",
                "EXSTDTC": "2018-03-04",
                "EXENDTC": "2018-03-10",
                "EXADJ": "ADVERSE EVENT",
            },
            {
                "USUBJID": "S-T1",
                "EXDOSE": 100.0,
                "EXDOSFRQ": "BID",
                "EXSTDTC": "2018-03-11",
                "EXENDTC": "2018-07-07",
                "EXADJ": "AE RESOLVED",
            },
        ],
    )
    adsl = adsl_frame([{"USUBJID": "S-T1", "TRTSDT": D("2018-02-01"), "TRTEDT": D("2018-07-07")}, {"USUBJID": "S-C1"}])
    out = adex.build(adsl, ex, sdtm("ae", [ae("S-T1", 1, "2018-03-01")]))
    spec = load_dataset_spec("adam", "adex")
    ok, failures = validate_frame(as_submission(out.data, spec), spec)
    assert ok, failures.to_string()
    v = out.data.set_index("PARAMCD")["AVAL"]
    assert set(out.data["USUBJID"]) == {"S-T1"}
    assert v["TDOSE"] == 36200 and v["TDURD"] == 157 and v["PDOSE"] == 292000
    assert v["AVGDD"] == pytest.approx(36200 / 157) and v["PDI"] == 400
    # Dose intensity over the 157 days of exposure: 230.57 mg/day of the planned 400 = 57.64 %;
    # share of the planned 2-year total: 36,200 / 292,000 = 12.40 %.
    assert v["RDI"] == pytest.approx(36200 / 157 / 400 * 100) and v["PCTPDOSE"] == pytest.approx(36200 / 292000 * 100)
    assert v["DOSMODAE"] == 1
    units = out.data.set_index("PARAMCD")["AVALU"]
    assert listed(units[["TDOSE", "TDURD", "AVGDD", "PDOSE", "PDI", "RDI", "PCTPDOSE", "DOSMODAE"]]) == [
        "mg",
        "DAYS",
        "mg/day",
        "mg",
        "mg/day",
        "%",
        "%",
        None,
    ]
    assert out.data.set_index("PARAMCD").loc["RDI", "PARAM"] == "Relative Dose Intensity (%)"
    assert out.data.set_index("PARAMCD").loc["PCTPDOSE", "PARAM"] == "Percent of Planned Total Dose (%)"


def test_adex_full_dose_for_a_week_is_full_intensity():
    # The review's 101-021: 400 mg/day for 7 days. RDI 100 %; 2,800 of 292,000 mg = 0.96 % of the planned total.
    ex = sdtm(
        "ex",
        [{"USUBJID": "S-T1", "EXDOSE": 400.0, "EXDOSFRQ": "QD", "EXSTDTC": "2018-02-01", "EXENDTC": "2018-02-07", "EXADJ": None}],
    )
    adsl = adsl_frame([{"USUBJID": "S-T1", "TRTSDT": D("2018-02-01"), "TRTEDT": D("2018-02-07")}])
    v = adex.build(adsl, ex, sdtm("ae", [ae("S-T1", 1, "2018-02-03")])).data.set_index("PARAMCD")["AVAL"]
    assert v["TDOSE"] == 2800 and v["TDURD"] == 7 and v["RDI"] == pytest.approx(100.0)
    assert v["PCTPDOSE"] == pytest.approx(2800 / 292000 * 100)  # 0.959 %


def test_adex_every_other_day_counts_dosing_days():
    # 400 mg QOD over 2018-02-01..2018-02-10 (10 days) = 5 dosing days = 2,000 mg.
    ex = sdtm(
        "ex",
        [
            {
                "USUBJID": "S-T1",
                "EXDOSE": 400.0,
                "EXDOSFRQ": "QOD",
                "EXSTDTC": "2018-02-01",
                "EXENDTC": "2018-02-10",
                "EXADJ": None,
            }
        ],
    )
    adsl = adsl_frame([{"USUBJID": "S-T1", "TRTSDT": D("2018-02-01"), "TRTEDT": D("2018-02-10")}])
    out = adex.build(adsl, ex, sdtm("ae", [ae("S-T1", 1, "2018-02-03")]))
    v = out.data.set_index("PARAMCD")["AVAL"]
    assert v["TDOSE"] == 2000 and v["DOSMODAE"] == 0


def test_adsl_sorafenib_subject_never_dosed():
    """A SORAFENIB subject without a dose: TRT01A NOT TREATED, SAFFL N, ACTARM null — and ADSL still conforms."""
    from pipeline.adam import adsl as adsl_mod

    dm = sdtm(
        "dm",
        [
            {
                "STUDYID": "S",
                "USUBJID": "S-N1",
                "SUBJID": "N1",
                "SITEID": "101",
                "AGE": 60.0,
                "AGEU": "YEARS",
                "SEX": "M",
                "RACE": "ASIAN",
                "ETHNIC": None,
                "COUNTRY": "CHN",
                "ARMCD": "SORAFENIB",
                "ARM": "Sorafenib 400 mg QD for 2 years",
                "ACTARMCD": None,
                "ACTARM": None,
                "DTHFL": None,
                "DTHDTC": None,
                "RFICDTC": "2018-01-20",
                "RFSTDTC": "2018-01-10",
                "RFXSTDTC": None,
                "RFXENDTC": None,
                "RFPENDTC": "2018-06-01",
            }
        ],
    )
    empty = {n: sdtm(n, []) for n in ("ds", "ex", "ae", "lb", "mi", "mb", "mh", "rs", "ss")}
    empty["ds"].data[["USUBJID", "DSSTDTC", "DSSCAT", "DSCAT", "DSDECOD"]] = None
    for n, cols in {
        "ex": ["EXSTDTC", "EXENDTC"],
        "ae": ["AESTDTC", "AEENDTC"],
        "lb": ["LBDTC", "LBTESTCD", "LBTPT", "LBSTRESN"],
        "rs": ["RSDTC", "RSTESTCD", "RSSTRESC", "RSSTRESN"],
        "ss": ["SSDTC", "SSSTRESC"],
        "mi": ["MITESTCD", "MISTRESN", "MISTRESC"],
        "mb": ["MBTESTCD", "MBSTRESC"],
        "mh": ["MHOCCUR"],
    }.items():
        empty[n].data[["USUBJID", *cols]] = None
    pr = sdtm("pr", [{"USUBJID": "S-N1", "PRSTDTC": "2018-01-10"}])
    out = adsl_mod.build(dm, pr, **empty)
    spec = load_dataset_spec("adam", "adsl")
    ok, failures = validate_frame(as_submission(out.data, spec), spec)
    assert ok, failures.to_string()
    r = out.data.iloc[0]
    assert (r.TRT01P, r.TRT01A, r.TRT01AN, r.SAFFL, r.FASFL) == ("SORAFENIB", "NOT TREATED", 3.0, "N", "Y") and pd.isna(r.ACTARM)
    assert D("2018-01-10") == r.HEPDT and pd.isna(r.TRTSDT) and r.EOSSTT == "ONGOING"
