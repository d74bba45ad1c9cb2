"""Listings 16.2.x by site: discontinued subjects, deaths, serious AEs, AEs leading to dose modification.

Records, not statistics: built from ADaM directly (no ARD rows). One page group per site
(``Table.page_by`` = the site column). Subject = SUBJID; no direct identifier is listed.
"""

from __future__ import annotations

import pandas as pd

from pipeline.specs.study import load_study
from pipeline.tlf.display import Table, display

SITE = "Site"


def _arm(code: pd.Series) -> pd.Series:
    labels = {a.armcd: a.arm for a in load_study().arms}
    return code.map(lambda c: labels.get(c, "" if pd.isna(c) else str(c)))


def _date(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, errors="coerce").dt.strftime("%Y-%m-%d").fillna("")


def _day(d: pd.Series, ref: pd.Series) -> pd.Series:
    """Study day from the hepatectomy (day 1): d - ref + 1 for d on or after ref, d - ref before."""
    delta = (pd.to_datetime(d, errors="coerce") - pd.to_datetime(ref, errors="coerce")).dt.days
    day = delta.where(delta < 0, delta + 1)
    return day.map(lambda x: "" if pd.isna(x) else str(int(x)))


def _text(s: pd.Series) -> pd.Series:
    return s.astype("object").where(s.notna(), "").astype(str)


def _table(display_id: str, frame: pd.DataFrame, widths: tuple[float, ...]) -> Table:
    frame = frame.sort_values(list(frame.columns[:2]), kind="mergesort")
    rows = tuple(tuple(str(v) for v in r) for r in frame.itertuples(index=False))
    return Table(display(display_id), tuple(frame.columns), rows, widths, page_by=0)


def discontinued(adsl: pd.DataFrame) -> Table:
    """FAS subjects with EOSSTT = DISCONTINUED: end-of-study date, study day, reason."""
    s = adsl[adsl["FASFL"].eq("Y") & adsl["EOSSTT"].eq("DISCONTINUED")]
    f = pd.DataFrame(
        {
            SITE: _text(s["SITEID"]),
            "Subject": _text(s["SUBJID"]),
            "Treatment": _arm(s["TRT01P"]),
            "End of study date": _date(s["EOSDT"]),
            "Study day": _day(s["EOSDT"], s["HEPDT"]),
            "Reason": _text(s["DCSREAS"]),
        }
    )
    return _table("l16_2_1_discontinued", f, (0.8, 1.2, 2.6, 1.4, 1.0, 2.0))


def deaths(adsl: pd.DataFrame) -> Table:
    """FAS subjects who died: date (imputation flag), study day."""
    s = adsl[adsl["FASFL"].eq("Y") & adsl["DTHFL"].eq("Y")]
    f = pd.DataFrame(
        {
            SITE: _text(s["SITEID"]),
            "Subject": _text(s["SUBJID"]),
            "Treatment": _arm(s["TRT01P"]),
            "Date of death": _date(s["DTHDT"]),
            "Imputed": _text(s["DTHDTF"]),
            "Study day": _day(s["DTHDT"], s["HEPDT"]),
        }
    )
    return _table("l16_2_7_1_deaths", f, (0.8, 1.2, 2.6, 1.4, 0.9, 1.0))


def _ae_frame(a: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            SITE: _text(a["SITEID"]),
            "Subject": _text(a["SUBJID"]),
            "Treatment": _arm(a["TRTA"]),
            "Preferred term (SOC)": _text(a["AEDECOD"]) + " (" + _text(a["AEBODSYS"]) + ")",
            "Start / end": _date(a["ASTDT"]) + " / " + _date(a["AENDT"]),
            "Grade": _text(a["ATOXGR"]),
            "Relation": _text(a["AEREL"]),
            "Action": _text(a["AEACN"]),
            "Outcome": _text(a["AEOUT"]),
            "TEAE": _text(a["TRTEMFL"]).replace("", "N"),
        }
    )


def serious(adae: pd.DataFrame) -> Table:
    """Serious AEs (AESER = Y) of safety-set subjects."""
    a = adae[adae["AESER"].eq("Y") & adae["SAFFL"].eq("Y")]
    return _table("l16_2_7_2_sae", _ae_frame(a), (0.6, 1.0, 1.6, 3.2, 1.8, 0.6, 1.3, 1.3, 1.4, 0.6))


def dose_modified(adae: pd.DataFrame) -> Table:
    """AEs with a dose reduced, interrupted or withdrawn (ADAE.DOSMODFL = Y)."""
    a = adae[adae["DOSMODFL"].eq("Y") & adae["SAFFL"].eq("Y")]
    return _table("l16_2_7_3_ae_dosemod", _ae_frame(a), (0.6, 1.0, 1.6, 3.2, 1.8, 0.6, 1.3, 1.3, 1.4, 0.6))
