"""Adverse events: latent draws per CTCAE term, actions with sorafenib, and final records.

Sorafenib-arm incidences and grades follow calibration ``adverse_events.sorafenib``
(onset mostly within 60 days of the first dose); the control arm gets background
events at lower rates, never related to sorafenib.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.synth._util import NA, categorical

ACTIONS = {"R": "DOSE REDUCED", "I": "DRUG INTERRUPTED", "W": "DRUG WITHDRAWN", "N": "DOSE NOT CHANGED"}


def draw_latent_aes(cohort: pd.DataFrame, rng: np.random.Generator, cal: dict) -> pd.DataFrame:
    """Draw each subject's AEs (at most one per term) before any window is applied.

    Returns rows: subj, arm, term, grade (1-5), onset_rel (days after first dose for the
    sorafenib arm, after enrolment for control; >= 1), actionable (0-1).
    """
    ac = cal["adverse_events"]
    arm = cohort["arm"].to_numpy()
    parts = []
    for a, table in (("SORAFENIB", ac["sorafenib"]), ("CONTROL", ac["control"])):
        idx = np.nonzero(arm == a)[0]
        for term, p in table.items():
            hit = idx[rng.random(len(idx)) < p["incidence"]]
            k = len(hit)
            g = np.array(p["grades"], dtype=float)
            grade = np.searchsorted(np.cumsum(g / g.sum()), rng.random(k), side="right").clip(0, 4) + 1
            onset = np.exp(np.log(p["onset_median_days"]) + ac["onset_sdlog"] * rng.standard_normal(k))
            parts.append(
                pd.DataFrame(
                    {
                        "subj": hit,
                        "arm": a,
                        "term": term,
                        "grade": grade,
                        "onset_rel": np.maximum(1, np.round(onset)).astype("int64"),
                        "actionable": float(p.get("actionable", 0.0)),
                    }
                )
            )
    ae = pd.concat(parts, ignore_index=True)
    return ae.sort_values(["subj", "onset_rel", "term"], kind="stable").reset_index(drop=True)


def draw_actions(ae: pd.DataFrame, rng: np.random.Generator, cal: dict) -> np.ndarray:
    """Latent action code per AE: R(educe), I(nterrupt), W(ithdraw), N(ot changed).

    Grade 2 probabilities are scaled by the term's ``actionable``; control AEs get N (the
    writer turns them into NOT APPLICABLE).
    """
    abg = cal["adverse_events"]["action_by_grade"]
    n = len(ae)
    grade = ae["grade"].to_numpy()
    act = np.full(n, "N", dtype=object)
    u = rng.random(n)
    scale = np.where(grade == 2, ae["actionable"].to_numpy(), 1.0)
    for g, probs in abg.items():
        m = grade == int(g)
        pr, pi, pw = (probs["reduce"] * scale, probs["interrupt"] * scale, probs["withdraw"] * scale)
        act = np.where(m & (u < pw), "W", np.where(m & (u < pw + pi), "I", np.where(m & (u < pw + pi + pr), "R", act)))
    act = np.where(grade == 5, "W", act)
    return np.where(ae["arm"].to_numpy() == "SORAFENIB", act, "N").astype(object)


def finalize_aes(
    ae: pd.DataFrame, cap_day: np.ndarray, dead: np.ndarray, dropped: np.ndarray, rng: np.random.Generator, cal: dict
) -> pd.DataFrame:
    """Complete AE records: end date / ongoing, outcome, seriousness, relationship, precision, AESPID.

    ``ae`` has subj, arm, term, grade, start (day number), action (canonical or None),
    fatal (bool). ``cap_day`` per subject is the last day an end date can be known (death
    day for deaths, else the last date known alive). Returns the frame with aeendat (NA
    when ongoing), ongoing, outcome, serious, rel, start_prec, end_prec, aespid added.
    """
    ac = cal["adverse_events"]
    n = len(ae)
    subj = ae["subj"].to_numpy()
    start = ae["start"].to_numpy()
    grade = ae["grade"].to_numpy()
    fatal = ae["fatal"].to_numpy()
    dur = np.maximum(
        1, np.round(np.exp(np.log(ac["duration_median_days"]) + ac["duration_sdlog"] * rng.standard_normal(n)))
    ).astype("int64")
    dur = np.where(ae["term"].to_numpy() == "Alopecia", dur * 4, dur)  # hair regrows slowly
    end = start + dur
    cap = cap_day[subj]
    ongoing = (end > cap) & ~fatal
    end = np.where(fatal, cap, end)  # a fatal AE ends on the day of death
    end = np.where(ongoing, NA, end)
    u = rng.random(n)
    op = ac["outcome_probs"]
    out = np.where(u < 1 - op["p_sequelae_grade3plus"], "RECOVERED/RESOLVED", "RECOVERED/RESOLVED WITH SEQUELAE")
    out = np.where((grade < 3) & ~ongoing, "RECOVERED/RESOLVED", out)
    ong_out = np.where(u < op["p_not_recovered_if_ongoing"], "NOT RECOVERED/NOT RESOLVED", "RECOVERING/RESOLVING")
    ong_out = np.where(dropped[subj] & (u < op["p_unknown_if_ongoing_dropout"]), "UNKNOWN", ong_out)
    out = np.where(ongoing, ong_out, out)
    out = np.where(fatal, "FATAL", out).astype(object)
    ps = np.array(ac["p_serious_by_grade"], dtype=float)
    serious = rng.random(n) < ps[grade - 1]
    typical = ae["actionable"].to_numpy() >= 0.7
    rs = cal["adverse_events"]["relationship_sorafenib"]
    rel = np.where(typical, categorical(rng, rs["typical"], n), categorical(rng, rs["other"], n))
    rel = np.where(ae["arm"].to_numpy() == "CONTROL", categorical(rng, ac["relationship_control"], n), rel).astype(object)
    sp = np.where(rng.random(n) < ac["p_partial_start"], 2, 3)
    ep = np.where(ongoing, 0, np.where(rng.random(n) < ac["p_partial_end"], 2, 3))
    ep = np.where(fatal, 3, ep)
    ae = ae.assign(aeendat=end, ongoing=ongoing, outcome=out, serious=serious, rel=rel, start_prec=sp, end_prec=ep)
    ae = ae.sort_values(["subj", "start", "term"], kind="stable").reset_index(drop=True)
    ae["aespid"] = ae.groupby("subj", sort=False).cumcount() + 1
    return ae


# Seriousness criteria as the AE form writes them (SDTM variable names).
CRITERIA = ["AESDTH", "AESLIFE", "AESHOSP", "AESDISAB", "AESCONG", "AESMIE"]


def draw_seriousness_criteria(ae: pd.DataFrame, rng: np.random.Generator, cal: dict) -> pd.DataFrame:
    """Seriousness criteria of the serious AEs (ICH E2A), drawn only for them.

    ``ae`` is the finalized AE frame (serious, grade, outcome). ``rng`` must be a stream of
    its own, so that adding the criteria leaves every other generated value as it was.
    Returns one column per :data:`CRITERIA`: True/False for a serious AE, None otherwise.
    A fatal AE results in death; a serious AE meets at least one criterion (hospitalisation
    when none is drawn).
    """
    sc = cal["adverse_events"]["seriousness_criteria"]
    serious = ae["serious"].to_numpy(dtype=bool)
    idx = np.nonzero(serious)[0]
    k = len(idx)
    grade = ae["grade"].to_numpy()[idx]
    u = rng.random((k, 4))
    c = {
        "AESDTH": ae["outcome"].to_numpy()[idx] == "FATAL",
        "AESLIFE": u[:, 0] < np.array(sc["p_life_threatening_by_grade"], dtype=float)[grade - 1],
        "AESHOSP": u[:, 1] < sc["p_hospitalisation"],
        "AESDISAB": u[:, 2] < sc["p_disability"],
        "AESCONG": np.zeros(k, dtype=bool) if sc["p_congenital_anomaly"] == 0 else rng.random(k) < sc["p_congenital_anomaly"],
        "AESMIE": u[:, 3] < sc["p_medically_important"],
    }
    none = ~np.logical_or.reduce([c[x] for x in CRITERIA])
    c["AESHOSP"] = c["AESHOSP"] | none
    out = pd.DataFrame({x: pd.Series([None] * len(ae), dtype=object) for x in CRITERIA}, index=ae.index)
    for x in CRITERIA:
        col = np.full(len(ae), None, dtype=object)
        col[idx] = c[x]
        out[x] = col
    return out
