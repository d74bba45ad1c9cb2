"""The endpoint results as a statistician reports them: counts with one meaning per column, rounded by convention.

:func:`with_counts` replaces the results table's single N (at risk for a KM rate, subjects
analysed for a median or a hazard ratio, subjects with the event for an incidence) by three
columns, each with one meaning:

* ``N_ANALYSED``: subjects in the analysis (the arm's analysis set; both arms for a comparison);
* ``N_AT_RISK``: subjects still at risk at the landmark (KM rates only);
* ``N_EVENTS``: subjects with the event (by the landmark for a rate; in all for a median, a test or
  a hazard ratio; subjects with the adverse event for an incidence).

:func:`display_table` rounds for reading (Parquet keeps every digit): proportions and rates as
per cent with 1 decimal; medians and times in months with 1 decimal; hazard ratios with 2
decimals; p-values with 3 decimals, ``<0.001`` below; doses in mg as integers with thousands
separators; other means and medians 1 decimal, SDs 2, minima and maxima as measured.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from pipeline.analysis.survival import DAYS_PER_YEAR
from pipeline.tlf import fmt  # the study's one set of rounding conventions

COUNT_COLS = ["N_ANALYSED", "N_AT_RISK", "N_EVENTS"]
DISPLAY_COLS = [
    "ENDPOINT",
    "PARAMCD",
    "ARM",
    "STATISTIC",
    "TIMEPOINT",
    "N analysed",
    "n at risk",
    "n events",
    "estimate",
    "95% CI",
    "METHOD",
]
NOT_REACHED = "NR"
_YEARS = re.compile(r"^(\d+(?:\.\d+)?) y$")


def _landmark_days(timepoint: object) -> float | None:
    m = _YEARS.match(str(timepoint or ""))
    return float(m.group(1)) * DAYS_PER_YEAR if m else None


def _arms(arm: str) -> list[str]:
    """``SORAFENIB vs CONTROL`` -> both arms; an arm -> itself."""
    return [a.strip() for a in str(arm).split(" vs ")]


def with_counts(
    results: pd.DataFrame, adtte_fas: pd.DataFrame, adsl: pd.DataFrame, adex: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Take the results (survival.RESULT_COLS), the FAS ADTTE with ARM = TRT01P, ADSL and ADEX;
    return the results with N replaced by COUNT_COLS (float, NaN where a count does not apply)."""
    out = results.copy()
    saf = adsl[adsl["SAFFL"].eq("Y")]
    n_saf = saf.groupby("TRT01A")["USUBJID"].nunique()
    treated = adex.loc[adex["SAFFL"].eq("Y"), "USUBJID"].nunique() if adex is not None and "SAFFL" in adex else np.nan
    analysed, at_risk, events = [], [], []
    for r in out.itertuples(index=False):
        stat = str(r.STATISTIC)
        t = adtte_fas[adtte_fas["PARAMCD"].eq(r.PARAMCD) & adtte_fas["ARM"].isin(_arms(r.ARM))]
        a = k = e = np.nan
        if stat.endswith("subjects (%)") or stat == "Subjects (%)":
            e = r.N  # subjects with the event
            a = treated if r.PARAMCD == "DOSMODAE" else n_saf.get(r.ARM, np.nan)
        elif len(t):
            a = float(t["USUBJID"].nunique())
            ev = t["CNSR"].eq(0)
            day = _landmark_days(r.TIMEPOINT)
            e = float((ev & (t["AVAL"] <= day)).sum()) if day is not None else float(ev.sum())
            if stat == "KM rate":
                k = r.N
        else:  # descriptive statistics: N is the number of subjects with a value
            a = r.N
        analysed.append(a)
        at_risk.append(k)
        events.append(e)
    at = out.columns.get_loc("N")
    out = out.drop(columns=["N"])
    for i, (name, values) in enumerate(zip(COUNT_COLS, (analysed, at_risk, events))):
        out.insert(at + i, name, pd.Series(values, index=out.index, dtype="float64"))
    return out


# -------------------------------------------------------------------------------------------- rounding


def _fixed(x: float, dp: int) -> str:
    return fmt.rnd(x, dp)


def _int(x: float) -> str:
    return fmt.mg(x)


def p_value(p: float) -> str:
    """3 decimals; ``<0.001`` below 0.0005 (what would print as 0.000), ``>0.999`` from 0.9995 (1.000)."""
    return fmt.pvalue(p)


def formatter(endpoint: str, statistic: str):
    """Take an endpoint label and a statistic; return (value -> text) by the statistic's convention."""
    stat = statistic.lower()
    if stat.startswith("log-rank p") or stat.endswith("p-value"):
        return p_value
    if stat.startswith("hazard ratio"):
        return lambda x: _fixed(x, 2)  # as fmt.hr_ci
    if stat in ("km rate", "cumulative incidence"):
        return lambda x: fmt.rate(x) + "%"
    if stat.endswith("(%)"):
        return lambda x: _fixed(x, 1) + "%"
    if stat.startswith("median (months)"):
        return lambda x: _fixed(x, 1)
    if "(mg)" in endpoint:
        return _int
    if stat == "sd":
        return lambda x: _fixed(x, 2)
    if stat in ("min", "max") and "(days)" in endpoint:
        return _int
    return lambda x: _fixed(x, 1)


def _count(x: float) -> str:
    return "" if pd.isna(x) else f"{int(x):,}"


def display_table(results: pd.DataFrame) -> pd.DataFrame:
    """Take the results with COUNT_COLS; return DISPLAY_COLS as text rounded by convention.

    A missing median is ``NR`` (not reached); a missing rate (follow-up short of the landmark)
    and a missing CI bound are blank.
    """
    rows = []
    for r in results.itertuples(index=False):
        f = formatter(str(r.ENDPOINT), str(r.STATISTIC))
        if pd.isna(r.VALUE):
            est = NOT_REACHED if str(r.STATISTIC).startswith("Median (months)") else ""
        else:
            est = f(r.VALUE)
        if pd.isna(r.LCL) and pd.isna(r.UCL):
            ci = ""
        else:
            lo = NOT_REACHED if pd.isna(r.LCL) else f(r.LCL)
            hi = NOT_REACHED if pd.isna(r.UCL) else f(r.UCL)
            ci = f"{lo}, {hi}"
        rows.append(
            {
                "ENDPOINT": r.ENDPOINT,
                "PARAMCD": r.PARAMCD,
                "ARM": r.ARM,
                "STATISTIC": r.STATISTIC,
                "TIMEPOINT": "" if pd.isna(r.TIMEPOINT) else r.TIMEPOINT,
                "N analysed": _count(r.N_ANALYSED),
                "n at risk": _count(r.N_AT_RISK),
                "n events": _count(r.N_EVENTS),
                "estimate": est,
                "95% CI": ci,
                "METHOD": r.METHOD,
            }
        )
    return pd.DataFrame(rows, columns=DISPLAY_COLS)


def plot_annotation(results: pd.DataFrame, paramcd: str) -> str:
    """``HR 0.67 (95% CI 0.46, 0.96); log-rank p = 0.028`` for one parameter (blank when not estimated)."""
    r = results[results["PARAMCD"].eq(paramcd)]
    hr = r[r["STATISTIC"].eq("Hazard ratio (unadjusted)")]
    lr = r[r["STATISTIC"].eq("Log-rank p-value")]
    parts = []
    if len(hr):
        h = hr.iloc[0]
        arms = _arms(h["ARM"])
        parts.append(
            f"HR {arms[0].title()} vs {arms[-1].title()} {_fixed(h['VALUE'], 2)} (95% CI {_fixed(h['LCL'], 2)}, {_fixed(h['UCL'], 2)})"
        )
    if len(lr):
        p = p_value(lr.iloc[0]["VALUE"])
        parts.append(f"log-rank p {p}" if p.startswith(("<", ">")) else f"log-rank p = {p}")
    return "; ".join(parts)
