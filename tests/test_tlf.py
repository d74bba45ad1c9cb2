"""Report displays (pipeline/tlf): the ARD on a hand-made ADaM study of 8 subjects with hand-worked
answers, the number formats at their rounding boundaries, the RTF check against a planted wrong
number, and the ARS reporting event's schema and reference checks against planted errors."""

from __future__ import annotations

import copy
import math

import pandas as pd
import pytest

from pipeline.tlf import ars, fmt, pdf, rtf
from pipeline.tlf.ard import build_ard, lookup
from pipeline.tlf.check import compare
from pipeline.tlf.registry import LISTINGS, TABLES

S, C = "SORAFENIB", "CONTROL"


def _adsl() -> pd.DataFrame:
    rows = [
        # USUBJID, arm, AGE, SEX, EOSSTT, DCSREAS, DTHFL, TUMSZBL
        ("S1", S, 50, "M", "ONGOING", None, "N", 3.0),
        ("S2", S, 60, "M", "DISCONTINUED", "DEATH", "Y", 6.0),
        ("S3", S, 70, "F", "ONGOING", None, "N", 4.0),
        ("S4", S, 64, "M", "DISCONTINUED", "LOST TO FOLLOW-UP", "N", 5.0),
        ("C1", C, 55, "F", "ONGOING", None, "N", 2.0),
        ("C2", C, 65, "M", "DISCONTINUED", "DEATH", "Y", 7.0),
        ("C3", C, 45, "F", "ONGOING", None, "N", 5.5),
        ("C4", C, 58, "M", "ONGOING", None, "N", 4.5),
    ]
    df = pd.DataFrame(rows, columns=["USUBJID", "TRT01P", "AGE", "SEX", "EOSSTT", "DCSREAS", "DTHFL", "TUMSZBL"])
    return df.assign(
        SUBJID=df["USUBJID"],
        SITEID="101",
        TRT01A=df["TRT01P"],
        FASFL="Y",
        SAFFL="Y",
        AGEGR1=["<65" if a < 65 else ">=65" for a in df["AGE"]],
        RACE="ASIAN",
        ETHNIC="NOT HISPANIC OR LATINO",
        ECOGBL="0",
        BCLC=["A", "B", "A", "B", "A", "B", "A", "A"],
        TUMSZGR1=[">5 cm" if t > 5 else "<=5 cm" for t in df["TUMSZBL"]],
        TUMNUMGR=["SINGLE", "MULTIPLE", "SINGLE", "SINGLE", "MULTIPLE", "SINGLE", "SINGLE", "MULTIPLE"],
        EDMGR1=["I-II", "III-IV", "I-II", "I-II", "III-IV", "I-II", "I-II", "III-IV"],
        AFPGR1=["<=400", ">400", "<=400", "<=400", "<=400", ">400", "<=400", "<=400"],
        HBSAGBL="POSITIVE",
        CIRRHFL=["Y", "N", "Y", "N", "Y", "N", "N", "Y"],
        EOTSTT=[None if a == C else "ONGOING" for a in df["TRT01P"]],
        HEPDT=pd.Timestamp("2018-01-01"),
        EOSDT=pd.NaT,
        DTHDT=pd.NaT,
        DTHDTF=None,
    )


def _adtte(adsl: pd.DataFrame) -> pd.DataFrame:
    # RFS, sorafenib: events at 100, 300, 500 days, censored at 200 -> S(1 y) = 3/4 * 1/2 = 0.375, median 300 d
    times = {
        "S1": (100, 0),
        "S2": (200, 1),
        "S3": (300, 0),
        "S4": (500, 0),
        "C1": (50, 0),
        "C2": (150, 0),
        "C3": (400, 1),
        "C4": (600, 0),
    }
    rows = []
    for p in ("RFS", "TTR", "OS"):
        for u, (t, c) in times.items():
            cnsr = c if p != "OS" else 1
            rows.append((u, p, float(t), cnsr, "RECURRENCE" if cnsr == 0 else None))
    t = pd.DataFrame(rows, columns=["USUBJID", "PARAMCD", "AVAL", "CNSR", "EVNTDESC"])
    # S2 died without recurrence: the TTR competing event (CNSR 4), and an OS event at day 200
    t.loc[t["USUBJID"].eq("S2") & t["PARAMCD"].eq("TTR"), ["CNSR", "EVNTDESC"]] = [4, "DEATH WITHOUT RECURRENCE"]
    t.loc[t["USUBJID"].eq("S2") & t["PARAMCD"].eq("OS"), ["CNSR", "EVNTDESC"]] = [0, "DEATH"]
    return t.merge(adsl[["USUBJID", "TRT01P", "TRT01A", "FASFL"]], on="USUBJID")


def _adae() -> pd.DataFrame:
    rows = [
        # USUBJID, arm, SOC, PT, grade, RELFL, AESER, DOSREDFL
        ("S1", S, "Skin", "Rash", 1, "Y", "N", "N"),
        ("S1", S, "Skin", "Rash", 3, "Y", "Y", "Y"),
        ("S2", S, "Gastrointestinal", "Diarrhoea", 2, "N", "N", "N"),
        ("C1", C, "Gastrointestinal", "Diarrhoea", 1, "N", "N", "N"),
    ]
    df = pd.DataFrame(rows, columns=["USUBJID", "TRTA", "AEBODSYS", "AEDECOD", "ATOXGRN", "RELFL", "AESER", "DOSREDFL"])
    return df.assign(
        SUBJID=df["USUBJID"],
        SITEID="101",
        SAFFL="Y",
        TRTEMFL="Y",
        DOSINTFL="N",
        DRUGWDFL="N",
        DOSMODFL=df["DOSREDFL"],
        ATOXGR=df["ATOXGRN"].astype(str),
        AEREL="",
        AEACN="",
        AEOUT="",
        ASTDT=pd.Timestamp("2018-02-01"),
        AENDT=pd.NaT,
    )


def _adex() -> pd.DataFrame:
    rows = [
        (u, p, v)
        for u, d in (("S1", 100.0), ("S2", 200.0), ("S3", 300.0), ("S4", 401.0))
        for p, v in (("TDURD", d), ("TDOSE", d * 400), ("AVGDD", 400.0), ("RDI", 100.0), ("PCTPDOSE", 100.0 * d / 730))
    ]
    return pd.DataFrame(rows, columns=["USUBJID", "PARAMCD", "AVAL"]).assign(SAFFL="Y", TRT01A=S)


@pytest.fixture(scope="module")
def study():
    adsl = _adsl()
    adtte, adae, adex = _adtte(adsl), _adae(), _adex()
    return {"adsl": adsl, "adtte": adtte, "adae": adae, "adex": adex, "ard": build_ard(adsl, adtte, adae, adex)}


# --------------------------------------------------------------------------- ARD: hand-worked numbers


def test_demographics_by_hand(study):
    v = lookup(study["ard"])
    assert v[("AN_FAS_N", "n", S, "", "", "")] == 4
    assert v[("AN_AGE", "mean", S, "", "", "")] == 61.0  # (50 + 60 + 70 + 64) / 4
    assert math.isclose(v[("AN_AGE", "sd", S, "", "", "")], math.sqrt(212 / 3))
    assert v[("AN_AGE", "median", S, "", "", "")] == 62.0
    assert (v[("AN_SEX", "n", S, "M", "", "")], v[("AN_SEX", "pct", S, "M", "", "")]) == (3, 75.0)
    assert (v[("AN_SEX", "n", C, "F", "", "")], v[("AN_SEX", "pct", C, "F", "", "")]) == (2, 50.0)
    # the age group boundary: 64 is <65, 65 is >=65
    assert v[("AN_AGEGR1", "n", C, ">=65", "", "")] == 1
    # DCSREAS omits subjects still on study (omit_missing): no "Missing" category
    assert ("AN_DCSREAS", "n", S, "Missing", "", "") not in v
    assert v[("AN_DCSREAS", "n", S, "DEATH", "", "")] == 1


def test_km_landmark_median_and_events_by_hand(study):
    v = lookup(study["ard"])
    assert math.isclose(v[("AN_RFS_KM", "est", S, "", "", "1 y")], 0.375)  # 3/4 x 1/2
    assert v[("AN_RFS_KM", "n_at_risk", S, "", "", "1 y")] == 1  # only the 500-day subject
    assert math.isclose(v[("AN_RFS_MED", "est", S, "", "", "")], 300 / 30.4375)
    assert (v[("AN_RFS_EV", "n", S, "Any event", "", "")], v[("AN_RFS_EV", "n", S, "Censored", "", "")]) == (3, 1)
    assert v[("AN_RFS_EV", "pct", S, "Recurrence", "", "")] == 75.0
    # TTR: the competing death is its own category, neither an event nor an ordinary censoring
    assert v[("AN_TTR_EV", "n", S, "Any event", "", "")] == 3
    assert v[("AN_TTR_EV", "n", S, "Death without recurrence", "", "")] == 1
    assert v[("AN_TTR_EV", "n", S, "Censored", "", "")] == 0


def test_adverse_events_counted_once_per_subject_at_worst_grade(study):
    v = lookup(study["ard"])
    assert (v[("AN_TEAE_SOCPT", "n", S, "ANY", "", "")], v[("AN_TEAE_SOCPT", "pct", S, "ANY", "", "")]) == (2, 50.0)
    assert v[("AN_TEAE_SOCPT", "n", S, "Skin", "Rash", "")] == 1  # S1 has two rash records
    assert v[("AN_TEAE_GRADE", "n", S, "Rash", "Grade 3", "")] == 1
    assert v[("AN_TEAE_GRADE", "n", S, "Rash", "Grade 1", "")] == 0  # S1's worst is grade 3
    assert v[("AN_TEAE_OVERVIEW", "n", S, "Any serious TEAE", "", "")] == 1
    assert v[("AN_TEAE_OVERVIEW", "n", C, "Any TEAE of CTCAE grade 3 or higher", "", "")] == 0
    assert v[("AN_DEATHS", "pct", C, "", "", "")] == 25.0


def test_exposure_only_for_treated_subjects(study):
    v = lookup(study["ard"])
    assert v[("AN_EX_TDOSE", "median", S, "", "", "")] == 250 * 400.0
    assert ("AN_EX_TDOSE", "n", C, "", "", "") not in v


def test_the_ard_is_deterministic(study):
    again = build_ard(study["adsl"], study["adtte"], study["adae"], study["adex"])
    pd.testing.assert_frame_equal(again, study["ard"])


def test_the_ard_takes_the_engine_rows_the_tlf_asset_passes_and_refuses_a_renamed_statistic(study):
    from pipeline.analysis.endpoints import efficacy_results, safety_results
    from pipeline.tlf.ard import ArdMappingError

    adsl, adtte, adae, adex = study["adsl"], study["adtte"], study["adae"], study["adex"]
    # as the tlf/ard asset passes them: efficacy and safety rows in one frame (the safety rows are not the ARD's)
    results = pd.concat([efficacy_results(adtte, adsl), safety_results(adae, adsl, adex)], ignore_index=True)
    pd.testing.assert_frame_equal(build_ard(adsl, adtte, adae, adex, endpoint_results=results), study["ard"])
    planted = results.replace({"STATISTIC": {"Hazard ratio (unadjusted)": "Cox HR (unadjusted)"}})
    with pytest.raises(ArdMappingError) as e:
        build_ard(adsl, adtte, adae, adex, endpoint_results=planted)
    msg = str(e.value)
    assert "endpoint engine statistic 'Cox HR (unadjusted)'" in msg and "no mapping in pipeline/tlf/ard.py" in msg
    # and each analysis left without its rows, by id
    for aid in ("AN_RFS_HR", "AN_TTR_HR", "AN_OS_HR"):
        assert f"analysis {aid} (specs/analysis/analyses.yaml) statistic 'Hazard ratio (unadjusted)': the endpoint engine" in msg


# --------------------------------------------------------------------------- number formats at their boundaries


@pytest.mark.parametrize(
    ("x", "dp", "text"),
    [
        (0.0005, 3, "0.001"),
        (0.00049, 3, "0.000"),
        (2.5, 0, "3"),
        (-0.04, 1, "0.0"),
        (0.3745, 3, "0.375"),
        (110800.0, 0, "110800"),
        (float("nan"), 1, ""),
        (None, 1, ""),
        (float("inf"), 3, ""),
    ],
)
def test_rounding_is_half_away_from_zero(x, dp, text):
    assert fmt.rnd(x, dp) == text


def test_cell_formats():
    assert fmt.rnd(110800.0, 0, thousands=True) == "110,800" and fmt.mg(110800.4) == "110,800"
    assert fmt.rate(0.47905) == "47.9" and fmt.rate_ci(0.4791, 0.36349, 0.58645) == "47.9 (36.3, 58.6)"
    assert fmt.hr_ci(0.6655, 0.462, 0.959) == "0.67 (0.46, 0.96)"
    assert fmt.pvalue(0.9995) == ">0.999" and fmt.pvalue(0.99949) == "0.999"
    assert fmt.n_pct(3, 75.0) == "3 (75.0)" and fmt.n_pct(0, 0.0) == "0"
    assert fmt.est_ci(0.4791, 0.36349, 0.5864) == "0.479 (0.363, 0.586)"
    assert fmt.est_ci(19.8, 12.3, float("nan"), 1) == "19.8 (12.3, NE)"
    assert fmt.est_ci(2.5, 0.1, float("inf")) == "2.500 (0.100, NE)"
    assert fmt.pvalue(0.0004999) == "<0.001" and fmt.pvalue(0.0005) == "0.001" and fmt.pvalue(0.0277) == "0.028"
    assert fmt.mean_sd(61.0, math.sqrt(212 / 3)) == "61.0 (8.41)"
    assert fmt.header("Sorafenib", 79) == "Sorafenib (N=79)"


# --------------------------------------------------------------------------- displays, RTF and the check


def test_rfs_table_prints_the_hand_worked_numbers(study):
    t = TABLES["t14_2_1_rfs"](study["ard"])
    rows = {r[0].strip(): r[1:] for r in t.rows}
    assert rows["1 year"][0].startswith("37.5 (")  # 0.375 as per cent
    assert rows["Median RFS, months (95% CI)"][0].startswith("9.9 (")
    assert rows["Any event"] == ("3 (75.0)", "3 (75.0)")
    assert t.header[1].endswith("(N=4)")


def test_every_table_passes_its_rtf_check_and_a_planted_number_fails_it(study, tmp_path):
    for display_id, build in TABLES.items():
        t = build(study["ard"])
        path = tmp_path / f"{display_id}.rtf"
        rtf.write(t, path)
        assert compare(t, path) == [], display_id
    t = TABLES["t14_1_2_demog"](study["ard"])
    path = tmp_path / "t14_1_2_demog.rtf"
    text = path.read_text(encoding="utf-8")
    assert "{\\f0 61.0 (8.41)}\\cell" in text
    path.write_text(text.replace("{\\f0 61.0 (8.41)}\\cell", "{\\f0 61.1 (8.41)}\\cell", 1), encoding="utf-8")
    bad = compare(t, path)
    assert [(m.expected, m.printed) for m in bad] == [("61.0 (8.41)", "61.1 (8.41)")]


def test_a_row_missing_from_the_rtf_fails_the_check(study, tmp_path):
    t = TABLES["t14_3_1_ae_overview"](study["ard"])
    path = tmp_path / "t.rtf"
    rtf.write(t, path)
    shorter = type(t)(t.display, t.header, t.rows[:-1], t.widths)
    rtf.write(shorter, path)
    assert compare(t, path)[-1].printed == ""


def test_rtf_and_pdf_bytes_are_reproducible(study, tmp_path):
    t = TABLES["t14_3_2_ae_soc_pt"](study["ard"])
    rtf.write(t, tmp_path / "a.rtf")
    rtf.write(t, tmp_path / "b.rtf")
    assert (tmp_path / "a.rtf").read_bytes() == (tmp_path / "b.rtf").read_bytes()
    assert pdf.pdf_bytes(t) == pdf.pdf_bytes(t)


def test_pdf_has_searchable_text(study):
    import io

    from pypdf import PdfReader

    t = TABLES["t14_1_2_demog"](study["ard"])
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.pdf_bytes(t))).pages)
    assert "Table 14.1.2" in text and "61.0 (8.41)" in text


def test_listings_by_site_carry_no_direct_identifier(study):
    t = LISTINGS["l16_2_7_2_sae"][0](study["adae"])
    assert t.page_by == 0 and len(t.rows) == 1
    assert t.rows[0][:2] == ("101", "S1")


# --------------------------------------------------------------------------- ARS reporting event


def test_reporting_event_is_valid_and_every_reference_resolves(study):
    doc = ars.reporting_event(study["ard"])
    assert ars.schema_errors(doc) == []
    assert ars.reference_errors(doc) == []
    rfs = next(a for a in doc["analyses"] if a["id"] == "AN_RFS_KM")
    assert rfs["purpose"]["controlledTerm"] == "PRIMARY OUTCOME MEASURE"
    est = [
        r
        for r in rfs["results"]
        if r["operationId"] == "MTH_KM_RATE_est"
        and {"groupingId": "GF_TIMEPOINT", "groupValue": "1 y"} in r["resultGroups"]
        and {"groupingId": "GF_TRT01P", "groupId": "GF_TRT01P_SORAFENIB"} in r["resultGroups"]
    ]
    # raw: lifelines' value at full precision (0.375 up to the last bit); formatted as the table prints it
    assert [(round(float(r["rawValue"]), 12), r["formattedValue"]) for r in est] == [(0.375, "37.5")]


def test_schema_check_catches_a_misspelled_key_and_a_bad_term(study):
    doc = copy.deepcopy(ars.reporting_event(study["ard"]))
    doc["analyses"][0]["reson"] = doc["analyses"][0].pop("reason")
    doc["analysisSets"][0]["condition"]["comparator"] = "EQUALS"
    errors = "\n".join(ars.schema_errors(doc))
    assert "'reason' is a required property" in errors and "'EQUALS' is not one of" in errors


def test_reference_check_catches_what_the_schema_does_not(study):
    doc = copy.deepcopy(ars.reporting_event(study["ard"]))
    doc["analyses"][0]["methodId"] = "MTH_NOPE"
    doc["analyses"][1]["analysisSetId"] = "AS_NOPE"
    doc["mainListOfContents"]["contentsList"]["listItems"].pop()  # the last output and its analyses
    assert ars.schema_errors(doc) == []  # structurally still valid
    errors = ars.reference_errors(doc)
    assert f"analysis {doc['analyses'][0]['id']}: methodId MTH_NOPE is not a method" in errors
    assert f"analysis {doc['analyses'][1]['id']}: analysisSetId AS_NOPE is not an analysis set" in errors
    assert any(e.startswith("output ") and e.endswith("is in no list of contents") for e in errors)


def test_cumulative_incidence_figure_is_reproducible(study):
    from pipeline.analysis.plots import cif_figures
    from pipeline.analysis.survival import competing_risks

    t = study["adtte"].assign(ARM=lambda d: d["TRT01P"])
    cr = competing_risks(t[t["PARAMCD"].eq("TTR")], t[t["PARAMCD"].eq("OS")])
    assert (cr.loc[cr["USUBJID"].eq("S2"), ["EVENT", "AVAL"]].to_numpy().tolist()) == [[2, 200.0]]
    a, b = cif_figures(cr, "CIF"), cif_figures(cr, "CIF")
    assert a == b and a["png"][:8] == b"\x89PNG\r\n\x1a\n" and a["pdf"][:5] == b"%PDF-"
