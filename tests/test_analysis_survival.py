"""Endpoint statistics on small ADTTE frames whose answers are worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from pipeline.analysis.survival import (
    DAYS_PER_YEAR,
    compare_arms,
    competing_risks,
    cumulative_incidence,
    landmark_rates,
    median_time,
)


def adtte(aval, cnsr, arm="A", desc=None):
    return pd.DataFrame({"AVAL": aval, "CNSR": cnsr, "ARM": arm, "EVNTDESC": desc or [None] * len(aval)})


def cr(aval, event, arm="A"):
    """Competing-risk rows: EVENT 1 recurrence, 2 death without recurrence, 0 censored."""
    return pd.DataFrame({"AVAL": aval, "EVENT": event, "ARM": arm})


def test_km_landmark_by_hand():
    # Events at 100, 200 days; censored at 300; event at 800; censored at 900.
    # S(365.25) = (4/5) * (3/4) = 0.6; S(730.5) still 0.6 (the 300-day censoring removes no mass);
    # at risk beyond 730.5 days: 800 and 900 -> 2.
    d = adtte([100, 200, 300, 800, 900], [0, 0, 1, 0, 1])
    rows = {r["TIMEPOINT"]: r for r in landmark_rates(d, "RFS", "RFS", [1, 2])}
    assert rows["1 y"]["VALUE"] == pytest.approx(0.6)
    assert rows["2 y"]["VALUE"] == pytest.approx(0.6)
    assert rows["2 y"]["N"] == 2
    assert rows["1 y"]["LCL"] < 0.6 < rows["1 y"]["UCL"]


def test_landmark_beyond_follow_up_is_blank():
    d = adtte([100, 200], [0, 1])
    (row,) = landmark_rates(d, "OS", "OS", [5])
    assert np.isnan(row["VALUE"])


def test_median_in_months():
    # Four events at 30, 60, 90, 120 days: S drops to 0.5 at 60 days -> median 60 d = 1.97 months.
    (row,) = median_time(adtte([30, 60, 90, 120], [0, 0, 0, 0]), "TTR", "TTR")
    assert row["VALUE"] == pytest.approx(60 / (DAYS_PER_YEAR / 12))


def test_cumulative_incidence_with_competing_death():
    # Recurrence at 100 d, death at 200 d, censored at 300 d, recurrence at 400 d; at 2 years:
    # AJ CIF(recurrence) = 1/4 + (S(200)=2/4 ... ) -> 1/4 at 100 d; death removes 1/4 of mass;
    # at 400 d: S(399) = 3/4 * 2/3 = 1/2, one at risk -> + 1/2 * 1/1 = 0.75.
    (row,) = cumulative_incidence(cr([100, 200, 300, 400], [1, 2, 0, 1]), "Recurrence rate", 2)
    assert row["VALUE"] == pytest.approx(0.75)


def test_competing_risks_rebuilt_from_adtte_alone():
    # TTR rows: S1 recurrence day 100; S2 died without recurrence (CNSR 4, censored at its last assessment day 150;
    # OS: died day 350); S3 censored day 300 (CNSR 2); S4 recurrence day 400.
    # With the death at OS's day 350: day 100 at risk 4 -> CIF 1/4, S = 3/4; day 300 censoring; day 350 death, at
    # risk 2 -> S = 3/8; day 400 at risk 1 -> CIF = 1/4 + 3/8 = 0.625. (At TTR's day 150 it would be 0.75.)
    ttr = pd.DataFrame({"USUBJID": ["S1", "S2", "S3", "S4"], "ARM": "A", "AVAL": [100, 150, 300, 400], "CNSR": [0, 4, 2, 0]})
    os_ = pd.DataFrame({"USUBJID": ["S1", "S2", "S3", "S4"], "ARM": "A", "AVAL": [900, 350, 950, 990], "CNSR": [1, 0, 3, 3]})
    got = competing_risks(ttr, os_)
    assert got["EVENT"].tolist() == [1, 2, 0, 1] and got["AVAL"].tolist() == [100, 350, 300, 400]
    (row,) = cumulative_incidence(got, "Recurrence rate", 2)
    assert row["VALUE"] == pytest.approx(0.625)


def test_competing_death_without_an_os_death_is_an_error():
    ttr = pd.DataFrame({"USUBJID": ["S1"], "ARM": "A", "AVAL": [150], "CNSR": [4]})
    os_ = pd.DataFrame({"USUBJID": ["S1"], "ARM": "A", "AVAL": [900], "CNSR": [3]})
    with pytest.raises(ValueError, match="S1"):
        competing_risks(ttr, os_)


def test_hazard_ratio_direction():
    rng = np.random.default_rng(7)
    n = 400
    t_a = rng.exponential(1000, n)  # treated: lower hazard
    t_b = rng.exponential(500, n)
    d = pd.DataFrame({"AVAL": np.r_[t_a, t_b], "CNSR": 0, "ARM": ["TRT"] * n + ["CTL"] * n})
    rows = {r["STATISTIC"]: r for r in compare_arms(d, None, "RFS", "RFS", "TRT")}
    # True HR = 0.5; with 800 events the 95% CI is about +-15%.
    assert 0.4 < rows["Hazard ratio (unadjusted)"]["VALUE"] < 0.62
    assert rows["Log-rank p-value"]["VALUE"] < 1e-6


def test_cumulative_incidence_with_tied_times_and_a_non_default_index():
    # Two recurrences on day 100 (a tie), one death on day 200; rows indexed 10..13 as a filtered frame is.
    d = cr([100, 100, 200, 300], [1, 1, 2, 0])
    d.index = [10, 11, 12, 13]
    (row,) = cumulative_incidence(d, "Recurrence rate", 2)
    # 2 of 4 recur by day 100; the death and the censoring add no recurrence: CIF = 0.5 (jitter moves ties by < 1 day).
    assert row["VALUE"] == pytest.approx(0.5, abs=1e-9)
