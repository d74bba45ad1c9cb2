"""Follow-up: tumour-assessment visits (ta), new lesions (nl), survival contacts (surv).

Recurrence is observed at the first attended assessment on or after the latent
recurrence time, provided the subject is still alive, not lost and before the data cut.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.synth._util import (
    DAYS_PER_MONTH,
    NA,
    categorical,
    months_to_days,
    uniform_in,
    uniform_int,
)


def visit_months(cal: dict) -> np.ndarray:
    """Nominal visit months after hepatectomy (the grid of ``visits.schedule_months`` in calibration.yaml)."""
    s = cal["visits"]["schedule_months"]
    return np.concatenate(
        [
            np.arange(2, s["every2_to"] + 1, 2),
            np.arange(s["every2_to"] + 3, s["every3_to"] + 1, 3),
            np.arange(s["every3_to"] + 6, s["every6_to"] + 1, 6),
        ]
    ).astype(int)


def follow_up(cohort: pd.DataFrame, lat: pd.DataFrame, rng: np.random.Generator, cal: dict, cut: int):
    """Simulate visits and contacts.

    Takes the cohort, the latent times and the data-cut day number. Returns
    (ta, nl, surv, state): ta/nl/surv are canonical long tables keyed by ``subj`` (row
    index in the cohort); ``state`` is a dict of per-subject arrays (day numbers, NA when
    absent): death_day (observed deaths only), death_cause, diag_day, last_ta_day,
    dropped (bool), drop_reason, last_alive_core (latest date the subject is known alive
    from visits/contacts/enrolment).
    """
    vc = cal["visits"]
    n = len(cohort)
    surg = cohort["surg"].to_numpy()
    enrol = cohort["enrol"].to_numpy()
    death_lat = surg + months_to_days(lat["t_death"].to_numpy())
    rec_lat = surg + months_to_days(lat["t_rec"].to_numpy())
    drop_lat = enrol + months_to_days(lat["t_drop"].to_numpy())
    # A dropout is observed only if it happens before death and comfortably before the cut.
    dropped = drop_lat < np.minimum(death_lat, cut - 14)
    stop_day = np.where(dropped, drop_lat, np.minimum(death_lat - 1, cut))

    months = visit_months(cal)
    nv = len(months)
    jitter = np.clip(np.round(rng.normal(0, vc["window_sd_days"], (n, nv))), -14, 14).astype("int64")
    vday = surg[:, None] + np.round(months * DAYS_PER_MONTH).astype("int64")[None, :] + jitter
    attended = (rng.random((n, nv)) >= vc["p_missed"]) & (vday <= stop_day[:, None])
    is_diag_cand = attended & (vday >= rec_lat[:, None])
    has_diag = is_diag_cand.any(axis=1)
    diag_idx = np.where(has_diag, is_diag_cand.argmax(axis=1), nv)
    keep = attended & (np.arange(nv)[None, :] <= diag_idx[:, None])
    diag_day = np.where(has_diag, vday[np.arange(n), np.minimum(diag_idx, nv - 1)], NA)

    si, vi = np.nonzero(keep)
    ta = pd.DataFrame({"subj": si, "visit_month": months[vi], "tadat": vday[si, vi]})
    ta["recur"] = has_diag[si] & (vi == diag_idx[si])
    m = len(ta)
    imaging_month = ta["visit_month"].to_numpy() % 6 == 0
    u = rng.random(m)
    im = vc["imaging_methods"]
    method = np.where(
        imaging_month,
        np.where(u < im["scan_visit_ct"], "CT SCAN", "MRI"),
        np.where(u < im["other_visit_ultrasound"], "ULTRASOUND", "CT SCAN"),
    )
    method = np.where(ta["recur"], np.where(u < im["diagnosis_ct"], "CT SCAN", "MRI"), method)
    ta["method"] = method.astype(object)
    secreting = (cohort["afp"].to_numpy() > 20) & (rng.random(n) < vc["p_afp_secreting_recurrence"])
    fu, ar = vc["afp_followup_ngml"], vc["afp_recurrence_ngml"]
    afp_norm = np.exp(np.log(fu["median"]) + fu["sdlog"] * rng.standard_normal(m))
    afp_rec = np.where(
        secreting[ta["subj"]],
        np.exp(np.log(ar["secreting_median"]) + ar["secreting_sdlog"] * rng.standard_normal(m)),
        np.exp(np.log(ar["other_median"]) + ar["other_sdlog"] * rng.standard_normal(m)),
    )
    afp = np.round(np.clip(np.where(ta["recur"], afp_rec, afp_norm), 0.8, 60000), 1)
    measured = (rng.random(m) < vc["p_afp_measured"]) | ta["recur"].to_numpy()
    ta["afp"] = np.where(measured, afp, np.nan)
    lo, hi = vc["recurdat_after_visit_days"]
    ta["recurdat"] = np.where(ta["recur"], ta["tadat"] + uniform_int(rng, lo, hi, m), NA)
    u = rng.random(m)
    # Precision of the recorded recurrence date: 3 = full, 2 = month, 1 = year.
    ta["recurdat_prec"] = np.where(
        ta["recur"],
        np.where(
            u < vc["p_recurdat_partial_year"],
            1,
            np.where(u < vc["p_recurdat_partial_year"] + vc["p_recurdat_partial_month"], 2, 3),
        ),
        0,
    )
    ta = ta.sort_values(["subj", "tadat"], kind="stable").reset_index(drop=True)

    nl = _lesions(ta[ta["recur"]], rng, cal)

    # Survival contacts every ~3 months after a diagnosed recurrence (while alive, followed, before the cut).
    dsub = np.nonzero(has_diag)[0]
    step = int(vc["survival_contact_interval_days"])
    kmax = max(1, int((cut - (diag_day[dsub].min() if len(dsub) else cut)) // step) + 1)
    cj = np.clip(np.round(rng.normal(0, 7, (len(dsub), kmax))), -15, 15).astype("int64")
    cday = diag_day[dsub][:, None] + step * np.arange(1, kmax + 1)[None, :] + cj
    ok = cday <= stop_day[dsub][:, None]
    ci, ck = np.nonzero(ok)
    contacts = pd.DataFrame({"subj": dsub[ci], "contdat": cday[ci, ck], "status": "ALIVE"})

    last_ta = np.full(n, NA, dtype="int64")
    g = ta.groupby("subj")["tadat"].max()
    last_ta[g.index.to_numpy()] = g.to_numpy()
    last_contact = np.full(n, NA, dtype="int64")
    if len(contacts):
        g = contacts.groupby("subj")["contdat"].max()
        last_contact[g.index.to_numpy()] = g.to_numpy()
    last_alive = np.maximum(np.maximum(last_ta, last_contact), enrol)

    death_obs = (~dropped) & (death_lat <= cut)
    death_day = np.where(death_obs, death_lat, NA)
    recurred_obs = has_diag
    cause = np.where(
        lat["recur_first"].to_numpy(),
        categorical(rng, vc["death_cause_after_recurrence"], n),
        categorical(rng, vc["death_cause_without_recurrence"], n),
    )
    cause = np.where(death_obs, cause, None).astype(object)  # type: ignore[call-overload]  # numpy's stubs take no None fill value

    # Survival sweep just before the cut for everyone still followed and alive.
    lo, hi = vc["survival_sweep_days_before_cut"]
    sweep = cut - uniform_int(rng, lo, hi, n)
    do_sweep = (~dropped) & (~death_obs) & (sweep > last_alive)
    sw = pd.DataFrame({"subj": np.nonzero(do_sweep)[0], "contdat": sweep[do_sweep], "status": "ALIVE"})
    last_alive = np.where(do_sweep, sweep, last_alive)

    dsi = np.nonzero(death_obs)[0]
    dead = pd.DataFrame(
        {
            "subj": dsi,
            "contdat": np.minimum(death_day[dsi] + uniform_in(rng, vc["death_report_delay_days"], len(dsi)), cut),
            "status": "DEAD",
            "dthdat": death_day[dsi],
            "dthcaus": cause[dsi],
        }
    )
    # A lost subject's failed contact attempt comes after the last date known alive.
    lost = np.nonzero(dropped & (lat["drop_kind"].to_numpy() == "LOST TO FOLLOW-UP"))[0]
    lostrec = pd.DataFrame(
        {
            "subj": lost,
            "contdat": np.minimum(
                np.maximum(drop_lat[lost], last_alive[lost]) + uniform_in(rng, vc["lost_contact_attempt_days"], len(lost)), cut
            ),
            "status": "LOST TO FOLLOW-UP",
        }
    )
    surv = pd.concat([contacts, sw, dead, lostrec], ignore_index=True)
    for c in ("dthdat",):
        surv[c] = surv[c].fillna(NA).astype("int64")
    surv = surv.sort_values(["subj", "contdat"], kind="stable").reset_index(drop=True)

    state = {
        "death_day": death_day,
        "death_cause": cause,
        "diag_day": diag_day,
        "recurred": recurred_obs,
        "last_ta_day": last_ta,
        "dropped": dropped,
        "drop_reason": np.where(dropped, lat["drop_kind"].to_numpy(), None),
        "last_alive_core": last_alive,
        "rec_lat_day": rec_lat,
        "death_lat_day": death_lat,
    }
    return ta, nl, surv, state


def _lesions(diag: pd.DataFrame, rng: np.random.Generator, cal: dict) -> pd.DataFrame:
    """New lesions at each diagnosing assessment: 1-3 lesions, intra-/extrahepatic pattern."""
    vc = cal["visits"]
    k = len(diag)
    count = categorical(rng, vc["lesion_count_probs"], k).astype(int)
    pattern = categorical(rng, vc["recurrence_pattern_probs"], k)
    count = np.where((pattern == "both") & (count < 2), 2, count)
    rep = np.repeat(np.arange(k), count)
    lesno = np.concatenate([np.arange(1, c + 1) for c in count]) if k else np.zeros(0, int)
    pat = pattern[rep]
    # 'both': the first lesion is intrahepatic and the second extrahepatic, further ones random.
    intra = np.where(
        pat == "intra",
        True,
        np.where(pat == "extra", False, np.where(lesno == 1, True, np.where(lesno == 2, False, rng.random(len(rep)) < 0.5))),
    )
    m = len(rep)
    loc = np.where(intra, "LIVER", categorical(rng, vc["extrahepatic_site_probs"], m)).astype(object)
    seg = np.where(intra, categorical(rng, vc["livseg_probs"], m), None).astype(object)  # type: ignore[call-overload]  # numpy's stubs take no None fill value
    ls = vc["lesion_size_mm"]
    size = np.where(
        intra,
        np.exp(np.log(ls["intra_median"]) + ls["sdlog"] * rng.standard_normal(m)),
        np.exp(np.log(ls["extra_median"]) + ls["sdlog"] * rng.standard_normal(m)),
    )
    size = np.round(np.clip(size, ls["low"], ls["high"]), 0)
    afp = diag["afp"].to_numpy()
    u = rng.random(k)
    basis = np.where(
        u < vc["p_histopathology"],
        "HISTOPATHOLOGY",
        np.where((afp >= 400) & (rng.random(k) < vc["p_imaging_and_afp_if_afp_400"]), "IMAGING AND AFP", "IMAGING"),
    )
    return pd.DataFrame(
        {
            "subj": diag["subj"].to_numpy()[rep],
            "tadat": diag["tadat"].to_numpy()[rep],
            "lesno": lesno,
            "loc": loc,
            "livseg": seg,
            "size_mm": size,
            "lessite": np.where(intra, "INTRAHEPATIC", "EXTRAHEPATIC").astype(object),
            "diagbas": basis[rep].astype(object),
        }
    )
