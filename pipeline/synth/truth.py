"""Ground truth: the true per-subject values and endpoints a correct pipeline should derive.

Endpoint conventions (origin = hepatectomy date PRSTDAT; *_days = date - origin, no +1):
RFS event = recurrence (date of the diagnosing tumour assessment, TADAT with RECUR = Y) or
death; otherwise censored at the last tumour assessment (the hepatectomy date if none).
TTR event = recurrence only; death without recurrence is censored at the last assessment.
OS event = death; otherwise censored at the last date known alive (latest of enrolment,
labs, tumour assessments, survival contacts with status ALIVE, sorafenib and AE dates; a
LOST TO FOLLOW-UP contact is not evidence of being alive).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pipeline.synth._util import DAYS_PER_MONTH, NA, iso
from pipeline.synth.adverse_events import CRITERIA


def _iso_partial(days: np.ndarray, prec: np.ndarray) -> np.ndarray:
    full = iso(days)
    return np.array([f if p == 3 else (f[:7] if p == 2 else (f[:4] if p == 1 else "")) for f, p in zip(full, prec)], dtype=object)


def subjects_truth(study, subjids: pd.Series, studyid: str) -> pd.DataFrame:
    """One row per subject: identity, latent times, recorded dates, endpoints, exposure."""
    c, lat, st = study.cohort, study.latent, study.state
    n = len(c)
    surg = c["surg"].to_numpy()
    ta = study.ta
    diag = st["diag_day"]
    dth = st["death_day"]
    recurred = diag != NA
    dead = dth != NA
    last_ta = np.where(st["last_ta_day"] != NA, st["last_ta_day"], surg)

    rfs_event = recurred | dead
    rfs_date = np.where(recurred, diag, np.where(dead, dth, last_ta))
    ttr_date = np.where(recurred, diag, last_ta)

    # Last date known alive: maximum over every dated record that proves the subject alive.
    ev = [c["enrol"].to_numpy(), c["lbdat"].to_numpy(), c["consent"].to_numpy(), st["last_alive_core"]]
    alive = np.maximum.reduce(ev)

    def upd(subj, days):
        nonlocal alive
        ok = days != NA
        s = pd.Series(days[ok]).groupby(subj[ok]).max()
        alive[s.index.to_numpy()] = np.maximum(alive[s.index.to_numpy()], s.to_numpy())

    upd(ta["subj"].to_numpy(), ta["tadat"].to_numpy())
    sv = study.surv[study.surv["status"] == "ALIVE"]
    upd(sv["subj"].to_numpy(), sv["contdat"].to_numpy())
    upd(study.ex["subj"].to_numpy(), study.ex["exendat"].to_numpy())
    ae = study.ae[~study.ae["fatal"]]
    upd(ae["subj"].to_numpy(), np.where(ae["start_prec"].to_numpy() == 3, ae["start"].to_numpy(), NA))
    upd(ae["subj"].to_numpy(), np.where(ae["end_prec"].to_numpy() == 3, ae["aeendat"].to_numpy(), NA))
    os_date = np.where(dead, dth, alive)

    rec_rows = ta[ta["recur"]].set_index("subj")
    recurdat = np.full(n, "", dtype=object)
    if len(rec_rows):
        recurdat[rec_rows.index.to_numpy()] = _iso_partial(rec_rows["recurdat"].to_numpy(), rec_rows["recurdat_prec"].to_numpy())

    ex = study.ex
    dose = np.zeros(n)
    g = ex.groupby("subj")["total_mg"].sum()
    dose[g.index.to_numpy()] = g.to_numpy()
    acts = study.ae.groupby("subj")["action"].agg(set)
    red_int = np.zeros(n, bool)
    wd = np.zeros(n, bool)
    for s, a in acts.items():
        red_int[s] = bool(a & {"DOSE REDUCED", "DRUG INTERRUPTED"})
        wd[s] = "DRUG WITHDRAWN" in a
    sor = c["arm"].to_numpy() == "SORAFENIB"
    trt_start = c["trt_start"].to_numpy()
    stop = st["trt_stop"]

    cut = study.cut
    drop_obs = st["dropped"]
    drop_day = c["enrol"].to_numpy() + np.round(lat["t_drop"].to_numpy() * DAYS_PER_MONTH).astype("int64")
    censor_day = np.where(drop_obs, drop_day, cut)
    eos = study.ds[study.ds["dscat"] == "END OF STUDY"].set_index("subj")
    eos_reason = np.full(n, "", dtype=object)
    eos_reason[eos.index.to_numpy()] = eos["reason"].to_numpy()
    eos_date = np.full(n, NA, dtype="int64")
    eos_date[eos.index.to_numpy()] = eos["date"].to_numpy()

    def months(x):
        return np.where(np.isfinite(x), np.round(x, 4), np.nan)

    ids = subjids.sort_index().to_numpy()
    sites = c["siteid"].to_numpy()
    order = np.lexsort((c["site_seq"].to_numpy(), sites))
    return (
        pd.DataFrame(
            {
                "siteid": sites,
                "subjid": ids,
                "usubjid": [f"{studyid}-{s}-{i}" for s, i in zip(sites, ids)],
                "arm": c["arm"],
                "sex": c["sex"],
                "age": c["age"],
                "hepatectomy_date": iso(surg),
                "consent_date": iso(c["consent"].to_numpy()),
                "enrol_date": iso(c["enrol"].to_numpy()),
                "latent_recurrence_months": months(lat["t_rec"].to_numpy()),
                "latent_death_months": months(lat["t_death"].to_numpy()),
                "latent_rfs_months": months(lat["t_rfs"].to_numpy()),
                "censor_months": np.round((censor_day - surg) / DAYS_PER_MONTH, 4),
                "censor_reason": np.where(drop_obs, st["drop_reason"], "DATA CUTOFF"),
                "recurrence_date_recorded": recurdat,
                "death_date_recorded": iso(dth),
                "death_cause": np.where(dead, st["death_cause"], ""),
                "rfs_event": rfs_event.astype(int),
                "rfs_date": iso(rfs_date),
                "rfs_days": rfs_date - surg,
                "ttr_event": recurred.astype(int),
                "ttr_date": iso(ttr_date),
                "ttr_days": ttr_date - surg,
                "os_event": dead.astype(int),
                "os_date": iso(os_date),
                "os_days": os_date - surg,
                "last_assessment_date": iso(np.where(st["last_ta_day"] != NA, st["last_ta_day"], NA)),
                "last_alive_date": iso(alive),
                "trt_start_date": iso(np.where(sor, trt_start, NA)),
                "trt_end_date": iso(np.where(sor, stop, NA)),
                "trt_days": np.where(sor, stop - trt_start + 1, 0),
                "total_dose_mg": dose.astype("int64"),
                "eot_reason": np.where(sor, st["eot_reason"], ""),
                "eos_reason": eos_reason,
                "eos_date": iso(eos_date),
                "ae_dose_reduced_or_interrupted": red_int.astype(int),
                "ae_drug_withdrawn": wd.astype(int),
                "ae_dose_modification": (red_int | wd).astype(int),
                "hbsag": np.where(c["hbsag"], "POSITIVE", "NEGATIVE"),
                "cirrhosis": np.where(c["cirrhosis"], "Y", "N"),
                "afp_ngml": c["afp"],
                "tumour_size_cm": c["tumsz"],
                "tumour_number": c["tumnum"],
                "bclc": c["bclc"],
                "tnm_t": c["tnmt"],
                "edmondson": c["edmgrd"],
                "ecog": c["ecog"],
                "child_pugh": c["childpugh"],
            }
        )
        .iloc[order]
        .reset_index(drop=True)
    )


def ae_truth(study, subjids: pd.Series, studyid: str, problems: pd.DataFrame) -> pd.DataFrame:
    """One row per AE record written: true term, grade, relationship, action, dates."""
    ae = study.ae
    sites = study.cohort["siteid"].to_numpy()[ae["subj"].to_numpy()]
    ids = subjids.reindex(ae["subj"].to_numpy()).to_numpy()
    key = pd.Series([f"{s}|{i}|AESPID={k}" for s, i, k in zip(sites, ids, ae["aespid"])])
    pk = problems[problems["form"] == "ae"] if len(problems) else problems
    kinds = dict(
        zip(
            [f"{s}|{i}|{k}" for s, i, k in zip(pk.get("siteid", []), pk.get("subjid", []), pk.get("record_key", []))],
            pk.get("kind", []),
        )
    )
    rel = ae["rel"].to_numpy()
    seq = study.cohort["site_seq"].to_numpy()[ae["subj"].to_numpy()]
    order = np.lexsort((ae["aespid"].to_numpy(), seq, sites))
    return (
        pd.DataFrame(
            {
                "siteid": sites,
                "subjid": ids,
                "usubjid": [f"{studyid}-{s}-{i}" for s, i in zip(sites, ids)],
                "aespid": ae["aespid"].to_numpy(),
                "verbatim": [str(v).strip() for v in ae["verbatim"]],
                "ctcae_term": ae["term"].to_numpy(),
                "grade": ae["grade"].to_numpy(),
                "serious": np.where(ae["serious"], "Y", "N"),
                **{c.lower(): [("Y" if v else "N") if v is not None else "" for v in ae[c]] for c in CRITERIA if c in ae.columns},
                "aerel": rel,
                "related": np.where(np.isin(rel, ["RELATED", "POSSIBLY RELATED"]), "Y", "N"),
                "action": ae["action"].to_numpy(),
                "outcome": ae["outcome"].to_numpy(),
                "start_date": iso(ae["start"].to_numpy()),
                "start_precision": ae["start_prec"].map({3: "DAY", 2: "MONTH", 1: "YEAR"}).to_numpy(),
                "end_date": iso(ae["aeendat"].to_numpy()),
                "ongoing": np.where(ae["ongoing"], "Y", "N"),
                "problem_kind": [kinds.get(k, "") for k in key],
            }
        )
        .iloc[order]
        .reset_index(drop=True)
    )


def parameters_json(seed: int, n: int, scenario: str, problem_rate: float, study, rfs: dict, n_problems: int) -> str:
    """parameters.json text (sorted keys, deterministic)."""
    arm = study.cohort["arm"].value_counts().sort_index()
    doc = {
        "seed": seed,
        "n_subjects": n,
        "scenario": scenario,
        "problem_rate": problem_rate,
        "data_cutoff": pd.Timestamp(np.datetime64(study.cut, "D")).date().isoformat(),
        "sorafenib_rfs_weibull": rfs,
        "arm_counts": {k: int(v) for k, v in arm.items()},
        "n_injected_problems": n_problems,
        "generator": "pipeline.synth.generate_study",
        "calibration": "pipeline/synth/calibration.yaml",
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


TRUTH_README = """\
# Ground truth of a synthetic NCT02867280 export (pipeline.synth)

Written by `pipeline.synth.generate_study` next to the raw export; the pipeline never reads it.
Dates are ISO 8601; `*_days` = date - hepatectomy date (no +1); months = days / 30.4375.

## subjects.csv (one row per subject)
- siteid, subjid (as written in the export), usubjid = NCT02867280-<siteid>-<subjid>, arm, sex, age (at consent)
- latent_recurrence_months / latent_death_months / latent_rfs_months: simulated times from hepatectomy
  (blank recurrence = never recurs); censor_months and censor_reason: DATA CUTOFF (2022-12-31) or the dropout
- recurrence_date_recorded: RECURDAT as recorded (may be partial: YYYY-MM or YYYY); death_date_recorded (always full)
- rfs_event/rfs_date: recurrence at the date of the diagnosing assessment (TADAT of the ta row with RECUR = Y)
  or death, whichever comes first; else censored at the last tumour assessment (hepatectomy date if none)
- ttr_event/ttr_date: recurrence only; death without recurrence is censored at the last tumour assessment
- os_event/os_date: death; else censored at last_alive_date = latest full date proving the subject alive
  (consent, enrolment, labs, tumour assessments, survival contacts with status ALIVE, dosing and AE dates).
  A LOST TO FOLLOW-UP contact (a failed attempt) and END OF STUDY dates are not evidence of being alive;
  for dropouts the END OF STUDY date equals the last date known alive.
- trt_*: sorafenib first/last dose, days, total_dose_mg = sum of EXDOSE x administrations
  (QD: one per day, QOD: days 1, 3, 5, ... of the period, 0 mg periods: none)
- ae_dose_reduced_or_interrupted / ae_drug_withdrawn / ae_dose_modification: from AEACN of the AE records
- eot_reason (sorafenib arm), eos_reason/eos_date (deaths and dropouts only; subjects still followed at
  the cut have no END OF STUDY record), baseline characteristics (AFP in ng/mL)

## adverse_events.csv (one row per AE record, re-export duplicates not repeated)
True CTCAE v4.0 term and grade, serious, the seriousness criteria of a serious AE (aesdth, aeslife, aeshosp,
aesdisab, aescong, aesmie: Y/N, blank when not serious), aerel (canonical), related = Y for RELATED or POSSIBLY RELATED,
action, outcome, true start/end dates with the recorded precision, problem_kind when the record carries
an injected problem (its raw value is then not a valid term, grade or date).

## injected_problems.csv
Every deliberately invalid raw value: siteid, subjid, form, field, value (exactly as written), kind
(impossible_date, unknown_verbatim, invalid_grade, unknown_unit), record_key. A correct pipeline
quarantines exactly these records. AEs that changed the sorafenib dose never carry a problem.

## parameters.json
seed, n_subjects, scenario (sorafenib RFS: optimistic / moderate / null), problem_rate, arm counts.
"""
