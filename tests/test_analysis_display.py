"""Endpoint results for a statistician: one meaning per count column, display rounding by convention."""

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.analysis.display import COUNT_COLS, DISPLAY_COLS, display_table, formatter, p_value, plot_annotation, with_counts
from pipeline.analysis.plots import km_figures
from pipeline.analysis.survival import DAYS_PER_YEAR, RESULT_COLS, _row


@pytest.mark.parametrize(
    "p, text",
    [
        (0.0004999, "<0.001"),
        (0.0005, "0.001"),
        (0.0275, "0.028"),
        (0.02799497, "0.028"),
        (0.0304, "0.030"),
        (0.9583706, "0.958"),
        (0.9995, ">0.999"),
        (0.99949, "0.999"),
    ],
)
def test_p_value_three_decimals_and_bounds(p, text):
    assert p_value(p) == text


@pytest.mark.parametrize(
    "endpoint, stat, value, text",
    [
        ("Recurrence-free survival", "KM rate", 0.5053658536585367, "50.5%"),
        ("2-year recurrence rate", "Cumulative incidence", 0.6533789975470915, "65.3%"),
        ("Time to recurrence", "Median (months)", 14.160164271047227, "14.2"),
        ("Recurrence-free survival", "Hazard ratio (unadjusted)", 0.6661158473652501, "0.67"),
        ("Recurrence-free survival", "Hazard ratio (adjusted)", 0.665, "0.67"),  # half away from zero
        ("Adverse events", "Any TEAE: subjects (%)", 42.666666666666664, "42.7%"),
        ("Total dose (mg)", "Median", 110800.0, "110,800"),  # not 111000 (3 significant figures)
        ("Total dose (mg)", "Mean", 133807.59493670886, "133,808"),
        ("Total dose (mg)", "Min", 2800.0, "2,800"),
        ("Relative dose intensity (%)", "Mean", 45.824518813941395, "45.8"),
        ("Relative dose intensity (%)", "SD", 39.67592107156488, "39.68"),
        ("Treatment duration (days)", "Max", 730.0, "730"),
    ],
)
def test_display_rounding_by_statistic(endpoint, stat, value, text):
    assert formatter(endpoint, stat)(value) == text


def _adtte() -> pd.DataFrame:
    # Control: events on days 100 and 500, censored at 800 and 900. Sorafenib: event on day 1000, censored at 300 and 1200.
    return pd.DataFrame(
        {
            "USUBJID": list("ABCDEFG"),
            "PARAMCD": "RFS",
            "ARM": ["CONTROL"] * 4 + ["SORAFENIB"] * 3,
            "AVAL": [100.0, 500.0, 800.0, 900.0, 1000.0, 300.0, 1200.0],
            "CNSR": [0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0],
        }
    )


ADSL = pd.DataFrame({"USUBJID": list("ABCDEFGH"), "SAFFL": ["Y"] * 7 + ["N"], "TRT01A": ["CONTROL"] * 4 + ["SORAFENIB"] * 4})
ADEX = pd.DataFrame({"USUBJID": ["E", "E", "F", "G"], "SAFFL": "Y"})


def _results() -> pd.DataFrame:
    rows = [
        _row("Recurrence-free survival", "RFS", "CONTROL", "KM rate", "1 y", 0.75, 0.2, 0.95, n=3),
        _row("Recurrence-free survival", "RFS", "CONTROL", "Median (months)", "", np.nan, 3.3, np.nan, n=4),
        _row("Recurrence-free survival", "RFS", "SORAFENIB vs CONTROL", "Hazard ratio (unadjusted)", "", 0.5, 0.1, 2.5, n=7),
        _row("Recurrence-free survival", "RFS", "SORAFENIB vs CONTROL", "Log-rank p-value", "", 0.0123, n=7),
        _row("Adverse events", "AE", "SORAFENIB", "Any TEAE: subjects (%)", "", 50.0, n=2),
        _row("Dose modification due to AE", "DOSMODAE", "SORAFENIB", "Subjects (%)", "", 100 / 3, n=1),
        _row("Total dose (mg)", "TDOSE", "SORAFENIB", "Median", "", 110800.0, n=3),
    ]
    return pd.DataFrame(rows, columns=RESULT_COLS)


def test_counts_one_meaning_per_column():
    r = with_counts(_results(), _adtte(), ADSL, ADEX)
    assert "N" not in r.columns and list(r.columns[8:11]) == COUNT_COLS
    got = {
        (s, a): tuple(None if math.isnan(x) else int(x) for x in v)
        for s, a, *v in r[["STATISTIC", "ARM", *COUNT_COLS]].itertuples(index=False)
    }
    assert got[("KM rate", "CONTROL")] == (4, 3, 1)  # 4 analysed, 3 at risk at 1 y, 1 event by day 365.25
    assert got[("Median (months)", "CONTROL")] == (4, None, 2)
    assert got[("Hazard ratio (unadjusted)", "SORAFENIB vs CONTROL")] == (7, None, 3)
    assert got[("Any TEAE: subjects (%)", "SORAFENIB")] == (3, None, 2)  # safety set of the arm: E, F, G (H not in it)
    assert got[("Subjects (%)", "SORAFENIB")] == (3, None, 1)  # sorafenib subjects with exposure records
    assert got[("Median", "SORAFENIB")] == (3, None, None)
    assert DAYS_PER_YEAR == 365.25


def test_display_table_text_and_not_reached():
    shown = display_table(with_counts(_results(), _adtte(), ADSL, ADEX))
    assert list(shown.columns) == DISPLAY_COLS
    rows = shown.set_index("STATISTIC")
    assert rows.loc["KM rate", "estimate"] == "75.0%" and rows.loc["KM rate", "95% CI"] == "20.0%, 95.0%"
    assert rows.loc["Median (months)", "estimate"] == "NR" and rows.loc["Median (months)", "95% CI"] == "3.3, NR"
    assert rows.loc["Log-rank p-value", "estimate"] == "0.012" and rows.loc["Log-rank p-value", "95% CI"] == ""
    assert rows.loc["Median", "estimate"] == "110,800" and rows.loc["Median", "N analysed"] == "3"
    assert rows.loc["Median", "n events"] == "" and rows.loc["KM rate", "n at risk"] == "3"


def test_plot_annotation_hr_ci_and_p():
    assert plot_annotation(_results(), "RFS") == "HR Sorafenib vs Control 0.50 (95% CI 0.10, 2.50); log-rank p = 0.012"
    assert plot_annotation(_results(), "OS") == ""


def test_km_figures_vector_beside_png_and_deterministic():
    a = km_figures(_adtte(), "RFS", "HR 0.50")
    b = km_figures(_adtte(), "RFS", "HR 0.50")
    assert a == b
    assert a["png"][:8] == b"\x89PNG\r\n\x1a\n" and a["pdf"][:5] == b"%PDF-" and b"<svg" in a["svg"][:500]
    assert b"CreationDate" not in a["pdf"] and b"<dc:date>" not in a["svg"]
