"""ADAE — one row per AE with analysis dates, treatment emergence and safety flags.

Rules (also in specs/adam/adae.yaml): partial start dates are imputed to the first
possible day, or the first dose date when it lies in the possible range; end dates to
the last possible day, never before ASTDT and never after death. TRTEMFL: sorafenib
subjects ASTDT in [TRTSDT, TRTEDT + 30]; control subjects ASTDT on or after hepatectomy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.adam.common import AdamResult, finalize_adam, yn
from pipeline.adam.imputation import impute_date
from pipeline.sdtm.common import DomainResult

NAME = "ADAE"
INPUTS = {"adsl": ["adam", "adsl"], "ae": ["sdtm", "ae"]}
TRTEM_WINDOW_DAYS = 30
RELATED = {"RELATED", "POSSIBLY RELATED"}


def build(adsl: AdamResult, ae: DomainResult) -> AdamResult:
    """ADAE from SDTM AE and ADSL (TRTSDT, TRTEDT, HEPDT, DTHDT, TRT01A, SAFFL)."""
    s = adsl.data.set_index("USUBJID")
    a = ae.data.copy()
    sub = s.reindex(a["USUBJID"])
    trtsdt = pd.Series(sub["TRTSDT"].to_numpy(), index=a.index)
    trtedt = pd.Series(sub["TRTEDT"].to_numpy(), index=a.index)
    hepdt = pd.Series(sub["HEPDT"].to_numpy(), index=a.index)
    dthdt = pd.Series(sub["DTHDT"].to_numpy(), index=a.index)

    a["ASTDT"], a["ASTDTF"] = impute_date(a["AESTDTC"], "first", min_dates=trtsdt)
    aendt, a["AENDTF"] = impute_date(a["AEENDTC"], "last", max_dates=dthdt)
    # An imputed end never precedes the start.
    imputed = a["AENDTF"].notna()
    a["AENDT"] = aendt.where(~(imputed & (aendt < a["ASTDT"])), a["ASTDT"])

    ref = trtsdt.where(trtsdt.notna(), hepdt)
    delta = (a["ASTDT"] - ref).dt.days
    a["ASTDY"] = np.where(delta >= 0, delta + 1, delta)
    treated = trtsdt.notna()
    emergent = np.where(
        treated,
        (a["ASTDT"] >= trtsdt) & (a["ASTDT"] <= trtedt + pd.Timedelta(days=TRTEM_WINDOW_DAYS)),
        a["ASTDT"] >= hepdt,
    )
    a["TRTEMFL"] = yn(pd.Series(emergent, index=a.index) & a["ASTDT"].notna())

    a["SUBJID"] = sub["SUBJID"].to_numpy()
    a["SITEID"] = sub["SITEID"].to_numpy()
    a["TRTA"] = sub["TRT01A"].to_numpy()
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

    bad_grade = ~a["ATOXGRN"].isin([1, 2, 3, 4, 5])
    fatal_mismatch = a["ATOXGRN"].eq(5) != a["AEOUT"].eq("FATAL")
    issues = pd.concat(
        [
            pd.DataFrame({"USUBJID": a.loc[bad_grade, "USUBJID"], "dataset": NAME, "variable": "ATOXGR", "value": a.loc[bad_grade, "AETOXGR"].astype(str), "rule": "GRADE_RANGE", "message": "CTCAE grade is not 1-5"}),
            pd.DataFrame({"USUBJID": a.loc[fatal_mismatch, "USUBJID"], "dataset": NAME, "variable": "AEOUT", "value": a.loc[fatal_mismatch, "AEOUT"].astype(str), "rule": "GRADE5_FATAL", "message": "Grade 5 and a FATAL outcome must go together"}),
        ]
    )
    return finalize_adam(a, "adae", issues)
