"""AE incidence and exposure summaries on hand-made ADaM rows, counted by hand."""

import pandas as pd
import pytest

from pipeline.analysis.endpoints import ae_incidence, safety_results

ADSL = pd.DataFrame(
    {
        "USUBJID": ["A", "B", "C", "D"],
        "SAFFL": ["Y", "Y", "Y", "N"],
        "TRT01A": ["SORAFENIB", "SORAFENIB", "CONTROL", "NOT TREATED"],
    }
)


def ae(u, arm, pt, grade, rel="N", te="Y", mod=None, worst="Y"):
    return {
        "USUBJID": u,
        "TRTA": arm,
        "AEBODSYS": "Skin",
        "AEDECOD": pt,
        "ATOXGRN": float(grade),
        "RELFL": "Y" if rel == "Y" else None,
        "TRTEMFL": te,
        "AESER": "N",
        "DOSMODFL": mod,
        "DRUGWDFL": None,
        "AOCCPIFL": worst if te else None,
    }


ADAE = pd.DataFrame(
    [
        ae("A", "SORAFENIB", "HFS", 1, rel="Y", worst=None),
        ae("A", "SORAFENIB", "HFS", 3, rel="Y", mod="Y"),  # same subject, worse grade: counted once, worst grade 3
        ae("B", "SORAFENIB", "HFS", 2),
        ae("B", "SORAFENIB", "Rash", 1, te=None),  # not treatment-emergent: ignored
        ae("C", "CONTROL", "Rash", 1),
        ae("D", "NOT TREATED", "Rash", 4),  # not in the safety set
    ]
)


def test_incidence_by_term_counts_subjects_once_with_worst_grade():
    inc = ae_incidence(ADAE, ADSL).set_index(["ARM", "AEDECOD"])
    hfs = inc.loc[("SORAFENIB", "HFS")]
    assert (hfs.N_ANY, hfs.N_GE3, hfs.N_REL, hfs.N_WORST_G3, hfs.N_WORST_G2, hfs.N_WORST_G1, hfs.N_ARM) == (2, 1, 1, 1, 1, 0, 2)
    assert hfs.PCT_ANY == 100.0
    assert ("SORAFENIB", "Rash") not in inc.index
    assert inc.loc[("CONTROL", "Rash"), "N_ANY"] == 1 and "NOT TREATED" not in inc.index.get_level_values(0)


def test_safety_summary_rows():
    adex = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "B", "B"],
            "SAFFL": "Y",
            "PARAMCD": ["DOSMODAE", "TDOSE", "DOSMODAE", "TDOSE"],
            "AVAL": [1.0, 100.0, 0.0, 300.0],
        }
    )
    r = safety_results(ADAE, ADSL, adex)

    def value(paramcd, arm, stat):
        (v,) = r.loc[r["PARAMCD"].eq(paramcd) & r["ARM"].eq(arm) & r["STATISTIC"].eq(stat), "VALUE"]
        return v

    assert value("AE", "SORAFENIB", "Any TEAE grade >= 3: subjects (%)") == pytest.approx(50.0)
    assert value("AE", "CONTROL", "Any TEAE: subjects (%)") == pytest.approx(100.0)
    assert value("DOSMODAE", "SORAFENIB", "Subjects (%)") == pytest.approx(50.0)
    assert (value("TDOSE", "SORAFENIB", "Mean"), value("TDOSE", "SORAFENIB", "Median"), value("TDOSE", "SORAFENIB", "Max")) == (
        200,
        200,
        300,
    )


def test_exposure_summary_reports_dose_intensity_and_share_of_plan_by_name():
    adex = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "B", "B"],
            "SAFFL": "Y",
            "PARAMCD": ["RDI", "PCTPDOSE", "RDI", "PCTPDOSE"],
            "AVAL": [100.0, 0.96, 80.0, 60.0],
        }
    )
    r = safety_results(ADAE, ADSL, adex)
    med = r[r["STATISTIC"].eq("Median")].set_index("PARAMCD")
    assert med.loc["RDI", ["ENDPOINT", "VALUE"]].tolist() == ["Relative dose intensity (%)", 90.0]
    assert med.loc["PCTPDOSE", ["ENDPOINT", "VALUE"]].tolist() == ["Percent of planned total dose (%)", pytest.approx(30.48)]
    assert "ADEX RDI" in med.loc["RDI", "METHOD"]
