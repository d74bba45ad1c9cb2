"""Sorafenib exposure: constant-dose periods from the AE-driven (and patient) dose changes.

A subject starts at 400 mg QD. A DOSE REDUCED event moves to the reduced level
(200 mg QD or 400 mg QOD, label ladder); a DRUG INTERRUPTED event inserts a 0 mg period
and resumes at full or reduced dose; reductions may be re-escalated later. Events are
processed rank by rank (the k-th event of every subject at once), so the work is
vectorised over subjects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.synth._util import NA, uniform_in, uniform_int

# Dose levels: (EXDOSE mg per administration, EXDOSFRQ)
LEVELS = {0: (400, "QD"), 1: (200, "QD"), 2: (400, "QOD"), 3: (0, "QD")}


def administrations(days: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """Number of administrations in a period of ``days`` days (QOD: days 1, 3, 5, ...)."""
    return np.where(freq == "QOD", (days + 1) // 2, np.where(freq == "BID", 2 * days, days))


def build_exposure(start: np.ndarray, stop: np.ndarray, events: pd.DataFrame, rng: np.random.Generator, cal: dict):
    """Build dose periods.

    ``start``/``stop`` are per-subject day numbers of the first and last dose (NA for the
    untreated). ``events`` has subj, day, kind ('R', 'I', 'P'), ae_row (-1 for patient
    decisions), sorted by subj, day. Returns (periods, event_out): periods with subj,
    exstdat, exendat, dose, freq, exadj, admin, total_mg; event_out with ae_row, day (possibly
    shifted out of an interruption), kind (final: R, I, or N when it fell on/after the stop),
    drop (the AE moved beyond the last dose and must be discarded).
    """
    ec = cal["exposure"]
    n = len(start)
    treated = np.nonzero(start != NA)[0]
    red_level = np.where(rng.random(n) < ec["reduced_level_probs"]["400 QOD"], 2, 1)
    level = np.zeros(n, dtype=int)  # 0 full, else the subject's reduced level
    busy = np.full(n, np.iinfo("int64").min // 4, dtype="int64")
    pending = np.full(n, NA, dtype="int64")
    emit = [pd.DataFrame({"subj": treated, "exstdat": start[treated], "lvl": 0, "exadj": None})]

    ev = events.copy()
    ev["rank"] = ev.groupby("subj", sort=False).cumcount()
    m = len(ev)
    ev["gap"] = uniform_in(rng, ec["interruption_days"], m)
    ev["resume_full"] = rng.random(m) < ec["p_resume_full_after_interruption"]
    ev["reesc"] = rng.random(m) < ec["p_reescalate"]
    ev["reesc_after"] = uniform_in(rng, ec["reescalate_after_days"], m)
    ev["shift"] = uniform_int(rng, 3, 20, m)
    out_day = ev["day"].to_numpy().copy()
    out_kind = ev["kind"].to_numpy().copy()
    out_drop = np.zeros(m, dtype=bool)
    for k in range(int(ev["rank"].max()) + 1 if m else 0):
        rows = np.nonzero(ev["rank"].to_numpy() == k)[0]
        r = ev.iloc[rows]
        s = r["subj"].to_numpy()
        d = r["day"].to_numpy()
        # An event inside a 0 mg period is moved after the resumption (the drug was off).
        inside = d <= busy[s]
        d = np.where(inside, busy[s] + r["shift"].to_numpy(), d)
        valid = d < stop[s]
        out_day[rows] = d
        out_drop[rows] = inside & ~valid
        kind = r["kind"].to_numpy().copy()
        kind = np.where(~valid, "N", kind)
        # Fire a pending re-escalation that comes before this event, else cancel it.
        pend = pending[s]
        fire = valid & (pend != NA) & (pend < d)
        emit.append(pd.DataFrame({"subj": s[fire], "exstdat": pend[fire], "lvl": 0, "exadj": "AE RESOLVED"}))
        level[s[fire]] = 0
        pending[s[valid]] = NA
        # No level below the reduced one: a further reduction becomes an interruption.
        kind = np.where((kind == "R") & (level[s] != 0), "I", kind)
        out_kind[rows] = kind
        isr, isi, isp = kind == "R", kind == "I", kind == "P"
        emit.append(pd.DataFrame({"subj": s[isr], "exstdat": d[isr], "lvl": red_level[s[isr]], "exadj": "ADVERSE EVENT"}))
        level[s[isr]] = red_level[s[isr]]
        re = isr & r["reesc"].to_numpy()
        pending[s[re]] = d[re] + r["reesc_after"].to_numpy()[re]
        intr = isi | isp
        resume = d + r["gap"].to_numpy()
        new_lvl = np.where(isp, level[s], np.where((level[s] == 0) & r["resume_full"].to_numpy(), 0, red_level[s]))
        emit.append(
            pd.DataFrame(
                {"subj": s[intr], "exstdat": d[intr], "lvl": 3, "exadj": np.where(isp[intr], "PATIENT DECISION", "ADVERSE EVENT")}
            )
        )
        emit.append(
            pd.DataFrame(
                {
                    "subj": s[intr],
                    "exstdat": resume[intr],
                    "lvl": new_lvl[intr],
                    "exadj": np.where(isp[intr], "PATIENT DECISION", "AE RESOLVED"),
                }
            )
        )
        level[s[intr]] = new_lvl[intr]
        busy[s[intr]] = resume[intr]
    fire = pending != NA
    fs = np.nonzero(fire)[0]
    emit.append(pd.DataFrame({"subj": fs, "exstdat": pending[fs], "lvl": 0, "exadj": "AE RESOLVED"}))

    per = pd.concat(emit, ignore_index=True)
    per = per[per["exstdat"] < stop[per["subj"].to_numpy()]]
    per = per.sort_values(["subj", "exstdat"], kind="stable").reset_index(drop=True)
    nxt = per.groupby("subj", sort=False)["exstdat"].shift(-1)
    subj = per["subj"].to_numpy()
    per["exendat"] = np.where(nxt.isna(), stop[subj], nxt.fillna(0).to_numpy().astype("int64") - 1)
    per = per[per["exendat"] >= per["exstdat"]].reset_index(drop=True)
    lv = per["lvl"].to_numpy()
    per["dose"] = np.array([LEVELS[x][0] for x in range(4)])[lv]
    per["freq"] = np.array([LEVELS[x][1] for x in range(4)], dtype=object)[lv]
    days = per["exendat"].to_numpy() - per["exstdat"].to_numpy() + 1
    per["admin"] = administrations(days, per["freq"].to_numpy())
    per["total_mg"] = per["admin"] * per["dose"]
    event_out = pd.DataFrame({"ae_row": ev["ae_row"].to_numpy(), "day": out_day, "kind": out_kind, "drop": out_drop})
    return per.drop(columns="lvl"), event_out
