"""ADAE — one row per AE with analysis dates, treatment emergence, safety and occurrence flags.

Rules (also in specs/adam/adae.yaml): the reference period and the treatment-emergence rule are
``pipeline.teae``'s, shared with SDTM SUPPAE.AETRTEM (both arms alike: reference start = first dose,
or the hepatectomy for a control subject; none for a sorafenib subject never dosed). Partial start
dates are imputed to the first possible day, or the reference start when it lies in the possible
range; end dates to the last possible day, never before ASTDT and never after death. Occurrence
flags (ADaM OCCDS) mark, among treatment-emergent records, the first occurrence per subject, SOC
and PT, and the first record of the worst grade per subject, SOC and PT.
"""

from __future__ import annotations

import pandas as pd

from pipeline.adam.common import AdamResult, finalize_adam, yn
from pipeline.imputation import impute_date
from pipeline.sdtm.common import DomainResult
from pipeline.specs.study import load_study
from pipeline.teae import analysis_start, reference_period, study_day, treatment_emergent

NAME = "ADAE"
INPUTS = {"adsl": ["adam", "adsl"], "ae": ["sdtm", "ae"]}
RELATED = {"RELATED", "POSSIBLY RELATED"}


# Occurrence flags (ADaM OCCDS): name -> (grouping within subject, worst grade first?).
OCCURRENCE_FLAGS = {
    "AOCCFL": ((), False),
    "AOCCSFL": (("AEBODSYS",), False),
    "AOCCPFL": (("AEBODSYS", "AEDECOD"), False),
    "AOCCIFL": ((), True),
    "AOCCSIFL": (("AEBODSYS",), True),
    "AOCCPIFL": (("AEBODSYS", "AEDECOD"), True),
}


def occurrence_flags(a: pd.DataFrame) -> pd.DataFrame:
    """OCCDS occurrence flags of ADAE records (TRTEMFL, USUBJID, AEBODSYS, AEDECOD, ATOXGRN, ASTDT, AESEQ).

    Among treatment-emergent records, "Y" on the first record by (ASTDT, AESEQ) of each subject, SOC or
    PT-within-SOC; the I flags take the highest ATOXGRN first (ties: earliest ASTDT, then AESEQ). Null elsewhere.
    """
    te = a[a["TRTEMFL"].eq("Y")]
    out = pd.DataFrame(index=a.index)
    for name, (groups, worst) in OCCURRENCE_FLAGS.items():
        keys = ["USUBJID", *groups]
        order = te.assign(_g=-te["ATOXGRN"].fillna(-1) if worst else 0.0).sort_values(
            [*keys, "_g", "ASTDT", "AESEQ"], kind="mergesort", na_position="last"
        )
        first = order.drop_duplicates(keys, keep="first").index
        out[name] = yn(pd.Series(a.index.isin(first), index=a.index))
    return out


def build(adsl: AdamResult, ae: DomainResult) -> AdamResult:
    """ADAE from SDTM AE and ADSL (TRTSDT, TRTEDT, HEPDT, DTHDT, TRT01A, SAFFL)."""
    s = adsl.data.set_index("USUBJID")
    a = ae.data.copy()
    sub = s.reindex(a["USUBJID"])
    trtsdt = pd.Series(sub["TRTSDT"].to_numpy(), index=a.index)
    trtedt = pd.Series(sub["TRTEDT"].to_numpy(), index=a.index)
    hepdt = pd.Series(sub["HEPDT"].to_numpy(), index=a.index)
    dthdt = pd.Series(sub["DTHDT"].to_numpy(), index=a.index)

    study = load_study()
    ref_start, ref_end = reference_period(
        pd.Series(sub["TRT01P"].to_numpy(), index=a.index), trtsdt, trtedt, hepdt, study.data_cutoff
    )
    a["ASTDT"], a["ASTDTF"] = analysis_start(a["AESTDTC"], ref_start)
    aendt, a["AENDTF"] = impute_date(a["AEENDTC"], "last", max_dates=dthdt)
    # An imputed end never precedes the start.
    imputed = a["AENDTF"].notna()
    a["AENDT"] = aendt.where(~(imputed & (aendt < a["ASTDT"])), a["ASTDT"])
    a["ASTDY"] = study_day(a["ASTDT"], ref_start)
    a["TRTEMFL"] = yn(treatment_emergent(a["ASTDT"], ref_start, ref_end, study.teae_window_days).fillna(False))

    a["SUBJID"] = sub["SUBJID"].to_numpy()
    a["SITEID"] = sub["SITEID"].to_numpy()
    a["TRTA"] = sub["TRT01A"].to_numpy()
    a["TRTAN"] = sub["TRT01AN"].to_numpy()
    a["SAFFL"] = sub["SAFFL"].to_numpy()
    a["TRTSDT"], a["TRTEDT"] = trtsdt, trtedt
    a["ATOXGR"] = a["AETOXGR"]
    a["ATOXGRN"] = pd.to_numeric(a["AETOXGR"], errors="coerce")
    a["RELFL"] = yn(a["AEREL"].isin(RELATED))
    a["DOSREDFL"] = yn(a["AEACN"].eq("DOSE REDUCED"))
    a["DOSINTFL"] = yn(a["AEACN"].eq("DRUG INTERRUPTED"))
    a["DRUGWDFL"] = yn(a["AEACN"].eq("DRUG WITHDRAWN"))
    a["DOSMODFL"] = yn(a["AEACN"].isin(["DOSE REDUCED", "DRUG INTERRUPTED", "DRUG WITHDRAWN"]))
    a["GR3FL"] = yn(a["ATOXGRN"] >= 3)
    a = a.join(occurrence_flags(a))

    bad_grade = ~a["ATOXGRN"].isin([1, 2, 3, 4, 5])
    fatal_mismatch = a["ATOXGRN"].eq(5) != a["AEOUT"].eq("FATAL")
    issues = pd.concat(
        [
            pd.DataFrame(
                {
                    "USUBJID": a.loc[bad_grade, "USUBJID"],
                    "dataset": NAME,
                    "variable": "ATOXGR",
                    "value": a.loc[bad_grade, "AETOXGR"].astype(str),
                    "rule": "GRADE_RANGE",
                    "message": "CTCAE grade is not 1-5",
                }
            ),
            pd.DataFrame(
                {
                    "USUBJID": a.loc[fatal_mismatch, "USUBJID"],
                    "dataset": NAME,
                    "variable": "AEOUT",
                    "value": a.loc[fatal_mismatch, "AEOUT"].astype(str),
                    "rule": "GRADE5_FATAL",
                    "message": "Grade 5 and a FATAL outcome must go together",
                }
            ),
        ]
    )
    return finalize_adam(a, "adae", issues)
