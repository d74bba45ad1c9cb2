"""Partial-date imputation (admiral's derive_vars_dt rules, vectorised; ADaM and the SDTM treatment-emergence rule).

A partial ISO 8601 date (``2019-03``, ``2019``) becomes a complete date with a flag:
``D`` when the day was imputed, ``M`` when month and day were imputed. A missing year is
never imputed (the result stays missing). ``min_dates``/``max_dates`` bound the result the
way admiral does: the bound is used only when it falls inside the range of dates the
partial value allows, so an imputation never contradicts the collected part.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.columns import TEXT, take_text


def _parts(dtc: pd.Series) -> pd.DataFrame:
    """Year, month and day of each value as text (missing where absent); the regex runs once per
    distinct value (pandas' extract on Arrow text is a Python loop over every row)."""
    codes, uniques = pd.factorize(dtc.astype(TEXT).str.slice(0, 10))
    found = pd.Series(np.asarray(uniques, dtype=object), dtype=object).str.extract(
        r"^(?P<y>\d{4})(?:-(?P<m>\d{2}))?(?:-(?P<d>\d{2}))?$"
    )
    return pd.DataFrame({c: take_text(found[c].to_numpy(dtype=object), codes, dtc.index) for c in ("y", "m", "d")})


def _ymd(y: pd.Series, m: pd.Series, d: pd.Series) -> pd.Series:
    """Dates from year/month/day strings; NaT where any part is missing or the date is impossible."""
    return pd.to_datetime(y + "-" + m + "-" + d, format="%Y-%m-%d", errors="coerce")


def possible_range(dtc: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Earliest and latest complete date an ISO 8601 value (complete or partial) allows: two datetime64 Series.

    ``2019-03`` -> (2019-03-01, 2019-03-31), ``2019`` -> (2019-01-01, 2019-12-31), a complete date -> itself;
    NaT when blank or not a date. The one rule of partial-date bounds (SDTM date checks, ADaM imputation),
    worked out once per distinct value (dates repeat).
    """
    codes, uniques = pd.factorize(dtc.astype(TEXT).str.slice(0, 10), use_na_sentinel=True)
    u = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    p = _parts(u)
    y, m, d = p["y"], p["m"], p["d"]
    lo = _ymd(y, m.fillna("01"), d.fillna("01"))
    month_end = _ymd(y, m.fillna("12"), pd.Series("01", index=u.index)) + pd.offsets.MonthEnd(0)
    hi = _ymd(y, m.fillna("12"), d).where(d.notna(), month_end)

    def back(x: pd.Series) -> pd.Series:
        table = np.append(x.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT"))
        return pd.Series(table[codes], index=dtc.index)

    return back(lo), back(hi)


def impute_date(
    dtc: pd.Series,
    mode: str = "first",
    min_dates: pd.Series | None = None,
    max_dates: pd.Series | None = None,
) -> tuple[pd.Series, pd.Series]:
    """Impute partial ISO 8601 dates.

    mode "first" imputes the earliest possible date, "last" the latest.
    min_dates / max_dates (datetime64, aligned with ``dtc``): if the imputed date is before
    a min date (after a max date) that lies within the possible range, the bound is used.
    Returns (date as datetime64, flag "D"/"M"/None).
    """
    p = _parts(dtc)
    lo, hi = possible_range(dtc)
    out = (lo if mode == "first" else hi).copy()
    if min_dates is not None:
        md = pd.to_datetime(min_dates)
        use = md.notna() & (md >= lo) & (md <= hi) & (out < md)
        out = out.where(~use, md)
    if max_dates is not None:
        xd = pd.to_datetime(max_dates)
        use = xd.notna() & (xd >= lo) & (xd <= hi) & (out > xd)
        out = out.where(~use, xd)
    flag = pd.Series(np.where(p["m"].isna(), "M", np.where(p["d"].isna(), "D", None)), index=dtc.index, dtype="object")  # type: ignore[call-overload]  # numpy's stubs take no None fill value
    flag = flag.where(p["y"].notna() & p["d"].isna(), None)
    return out, flag


def to_sas_date(dt: pd.Series) -> pd.Series:
    """datetime64 -> SAS date (days since 1960-01-01) as float64; NaT -> NaN."""
    return ((pd.to_datetime(dt) - pd.Timestamp("1960-01-01")).dt.days).astype("float64")
