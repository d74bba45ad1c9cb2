"""Simulate one study: canonical (true, un-messy) tables for every form plus per-subject state.

``simulate_study`` is the whole clinical model; ``messiness`` and ``writers`` then turn
its tables into site exports, and ``truth`` into the ground-truth folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import yaml

from pipeline.specs.paths import SPECS_DIR
from pipeline.synth._util import NA, categorical, day, uniform_in, uniform_int
from pipeline.synth.adverse_events import (
    ACTIONS,
    draw_actions,
    draw_latent_aes,
    finalize_aes,
)
from pipeline.synth.cohort import build_cohort
from pipeline.synth.exposure import build_exposure
from pipeline.synth.outcomes import latent_times
from pipeline.synth.visits import follow_up

STOP_PRIORITY = [
    "DEATH",
    "DISEASE RELAPSE",
    "ADVERSE EVENT",
    "LOST TO FOLLOW-UP",
    "WITHDRAWAL BY SUBJECT",
    "PHYSICIAN DECISION",
    "COMPLETED",
]


@dataclass
class Study:
    """Canonical tables of one simulated study (day numbers, canonical codes, SI units)."""

    cohort: pd.DataFrame
    latent: pd.DataFrame
    ta: pd.DataFrame
    nl: pd.DataFrame
    surv: pd.DataFrame
    ae: pd.DataFrame
    ex: pd.DataFrame
    cm: pd.DataFrame
    ds: pd.DataFrame
    state: dict = field(default_factory=dict)
    cut: int = 0
    scenario: str = "moderate"


def load_study_yaml() -> dict:
    """specs/trial/study.yaml as a dict."""
    return yaml.safe_load((SPECS_DIR / "trial" / "study.yaml").read_text(encoding="utf-8"))


def simulate_study(n: int, rng: np.random.Generator, cal: dict, scenario: str) -> Study:
    """Simulate ``n`` subjects with ``rng``; returns a :class:`Study`."""
    study = load_study_yaml()
    cut = day(str(study["data_cutoff"]))
    cohort = build_cohort(n, rng, cal)
    lat = latent_times(cohort, rng, cal, scenario)
    ta, nl, surv, st = follow_up(cohort, lat, rng, cal, cut)

    arm = cohort["arm"].to_numpy()
    sor = arm == "SORAFENIB"
    s0 = cohort["trt_start"].to_numpy()
    enrol = cohort["enrol"].to_numpy()
    big = np.iinfo("int64").max // 4
    planned = int(study["planned_duration_days"])

    # Non-AE stop of sorafenib: completion, relapse, death, dropout, subject/physician decision.
    cand = {
        "COMPLETED": s0 + planned - 1,
        "DISEASE RELAPSE": np.where(st["diag_day"] != NA, st["diag_day"], big),
        "DEATH": np.where(st["death_day"] != NA, st["death_day"] - 1, big),
        "DROPOUT": np.where(st["dropped"], st["last_alive_core"], big),
        "TRTWD": s0 + np.round(lat["t_trtwd_days"].to_numpy()).astype("int64"),
    }
    names = list(cand)
    mat = np.column_stack([cand[k] for k in names])
    stop0 = np.maximum(mat.min(axis=1), s0)
    why = np.array(names, dtype=object)[mat.argmin(axis=1)]
    why = np.where(why == "DROPOUT", st["drop_reason"], why)
    why = np.where(why == "TRTWD", lat["trtwd_reason"].to_numpy(), why)

    # Adverse events within each subject's window.
    ae = draw_latent_aes(cohort, rng, cal)
    subj = ae["subj"].to_numpy()
    anchor = np.where(sor, s0, enrol)
    ae["start"] = anchor[subj] + ae["onset_rel"].to_numpy()
    ctrl_end = np.minimum.reduce(
        [
            enrol + planned - 1,
            st["last_alive_core"],
            np.where(st["diag_day"] != NA, st["diag_day"], big),
            np.where(st["death_day"] != NA, st["death_day"] - 1, big),
        ]
    )
    window_end = np.where(sor, stop0, ctrl_end)
    ae = ae[ae["start"].to_numpy() <= window_end[subj]].reset_index(drop=True)
    ae["fatal"] = False

    # Grade 5: a death from liver failure without recurrence inside the AE window.
    dd = st["death_day"]
    fatal_subj = np.nonzero(
        (dd != NA)
        & ~st["recurred"]
        & (st["death_cause"] == "LIVER FAILURE")
        & (dd <= np.where(sor, stop0 + 30, ctrl_end + 1))
        & (dd - 20 > anchor)
    )[0]
    if len(fatal_subj):
        fa = pd.DataFrame(
            {
                "subj": fatal_subj,
                "arm": arm[fatal_subj],
                "term": cal["adverse_events"]["fatal_ae_term"],
                "grade": 5,
                "onset_rel": 0,
                "actionable": 0.0,
                "fatal": True,
            }
        )
        fa["start"] = dd[fatal_subj] - uniform_in(rng, cal["adverse_events"]["fatal_onset_days_before_death"], len(fatal_subj))
        ae = pd.concat([ae, fa], ignore_index=True)
    act = draw_actions(ae, rng, cal)
    # A fatal AE after the last dose (treatment already stopped for another reason) changes nothing.
    act = np.where(ae["fatal"].to_numpy() & (ae["start"].to_numpy() > stop0[ae["subj"].to_numpy()]), "X", act)
    ae["act"] = act

    # The first AE leading to withdrawal ends sorafenib on its onset day.
    w = ae[(ae["act"] == "W")]
    first_w = w.groupby("subj")["start"].min()
    stop = stop0.copy()
    ws = first_w.index.to_numpy()
    ae_stop = first_w.to_numpy() <= stop0[ws]
    stop[ws[ae_stop]] = first_w.to_numpy()[ae_stop]
    why[ws[ae_stop]] = "ADVERSE EVENT"
    stop = np.where(sor, stop, NA)
    keep = (~sor[ae["subj"].to_numpy()]) | (ae["start"].to_numpy() <= stop[ae["subj"].to_numpy()]) | ae["fatal"].to_numpy()
    ae = ae[keep].reset_index(drop=True)

    # Dose changes: AE reductions/interruptions plus rare patient-decision breaks.
    ev_ae = ae[ae["act"].isin(["R", "I"])]
    ev = pd.DataFrame(
        {
            "subj": ev_ae["subj"].to_numpy(),
            "day": ev_ae["start"].to_numpy(),
            "kind": ev_ae["act"].to_numpy(),
            "ae_row": ev_ae.index.to_numpy(),
        }
    )
    ec = cal["exposure"]
    pd_subj = np.nonzero(sor & (rng.random(n) < ec["patient_decision_interruption_p"]))[0]
    pd_day = s0[pd_subj] + uniform_int(rng, 30, 400, len(pd_subj))
    ev = pd.concat([ev, pd.DataFrame({"subj": pd_subj, "day": pd_day, "kind": "P", "ae_row": -1})], ignore_index=True)
    ev = ev[ev["day"].to_numpy() <= stop[ev["subj"].to_numpy()]]
    ev = ev.sort_values(["subj", "day"], kind="stable").reset_index(drop=True)
    s0_t = np.where(sor, s0, NA)
    ex, evo = build_exposure(s0_t, stop, ev, rng, cal)
    evo = evo[evo["ae_row"] >= 0]
    rows = evo["ae_row"].to_numpy()
    ae.loc[rows, "start"] = evo["day"].to_numpy()
    ae.loc[rows, "act"] = evo["kind"].to_numpy()
    ae = ae.drop(index=rows[evo["drop"].to_numpy()]).reset_index(drop=True)
    ae["action"] = np.where(
        ae["arm"] == "CONTROL", "NOT APPLICABLE", ae["act"].map({**ACTIONS, "X": "NOT APPLICABLE"}).fillna("DOSE NOT CHANGED")
    ).astype(object)

    cap = np.where(st["death_day"] != NA, st["death_day"], np.maximum(st["last_alive_core"], np.where(sor, stop, 0)))
    ae = finalize_aes(ae, cap, st["death_day"] != NA, st["dropped"], rng, cal)

    cm = _concomitant(cohort, st, rng, cal)
    ds = _disposition(cohort, st, stop, why, sor)
    st.update({"trt_stop": stop, "eot_reason": np.where(sor, why, None)})
    return Study(
        cohort=cohort, latent=lat, ta=ta, nl=nl, surv=surv, ae=ae, ex=ex, cm=cm, ds=ds, state=st, cut=cut, scenario=scenario
    )


def _concomitant(cohort: pd.DataFrame, st: dict, rng: np.random.Generator, cal: dict) -> pd.DataFrame:
    """Antiviral therapy for HBsAg-positive subjects (one record, or two after a switch)."""
    cc = cal["concomitant"]
    idx = np.nonzero(cohort["hbsag"].to_numpy())[0]
    k = len(idx)
    surg = cohort["surg"].to_numpy()[idx]
    drug = categorical(rng, cc["antiviral_probs"], k)
    before = rng.random(k) < cc["p_before_surgery"]
    start = np.where(before, surg - uniform_in(rng, cc["before_surgery_days"], k), surg + uniform_int(rng, 1, 20, k))
    u = rng.random(k)
    bp = cc["before_surgery_start_precision"]
    sprec = np.where(before, np.where(u < bp["year"], 1, np.where(u < bp["year"] + bp["month"], 2, 3)), 3)
    last = st["last_alive_core"][idx]
    sw_day = start + 180 + np.floor(rng.random(k) * np.maximum(last - 30 - start - 180, 0)).astype("int64")
    switch = (rng.random(k) < cc["p_switch"]) & (last - 30 - start - 180 > 0)
    new_drug = np.where(drug == "TENOFOVIR ALAFENAMIDE", "ENTECAVIR", "TENOFOVIR ALAFENAMIDE")
    first = pd.DataFrame(
        {
            "subj": idx,
            "drug": drug,
            "start": start,
            "start_prec": sprec,
            "end": np.where(switch, sw_day - 1, NA),
            "ongoing": ~switch,
        }
    )
    second = pd.DataFrame(
        {"subj": idx[switch], "drug": new_drug[switch], "start": sw_day[switch], "start_prec": 3, "end": NA, "ongoing": True}
    )
    cm = pd.concat([first, second], ignore_index=True).sort_values(["subj", "start"], kind="stable").reset_index(drop=True)
    cm["dose"] = cm["drug"].map(cc["doses_mg"]).astype(float)
    cm["cmspid"] = cm.groupby("subj", sort=False).cumcount() + 1
    return cm


def _disposition(cohort, st, stop, why, sor) -> pd.DataFrame:
    """END OF TREATMENT (sorafenib arm) and END OF STUDY (deaths, dropouts only)."""
    si = np.nonzero(sor)[0]
    eot = pd.DataFrame({"subj": si, "dscat": "END OF TREATMENT", "date": stop[si], "reason": why[si]})
    dead = np.nonzero(st["death_day"] != NA)[0]
    drop = np.nonzero(st["dropped"])[0]
    eos = pd.concat(
        [
            pd.DataFrame({"subj": dead, "dscat": "END OF STUDY", "date": st["death_day"][dead], "reason": "DEATH"}),
            # The disposition date of a dropout is the last date the subject was known alive.
            pd.DataFrame(
                {"subj": drop, "dscat": "END OF STUDY", "date": st["last_alive_core"][drop], "reason": st["drop_reason"][drop]}
            ),
        ]
    )
    return (
        pd.concat([eot, eos], ignore_index=True)
        .sort_values(["subj", "dscat"], ascending=[True, False], kind="stable")
        .reset_index(drop=True)
    )
