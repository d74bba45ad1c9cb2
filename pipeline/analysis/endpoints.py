"""The protocol's endpoint results as one analysis-results table (one row per statistic).

Efficacy on the full analysis set by planned group (TRT01P); safety on the safety set by
actual treatment (TRTA). Every survival number comes from lifelines (``survival.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.analysis.survival import (
    RESULT_COLS,
    _row,
    compare_arms,
    competing_risks,
    cumulative_incidence,
    landmark_rates,
    median_time,
)
from pipeline.columns import isin
from pipeline.specs.study import load_study

TREATED = load_study().treated_armcd  # the arm compared with the control arm (specs/trial/study.yaml)
# Main baseline covariates of the adjusted Cox model (the groups were chosen, not randomised).
COVARIATES = {
    "BCLC_B": ("BCLC", lambda s: s.eq("B")),
    "TUMSZ_GT5": ("TUMSZGR1", lambda s: s.eq(">5 cm")),
    "MULTIPLE": ("TUMNUMGR", lambda s: s.eq("MULTIPLE")),
    "AFP_GT400": ("AFPGR1", lambda s: s.eq(">400")),
    "EDM_III_IV": ("EDMGR1", lambda s: s.eq("III-IV")),
    "CIRRHOSIS": ("CIRRHFL", lambda s: s.eq("Y")),
}

# Exposure summaries: ADEX PARAMCD, endpoint name, what the value is (definitions in specs/adam/adex.yaml).
EXPOSURE = [
    ("TDOSE", "Total dose (mg)", "actual total dose"),
    ("RDI", "Relative dose intensity (%)", "average daily dose over the actual exposure / planned daily dose"),
    ("PCTPDOSE", "Percent of planned total dose (%)", "actual total dose / planned 2-year total dose"),
    ("TDURD", "Treatment duration (days)", "first to last dose"),
]


def covariate_frame(adtte: pd.DataFrame, adsl: pd.DataFrame) -> pd.DataFrame:
    """0/1 covariates per ADTTE row; constant columns are dropped (they cannot be estimated)."""
    s = adsl.set_index("USUBJID").reindex(adtte["USUBJID"])
    cov = pd.DataFrame({name: fn(s[col]).astype(float).to_numpy() for name, (col, fn) in COVARIATES.items()}, index=adtte.index)
    return cov.loc[:, cov.nunique() > 1]


def efficacy_results(adtte: pd.DataFrame, adsl: pd.DataFrame) -> pd.DataFrame:
    """RFS at 1/2/3/5 y, OS at 3/5 y (and 1/2 y), median TTR and RFS, 2-year recurrence rate, log-rank and Cox HRs."""
    fas = adsl.loc[adsl["FASFL"].eq("Y"), "USUBJID"]
    t = adtte[isin(adtte["USUBJID"], fas)].copy()
    t["ARM"] = t["TRT01P"]
    rows: list[dict] = []
    rfs, ttr, os_ = (t[t["PARAMCD"].eq(p)].reset_index(drop=True) for p in ("RFS", "TTR", "OS"))
    rows += landmark_rates(rfs, "Recurrence-free survival", "RFS", [1, 2, 3, 5])
    rows += landmark_rates(os_, "Overall survival", "OS", [1, 2, 3, 5])
    rows += median_time(ttr, "Time to recurrence", "TTR")
    rows += median_time(rfs, "Recurrence-free survival", "RFS")
    rows += cumulative_incidence(competing_risks(ttr, os_), "2-year recurrence rate", 2)
    for name, p, data in (
        ("Recurrence-free survival", "RFS", rfs),
        ("Time to recurrence", "TTR", ttr),
        ("Overall survival", "OS", os_),
    ):
        if data["ARM"].nunique() == 2 and data["CNSR"].eq(0).any():
            rows += compare_arms(data, covariate_frame(data, adsl), name, p, TREATED)
    return pd.DataFrame(rows, columns=RESULT_COLS)


def _pct(n: int, d: int) -> float:
    return 100.0 * n / d if d else np.nan


def safety_results(adae: pd.DataFrame, adsl: pd.DataFrame, adex: pd.DataFrame) -> pd.DataFrame:
    """Subject incidence of TEAEs, treatment-related AEs, grade >= 3, dose modification due to AE; total dose summary."""
    saf = adsl[adsl["SAFFL"].eq("Y")]
    n_arm = saf.groupby("TRT01A")["USUBJID"].nunique()
    te = adae[adae["TRTEMFL"].eq("Y") & isin(adae["USUBJID"], saf["USUBJID"])]
    rows: list[dict] = []
    cats = {
        "Any TEAE": te,
        "Any TEAE grade >= 3": te[te["ATOXGRN"] >= 3],
        "Any treatment-related TEAE": te[te["RELFL"].eq("Y")],
        "Any treatment-related TEAE grade >= 3": te[te["RELFL"].eq("Y") & (te["ATOXGRN"] >= 3)],
        "Any serious TEAE": te[te["AESER"].eq("Y")],
        "Any TEAE leading to dose modification": te[te["DOSMODFL"].eq("Y")],
        "Any TEAE leading to withdrawal of sorafenib": te[te["DRUGWDFL"].eq("Y")],
    }
    for arm, n in n_arm.items():
        for label, df in cats.items():
            k = df.loc[df["TRTA"].eq(arm), "USUBJID"].nunique()
            rows.append(
                _row(
                    "Adverse events",
                    "AE",
                    arm,
                    f"{label}: subjects (%)",
                    "",
                    _pct(k, n),
                    n=k,
                    method=f"Subject incidence, safety set, N={n}",
                )
            )
    ex = adex[adex["SAFFL"].eq("Y")]
    treated = ex["USUBJID"].nunique()
    mod = ex[ex["PARAMCD"].eq("DOSMODAE") & ex["AVAL"].eq(1)]["USUBJID"].nunique()
    rows.append(
        _row(
            "Dose modification due to AE",
            "DOSMODAE",
            TREATED,
            "Subjects (%)",
            "",
            _pct(mod, treated),
            n=mod,
            method=f"Sorafenib subjects with a dose reduced, interrupted or withdrawn for an AE, N={treated}",
        )
    )
    for code, label, method in EXPOSURE:
        v = ex.loc[ex["PARAMCD"].eq(code), "AVAL"].dropna()
        for stat, val in (("Mean", v.mean()), ("SD", v.std()), ("Median", v.median()), ("Min", v.min()), ("Max", v.max())):
            rows.append(
                _row(
                    label,
                    code,
                    TREATED,
                    stat,
                    "",
                    val if len(v) else np.nan,
                    n=len(v),
                    method=f"Per-subject {method} (ADEX {code})",
                )
            )
    return pd.DataFrame(rows, columns=RESULT_COLS)


def ae_incidence(adae: pd.DataFrame, adsl: pd.DataFrame) -> pd.DataFrame:
    """TEAE subject incidence by arm, SOC and preferred term: any grade, grade >= 3, related, and worst grade
    (subjects counted at their worst grade through ADAE.AOCCPIFL)."""
    saf = adsl[adsl["SAFFL"].eq("Y")]
    n_arm = saf.groupby("TRT01A")["USUBJID"].nunique()
    te = adae[adae["TRTEMFL"].eq("Y") & isin(adae["USUBJID"], saf["USUBJID"])]
    keys = ["TRTA", "AEBODSYS", "AEDECOD"]
    g = te.groupby(keys)
    out = pd.DataFrame(
        {
            "N_ANY": g["USUBJID"].nunique(),
            "N_GE3": te[te["ATOXGRN"] >= 3].groupby(keys)["USUBJID"].nunique(),
            "N_REL": te[te["RELFL"].eq("Y")].groupby(keys)["USUBJID"].nunique(),
            "N_REL_GE3": te[te["RELFL"].eq("Y") & (te["ATOXGRN"] >= 3)].groupby(keys)["USUBJID"].nunique(),
        }
    ).fillna(0)
    # By worst grade: ADAE's OCCDS flag marks each subject's one record of the highest grade per SOC and PT.
    worst = te[te["AOCCPIFL"].eq("Y")]
    for gr in range(1, 6):
        out[f"N_WORST_G{gr}"] = worst[worst["ATOXGRN"].eq(gr)].groupby(keys)["USUBJID"].nunique()
    out = out.fillna(0).reset_index().rename(columns={"TRTA": "ARM"})
    out["N_ARM"] = out["ARM"].map(n_arm).astype(float)
    for c in ["N_ANY", "N_GE3", "N_REL", "N_REL_GE3"]:
        out["PCT" + c[1:]] = 100.0 * out[c] / out["N_ARM"]
    return out.sort_values(["ARM", "AEBODSYS", "AEDECOD"], kind="mergesort").reset_index(drop=True)
