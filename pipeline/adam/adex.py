"""ADEX — per-subject exposure parameters for sorafenib (total dose, duration, intensity, modifications)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.adam.common import AdamResult, finalize_adam
from pipeline.columns import isin, stack
from pipeline.dates import complete_date
from pipeline.sdtm.common import DomainResult
from pipeline.specs.ct import load_ct, paired_value
from pipeline.specs.datasets import load_dataset_spec
from pipeline.specs.study import load_study

NAME = "ADEX"
INPUTS = {"adsl": ["adam", "adsl"], "ex": ["sdtm", "ex"], "ae": ["sdtm", "ae"]}
MODIFYING_ACTIONS = ["DOSE REDUCED", "DRUG INTERRUPTED", "DRUG WITHDRAWN"]


def parameters() -> list[tuple[str, str, str | None]]:
    """(PARAMCD, PARAM, AVALU) in spec order: codes and units from the AVAL value-level metadata of
    specs/adam/adex.yaml, names from the PARAMCD_EX/PARAM_EX pairs of specs/ct/adam_ct.csv."""
    ct = load_ct()
    out = []
    for vl in load_dataset_spec("adam", "adex").value_level:
        if vl.variable == "AVAL":
            code = dict(vl.where)["PARAMCD"]
            param = paired_value(ct, "PARAMCD_EX", "PARAM_EX", code)
            if param is None:
                raise ValueError(f"specs/ct/adam_ct.csv: PARAMCD_EX {code} has no PARAM_EX pair")
            out.append((code, param, vl.unit))
    return out


# Administrations per day by EXDOSFRQ: EXDOSE is the dose per administration.
ADMIN_PER_DAY = {"QD": 1.0, "BID": 2.0, "QOD": 0.5}


def period_doses(ex: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Per EX record: days in the period (end inclusive; an open period ends at ``cutoff``) and dose taken (mg).

    Dose = EXDOSE x administrations; a QOD period of n days has ceil(n / 2) dosing days.
    """
    st = complete_date(ex["EXSTDTC"])
    en = complete_date(ex["EXENDTC"]).fillna(cutoff)
    days = ((en - st).dt.days + 1).clip(lower=0)
    per_day = ex["EXDOSFRQ"].map(ADMIN_PER_DAY).fillna(1.0)
    administrations = np.ceil(days * per_day)
    return pd.DataFrame({"USUBJID": ex["USUBJID"], "days": days, "mg": ex["EXDOSE"] * administrations, "adj": ex["EXADJ"]})


def build(adsl: AdamResult, ex: DomainResult, ae: DomainResult) -> AdamResult:
    """ADEX for subjects who took sorafenib (ADSL.TRTSDT present)."""
    study = load_study()
    cutoff = pd.Timestamp(study.data_cutoff)
    s = adsl.data[adsl.data["TRTSDT"].notna()].set_index("USUBJID")
    per = period_doses(ex.data[isin(ex.data["USUBJID"], s.index)], cutoff)
    tdose = per.groupby("USUBJID")["mg"].sum().reindex(s.index).fillna(0.0)
    tdurd = ((s["TRTEDT"] - s["TRTSDT"]).dt.days + 1).astype("float64")
    pdi = float(study.planned_dose_mg_per_day)
    pdose = pdi * study.planned_duration_days
    ae_mod = ae.data[ae.data["AEACN"].isin(MODIFYING_ACTIONS)]["USUBJID"].unique()
    ex_mod = per.loc[per["adj"].eq("ADVERSE EVENT"), "USUBJID"].unique()
    avgdd = tdose / tdurd
    values = {
        "TDOSE": tdose,
        "TDURD": tdurd,
        "AVGDD": avgdd,
        "PDOSE": pd.Series(pdose, index=s.index),
        "PDI": pd.Series(pdi, index=s.index),
        "RDI": avgdd / pdi * 100.0,
        "PCTPDOSE": tdose / pdose * 100.0,
        "DOSMODAE": pd.Series(np.where(isin(s.index, ae_mod) | isin(s.index, ex_mod), 1.0, 0.0), index=s.index),
    }
    params = parameters()
    if {p[0] for p in params} != set(values) or any(p[1] is None for p in params):
        raise ValueError(f"ADEX: parameters of specs/adam/adex.yaml {[p[:2] for p in params]} != those derived {sorted(values)}")
    frames = []
    for code, label, unit in params:
        f = pd.DataFrame({"USUBJID": s.index, "PARAMCD": code, "PARAM": label, "AVAL": values[code].to_numpy(), "AVALU": unit})
        frames.append(f)
    out = stack(frames, ignore_index=True)
    sub = s.reindex(out["USUBJID"])
    for c in ["STUDYID", "SUBJID", "SITEID", "TRT01A", "SAFFL", "TRTSDT", "TRTEDT"]:
        out[c] = sub[c].to_numpy()
    return finalize_adam(out, "adex")
