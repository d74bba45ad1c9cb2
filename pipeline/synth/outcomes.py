"""Latent event times: recurrence, death, dropout, and non-AE treatment withdrawal.

RFS (recurrence or death, from hepatectomy) follows the arm's Weibull exactly:
death without recurrence has a small constant hazard ``mu`` and recurrence has the
remaining hazard h_RFS(t) - mu, so min(recurrence, death without recurrence) is Weibull.
Because h_RFS falls below ``mu`` late (shape < 1), recurrence has a finite total hazard
and some subjects never recur (a cured fraction).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.synth._util import DAYS_PER_MONTH

SCENARIOS = ("optimistic", "moderate", "null")


def rfs_params(cal: dict, arm: str, scenario: str) -> tuple[float, float]:
    """(shape, scale in months) of the latent RFS Weibull for an arm and scenario."""
    oc = cal["outcomes"]
    if arm == "CONTROL":
        return float(oc["control_rfs_shape"]), float(oc["control_rfs_scale"])
    if scenario not in oc["sorafenib_rfs_scenarios"]:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {sorted(oc['sorafenib_rfs_scenarios'])}")
    p = oc["sorafenib_rfs_scenarios"][scenario]
    return float(p["shape"]), float(p["scale"])


def prs_params(cal: dict, arm: str) -> tuple[float, float]:
    """(shape, scale) of post-recurrence survival (months) for an arm."""
    oc = cal["outcomes"]
    k, lam = float(oc["prs_shape"]), float(oc["prs_scale"])
    if arm == "SORAFENIB":
        lam = lam * float(oc["prs_hr_sorafenib"]) ** (-1.0 / k)
    return k, lam


def _recurrence_times(e: np.ndarray, k: float, lam: float, mu: float) -> np.ndarray:
    """Solve (t/lam)^k - mu t = e for t by bisection (vectorised); inf where unreachable."""
    if k < 1:
        t_star = lam * (k / (lam * mu)) ** (1.0 / (1.0 - k))  # where h_RFS(t) = mu
    else:
        t_star = 1e4
    h_max = (t_star / lam) ** k - mu * t_star
    lo = np.zeros_like(e)
    hi = np.full_like(e, t_star)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = (mid / lam) ** k - mu * mid < e
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return np.where(e < h_max, 0.5 * (lo + hi), np.inf)


def _weibull_above(rng, k, lam, a):
    """Weibull(k, lam) draws conditional on exceeding ``a`` (exact inverse CDF)."""
    u = rng.random(len(a))
    return lam * ((np.maximum(a, 0) / lam) ** k - np.log(u)) ** (1.0 / k)


def latent_times(cohort: pd.DataFrame, rng: np.random.Generator, cal: dict, scenario: str) -> pd.DataFrame:
    """Latent times per subject (months from hepatectomy unless noted).

    Takes the cohort (arm, surg, enrol, trt_start day numbers). Returns a frame aligned
    with it: t_rec (inf = never), t_dnr (death without recurrence), t_rfs, t_death,
    t_drop (months from enrolment), drop_kind, t_trtwd (days from first dose, non-AE stop).
    """
    oc, ex = cal["outcomes"], cal["exposure"]
    n = len(cohort)
    arm = cohort["arm"].to_numpy()
    mu = float(oc["death_without_recurrence_per_year"]) / 12.0
    # Subjects are enrolled alive: death is conditioned to come after the first dose / enrolment.
    t0 = (np.where(arm == "SORAFENIB", cohort["trt_start"], cohort["enrol"]) - cohort["surg"]).to_numpy() / DAYS_PER_MONTH + 0.25

    e = rng.exponential(1.0, n)
    t_dnr = rng.exponential(1.0 / mu, n)
    t_dnr = np.where(t_dnr < t0, t0 + rng.exponential(1.0 / mu, n), t_dnr)  # memoryless shift
    t_rec = np.empty(n)
    prs_k = np.empty(n)
    prs_l = np.empty(n)
    for a in ("CONTROL", "SORAFENIB"):
        m = arm == a
        k, lam = rfs_params(cal, a, scenario)
        t_rec[m] = _recurrence_times(e[m], k, lam, mu)
        prs_k[m], prs_l[m] = prs_params(cal, a)
    recur_first = t_rec < t_dnr
    prs = _weibull_above(rng, prs_k, prs_l, np.where(recur_first, t0 - np.minimum(t_rec, t0), 0.0))
    t_death = np.where(recur_first, t_rec + prs, t_dnr)
    t_rfs = np.minimum(t_rec, t_dnr)

    drop_rate = float(oc["dropout_per_year"]) / 12.0
    t_drop = 1.0 + rng.exponential(1.0 / drop_rate, n)  # nobody drops out in the first month
    drop_kind = np.where(rng.random(n) < oc["p_dropout_withdrawal"], "WITHDRAWAL BY SUBJECT", "LOST TO FOLLOW-UP").astype(object)
    t_trtwd = rng.exponential(365.25 / float(ex["treatment_withdrawal_per_year"]), n)
    trtwd_reason = np.where(rng.random(n) < ex["p_physician_decision"], "PHYSICIAN DECISION", "WITHDRAWAL BY SUBJECT").astype(
        object
    )
    return pd.DataFrame(
        {
            "t_rec": t_rec,
            "t_dnr": t_dnr,
            "t_rfs": t_rfs,
            "t_death": t_death,
            "recur_first": recur_first,
            "t_drop": t_drop,
            "drop_kind": drop_kind,
            "t_trtwd_days": t_trtwd,
            "trtwd_reason": trtwd_reason,
        }
    )
