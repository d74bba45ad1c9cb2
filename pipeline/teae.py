"""Treatment emergence of an adverse event: one rule for SDTM (SUPPAE.AETRTEM) and ADaM (ADAE.TRTEMFL).

Both arms are treated alike. Each subject has a reference period: for a subject of the
sorafenib arm, first dose to last dose (last dose = data cut-off while dosing is open); for
a control subject (no study drug), the hepatectomy, open-ended; a sorafenib subject never
dosed has none. A partial AE start date is imputed to its first possible day, or to the
reference start when that lies in the range the partial date allows. An AE is
treatment-emergent when its start lies in [reference start, reference end + window]
(window = ``teae_window_days`` of specs/trial/study.yaml); a subject without a reference
start never has a treatment-emergent AE. Shared here so SDTM does not depend on ADaM.
"""

from __future__ import annotations

import pandas as pd

from pipeline.imputation import impute_date
from pipeline.specs.study import load_study


def reference_period(
    armcd: pd.Series, first_dose: pd.Series, last_dose: pd.Series, hepatectomy: pd.Series, cutoff: str | pd.Timestamp
) -> tuple[pd.Series, pd.Series]:
    """(reference start, reference end) per subject, datetime64 aligned with ``armcd`` (planned arm code).

    Control: (hepatectomy, NaT = open). Treated arm: (first dose, last dose or ``cutoff`` while dosing is
    open); never dosed: (NaT, NaT).
    """
    control = armcd.eq(load_study().control_armcd).to_numpy()  # no study drug: observed from the hepatectomy
    first, last, hep = (pd.Series(pd.to_datetime(x).to_numpy(), index=armcd.index) for x in (first_dose, last_dose, hepatectomy))
    last = last.where(first.isna() | last.notna(), pd.Timestamp(cutoff))
    start = first.where(~control, hep)
    end = last.where(~control, pd.NaT)
    return start, end


def analysis_start(aestdtc: pd.Series, ref_start: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(ASTDT, ASTDTF): AESTDTC imputed to its first possible day, or ``ref_start`` when it lies in the range."""
    return impute_date(aestdtc, "first", min_dates=ref_start)


def treatment_emergent(astdt: pd.Series, ref_start: pd.Series, ref_end: pd.Series, window_days: int) -> pd.Series:
    """Nullable boolean per AE: True when ref_start <= ASTDT <= ref_end + window (no end: open).

    False for a subject without a reference start (never treated); NA when ASTDT is unknown.
    """
    st, en, ad = (pd.to_datetime(x) for x in (ref_start, ref_end, astdt))
    inside = (ad >= st) & (en.isna() | (ad <= en + pd.Timedelta(days=window_days)))
    out = pd.Series(inside.to_numpy(), index=astdt.index, dtype="boolean")
    out[ad.isna().to_numpy() & st.notna().to_numpy()] = pd.NA
    out[st.isna().to_numpy()] = False
    return out


def study_day(date: pd.Series, ref_start: pd.Series) -> pd.Series:
    """Relative day of ``date`` from ``ref_start`` (no day 0: day 1 is the reference date); NaN without either."""
    delta = (pd.to_datetime(date) - pd.to_datetime(ref_start)).dt.days
    return delta.where(delta < 0, delta + 1).astype("float64")
