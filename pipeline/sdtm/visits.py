"""Visits: the protocol's schedule (TV), the site's visit names read as one English name, and the one
rule giving VISITNUM/VISIT to every Findings record (:func:`assign_visits`).

Follow-up visits are named by the month after the hepatectomy: ``Month 6`` (site 101),
``术后6个月`` (102), ``术后第6月`` (103), ``MONTH 6`` (104). Each becomes VISIT = ``MONTH 6``
and VISITNUM = 6. A name none of the patterns reads is not guessed: it is returned
unmapped so the domain can raise a query.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from pipeline.dates import complete_date, study_day
from pipeline.specs.paths import SPECS_DIR
from pipeline.terminology import normalise_text

# Each pattern captures the month number.
PATTERNS = [
    r"^(?:MONTH|M)\s*(\d{1,3})$",
    r"^术后\s*第?\s*(\d{1,3})\s*个?\s*月$",
    r"^POST-?OP(?:ERATIVE)?\s+MONTH\s*(\d{1,3})$",
]


def standard_visit(visit: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Collected visit names -> (VISIT, VISITNUM as float, unknown mask); blanks stay blank (not unknown)."""
    # The patterns run once per distinct name (a study has a few dozen), not once per record.
    codes, names = pd.factorize(normalise_text(visit))
    name, num, unknown = _standard_names(pd.Series(names, dtype=object))
    name = np.append(name.to_numpy(dtype=object), None)[codes]  # type: ignore[call-overload]  # numpy's stubs take no None fill value
    num = np.append(num.to_numpy(dtype="float64"), np.nan)[codes]
    unknown = np.append(unknown.to_numpy(dtype=bool), False)[codes]
    return (
        pd.Series(name, index=visit.index, dtype=object),
        pd.Series(num, index=visit.index, dtype="float64"),
        pd.Series(unknown, index=visit.index, dtype=bool),
    )


def _standard_names(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """:func:`standard_visit` of normalised names (str), element by element."""
    text = text.astype("string").str.upper()
    month = pd.Series(pd.NA, index=text.index, dtype="string")
    for pat in PATTERNS:
        found = text.str.extract(pat, expand=False)
        month = month.fillna(found)
    num = pd.to_numeric(month, errors="coerce").astype("float64")
    name = ("MONTH " + month).astype(object).where(month.notna(), None)
    unknown = text.notna() & month.isna()
    return pd.Series(name, index=text.index, dtype=object), num, unknown.astype(bool)


# --- the protocol's visit schedule and the one visit rule every Findings domain uses ------------

TV_FILE = "specs/trial/tv.csv"
UNSCHEDULED_STEP = 0.01  # SDTMIG convention: x.01, x.02 ... for unscheduled visits after planned visit x


@lru_cache(maxsize=1)
def schedule() -> pd.DataFrame:
    """The planned visits of ``specs/trial/tv.csv``: VISITNUM (float), VISIT, VISITDY (float, NaN if none),
    TVSTRL, TVENRL, and ``_row`` (the file's line); sorted by VISITNUM.

    Raises ``ValueError`` naming the file when VISITNUM or VISIT repeat, or VISITDY does not rise with VISITNUM.
    """
    tv = pd.read_csv(SPECS_DIR / "trial" / "tv.csv", dtype=str, keep_default_na=False)
    tv["_row"] = np.arange(2, len(tv) + 2)
    tv["VISITNUM"] = pd.to_numeric(tv["VISITNUM"], errors="raise").astype("float64")
    tv["VISITDY"] = pd.to_numeric(tv["VISITDY"].replace("", None), errors="raise").astype("float64")
    tv["TVENRL"] = tv["TVENRL"].replace("", None)
    for col in ("VISITNUM", "VISIT"):
        if tv[col].duplicated().any():
            raise ValueError(f"{TV_FILE}: {col} {sorted(set(tv.loc[tv[col].duplicated(), col]))} repeated")
    tv = tv.sort_values("VISITNUM", kind="stable").reset_index(drop=True)
    days = tv["VISITDY"].dropna()
    if not days.is_monotonic_increasing:
        raise ValueError(f"{TV_FILE}: VISITDY does not rise with VISITNUM")
    return tv


def _from_day(tv: pd.DataFrame) -> np.ndarray:
    """First study day of each planned visit's interval for placing unscheduled visits: VISITDY, or for a
    visit without a planned day the day after the previous visit's (SCREENING: day 2)."""
    day = tv["VISITDY"].to_numpy(dtype="float64").copy()
    for i in range(len(day)):
        if np.isnan(day[i]):
            day[i] = (day[i - 1] + 1) if i else -np.inf
    return day


def assign_visits(
    usubjid: pd.Series,
    dtc: pd.Series,
    rfstdtc: pd.Series,
    collected: pd.Series | None = None,
    planned: pd.Series | str | None = None,
) -> tuple[pd.Series, pd.Series]:
    """VISITNUM (float64) and VISIT (object) of Findings records, by the rule of specs/sdtm/tv.yaml.

    Takes per record (same index): the subject, the date used to place an unscheduled record
    (--DTC; ISO 8601), the subject's RFSTDTC, the site's visit name (``collected``, read by
    :func:`standard_visit`) and the planned visit the CRF form fixes (``planned``: a VISIT of
    specs/trial/tv.csv, e.g. HEPATECTOMY for the surgery form). In order:

    1. ``planned`` when given;
    2. the collected name when it is a planned visit of the schedule (``Month 6`` -> MONTH 6);
    3. otherwise (no name, an unreadable name, a month off the schedule) the record is unscheduled:
       VISITNUM = the last planned visit whose planned day (VISITDY; SCREENING: day 2) is on or
       before the record's study day, plus 0.01 for the subject's first distinct unscheduled date
       after that visit, 0.02 for the second ...; VISIT = ``UNSCHEDULED 14.01``. A date before the
       hepatectomy counts after visit 0. Without a complete date both stay null.
    """
    tv = schedule()
    by_name = pd.Series(tv["VISITNUM"].to_numpy(), index=tv["VISIT"].to_numpy())
    num = pd.Series(np.nan, index=usubjid.index, dtype="float64")
    if planned is not None:
        p = pd.Series(planned, index=usubjid.index, dtype=object)
        unknown = p.notna() & ~p.isin(by_name.index)
        if unknown.any():
            raise ValueError(f"planned visit {sorted(set(p[unknown]))} not in {TV_FILE}")
        num = num.fillna(p.map(by_name).astype("float64"))
    if collected is not None:
        name, _, _ = standard_visit(collected)
        num = num.fillna(name.map(by_name).astype("float64"))
    name = num.map(pd.Series(tv["VISIT"].to_numpy(), index=tv["VISITNUM"].to_numpy())).astype(object)

    loose = num.isna()
    day = study_day(dtc[loose], rfstdtc[loose])
    placed = day.notna()
    if placed.any():
        idx = day.index[placed]
        start = _from_day(tv)
        after = np.searchsorted(start, day[placed].to_numpy(), side="right") - 1
        base = tv["VISITNUM"].to_numpy()[np.maximum(after, 0)]
        frame = pd.DataFrame({"u": usubjid[idx].to_numpy(), "b": base, "d": complete_date(dtc[idx]).to_numpy()})
        rank = frame.groupby(["u", "b"])["d"].rank(method="dense").to_numpy()
        value = np.round(base + UNSCHEDULED_STEP * rank, 2)
        num[idx] = value
        uniq, inv = np.unique(value, return_inverse=True)  # the names are written once per distinct number
        name[idx] = np.array(["UNSCHEDULED " + f"{v:.2f}" for v in uniq], dtype=object)[inv.reshape(-1)]
    return num, name.where(num.notna(), None).astype(object)
