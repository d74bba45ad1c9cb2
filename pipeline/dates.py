"""Raw dates to ISO 8601, and the small date helpers the SDTM/ADaM layers share.

Every style the sites write is read here, and only here:

* ISO and other year-first dates: ``2019-03-05``, ``2019-3-5``, ``2019/03/05``, partial
  ``2019-03`` / ``2019``, unknown parts ``2019-03-UN``;
* year-last numeric dates, read with the site's declared ``date_order`` (DMY or MDY):
  ``05/03/2019``, ``05.03.2019``, partial ``UN/03/2019``, ``03/2019``;
* Chinese dates: ``2019年3月5日`` (or ``号``), ``2019年3月``, ``2019年``;
* month-name dates: ``05-MAR-2019``, ``05 Mar 2019``, ``05MAR2019``, ``MAR-2019``,
  ``UN-MAR-2019``, ``UN-UNK-2019`` (``UN``/``UNK``/``UNKN`` mark an unknown part);
* any of these in full-width characters (``２０１９－０３－０５``) or with odd whitespace
  (NFKC normalisation first), and ``2019-03-05 00:00:00`` (a spreadsheet's midnight).

A partial date stays partial (``2019-03``): nothing is imputed here. An impossible date,
an unreadable string, or one whose day/month order the site's convention does not settle
is rejected with a reason — never guessed. Reasons never repeat the value, so they are
safe to show for identifier fields such as a birth date.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from typing import NamedTuple

import numpy as np
import pandas as pd

from pipeline.columns import TEXT, take_text

DATE_ORDERS = ("YMD", "DMY", "MDY")
MIN_YEAR, MAX_YEAR = 1900, 2099

# An ISO 8601 date as this module writes it: complete or right-truncated.
ISO_DATE_RE = r"^\d{4}(-\d{2}(-\d{2})?)?$"

UNKNOWN_TOKENS = frozenset({"UN", "UNK", "UNKN"})
MONTHS = {
    **{calendar.month_abbr[m].upper(): m for m in range(1, 13)},
    **{calendar.month_name[m].upper(): m for m in range(1, 13)},
    "SEPT": 9,
}

_CJK_RE = re.compile(r"^(\d{4})\s*年(?:\s*(\d{1,2}|UNK?N?)\s*月(?:\s*(\d{1,2}|UNK?N?)\s*[日号])?)?$")
_MIDNIGHT_RE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})[T ]00:00(?::00(?:\.0+)?)?$")
_TIME_RE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2}")
_TOKENS_RE = re.compile(r"^[0-9A-Z]+(?:\s*[-/.\s]\s*[0-9A-Z]+){0,2}$")
_COMPACT_RE = re.compile(r"^(\d{1,2}|UNK?N?)?([A-Z]{3,9})(\d{4})$")  # 05MAR2019 (SAS DATE9)

_PRECISION = (("day", r"^\d{4}-\d{2}-\d{2}(T|$)"), ("month", r"^\d{4}-\d{2}$"), ("year", r"^\d{4}$"))

R_FORMAT = "not a recognised date format"
R_TIME = "has a time of day; a date was expected"
R_TWO_DIGIT_YEAR = "two-digit year: the century cannot be told"
R_YEAR_UNKNOWN = "year is unknown"
R_YEAR_RANGE = f"year outside {MIN_YEAR}-{MAX_YEAR}"
R_MONTH_NAME = "unknown month name"
R_MONTH_RANGE = "month is not between 1 and 12"
R_DAY_RANGE = "day does not exist in that month"
R_DAY_NO_MONTH = "day is given but the month is unknown"
R_ORDER = "day and month cannot be told apart: the site's declared date order is year-month-day but this date puts the year last"


class ParsedDate(NamedTuple):
    """Result of reading one raw date: exactly one of ``iso`` and ``reason`` is set (both None for blank)."""

    iso: str | None
    reason: str | None


def _clean(text: str) -> str:
    """NFKC (full-width to ASCII), upper case, trimmed, inner whitespace collapsed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().upper()


def _part(tok: str | None) -> int | str | None:
    """A numeric token as int, an unknown marker as None, anything else returned as is."""
    if tok is None or tok in UNKNOWN_TOKENS:
        return None
    return int(tok) if tok.isdigit() else tok


def _assemble(year: int | None, month: int | None, day: int | None) -> ParsedDate:
    """Validate the parts and write the ISO 8601 value, truncated where parts are unknown."""
    if year is None:
        return ParsedDate(None, R_YEAR_UNKNOWN)
    if not MIN_YEAR <= year <= MAX_YEAR:
        return ParsedDate(None, R_YEAR_RANGE)
    if month is None:
        return ParsedDate(None, R_DAY_NO_MONTH) if day is not None else ParsedDate(f"{year:04d}", None)
    if not 1 <= month <= 12:
        return ParsedDate(None, R_MONTH_RANGE)
    if day is None:
        return ParsedDate(f"{year:04d}-{month:02d}", None)
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return ParsedDate(None, R_DAY_RANGE)
    return ParsedDate(f"{year:04d}-{month:02d}-{day:02d}", None)


def _month(tok: str | None) -> int | str | None:
    """A month token (number, English name or unknown marker) as int/None, or a reason."""
    if tok is None or tok in UNKNOWN_TOKENS:
        return None
    if tok.isdigit():
        return int(tok) if len(tok) <= 2 else R_FORMAT
    return MONTHS.get(tok, R_MONTH_NAME)


def _day(tok: str | None) -> int | str | None:
    if tok is None or tok in UNKNOWN_TOKENS:
        return None
    return int(tok) if tok.isdigit() and len(tok) <= 2 else R_FORMAT


def _from_parts(y: str, m: str | None, d: str | None) -> ParsedDate:
    """Year-month-day tokens (month may be a name) to a ParsedDate."""
    month, day = _month(m), _day(d)
    if isinstance(month, str):
        return ParsedDate(None, month)
    if isinstance(day, str):
        return ParsedDate(None, day)
    year = None if y in UNKNOWN_TOKENS else int(y)
    return _assemble(year, month, day)


def _year_last(a: str, b: str, y: str, date_order: str) -> ParsedDate:
    """``a b YYYY``: which of a/b is the day is fixed by a month name or the site's order."""
    if not a.isdigit() and a not in UNKNOWN_TOKENS:
        return _from_parts(y, a, b)  # MAR-05-2019
    if not b.isdigit() and b not in UNKNOWN_TOKENS:
        return _from_parts(y, b, a)  # 05-MAR-2019, UN-UNK-2019
    if a in UNKNOWN_TOKENS and b in UNKNOWN_TOKENS:
        return _from_parts(y, None, None)
    if date_order == "DMY":
        return _from_parts(y, b, a)
    if date_order == "MDY":
        return _from_parts(y, a, b)
    return ParsedDate(None, R_ORDER)


def _is_year4(tok: str) -> bool:
    return len(tok) == 4 and tok.isdigit()


def _parse_clean(s: str, date_order: str) -> ParsedDate:
    """Parse an already cleaned (NFKC, upper, trimmed) non-empty string."""
    if m := _CJK_RE.match(s):
        return _from_parts(*m.groups())
    if m := _MIDNIGHT_RE.match(s):
        s = m.group(1)
    elif _TIME_RE.match(s):
        return ParsedDate(None, R_TIME)
    if m := _COMPACT_RE.match(s):
        day, mon, year = m.groups()
        return _from_parts(year, mon, day)
    if not _TOKENS_RE.match(s):
        return ParsedDate(None, R_FORMAT)
    toks = re.split(r"\s*[-/.\s]\s*", s)
    years = [i for i, t in enumerate(toks) if _is_year4(t)]
    if not years:
        # No 4-digit year: say why when the shape is otherwise a date.
        if toks[-1] in UNKNOWN_TOKENS or (toks[0] in UNKNOWN_TOKENS and len(toks) == 3):
            return ParsedDate(None, R_YEAR_UNKNOWN)
        if len(toks) == 3 and all((t.isdigit() and len(t) <= 2) or t in MONTHS or t in UNKNOWN_TOKENS for t in toks):
            return ParsedDate(None, R_TWO_DIGIT_YEAR)
        return ParsedDate(None, R_FORMAT)
    if len(years) > 1:
        return ParsedDate(None, R_FORMAT)
    at, n = years[0], len(toks)
    if n == 1:
        return _from_parts(toks[0], None, None)
    if n == 2:
        return _from_parts(toks[at], toks[1 - at], None)  # 2019-03, 03/2019, MAR-2019
    if at == 0:
        return _from_parts(*toks)  # year first: always year-month-day
    if at == 2:
        return _year_last(toks[0], toks[1], toks[2], date_order)
    return ParsedDate(None, R_FORMAT)


def parse_date(text: object, date_order: str = "YMD") -> ParsedDate:
    """Read one raw date written in any site style.

    Takes the raw text and the site's ``date_order`` (YMD, DMY or MDY: how an all-numeric
    date with the year last is read). Returns ``ParsedDate(iso, None)`` with a complete
    or partial ISO 8601 date, ``ParsedDate(None, reason)`` when the value cannot be read
    safely, or ``ParsedDate(None, None)`` for a blank. Never raises on any string.
    """
    if date_order not in DATE_ORDERS:
        raise ValueError(f"date_order must be one of {DATE_ORDERS}, not {date_order!r}")
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return ParsedDate(None, None)
    s = _clean(str(text))
    if not s:
        return ParsedDate(None, None)
    try:
        return _parse_clean(s, date_order)
    except (ValueError, OverflowError):  # e.g. int() of a digit the regex let through
        return ParsedDate(None, R_FORMAT)


def to_iso8601(values: pd.Series, date_order: str = "YMD") -> tuple[pd.Series, pd.Series]:
    """Vectorised :func:`parse_date`: each distinct value is parsed once and mapped back.

    Returns ``(iso, reason)``, two ``TEXT`` Series on ``values``' index: the ISO 8601 value
    (missing when blank or rejected) and the reason for a rejection (missing otherwise).
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    parsed = [parse_date(u, date_order) for u in uniques]  # distinct values only
    return (
        take_text([p.iso for p in parsed], codes, values.index),
        take_text([p.reason for p in parsed], codes, values.index),
    )


def iso_precision(iso: str | pd.Series | None) -> str | pd.Series | None:
    """Precision of an ISO 8601 date: "year", "month" or "day" (None when blank or not ISO).

    Accepts a scalar or a Series (returns a ``TEXT`` Series on the same index).
    """
    if isinstance(iso, pd.Series):
        s = iso.astype(TEXT)
        out = pd.Series(None, index=iso.index, dtype=TEXT)
        for name, pattern in _PRECISION:
            out[s.str.match(pattern, na=False)] = name
        return out
    if not isinstance(iso, str):
        return None
    return next((name for name, pattern in _PRECISION if re.match(pattern, iso)), None)


def complete_date(dtc: pd.Series) -> pd.Series:
    """The complete date (YYYY-MM-DD) of ISO 8601 values as datetime64, NaT when partial/blank/invalid.

    Text is parsed once per distinct value (records share few dates).
    """
    if len(dtc) and pd.api.types.infer_dtype(dtc, skipna=True) in ("string", "empty"):
        codes, uniques = pd.factorize(dtc)
        parsed = _complete_date(pd.Series(uniques, dtype=object)).to_numpy(dtype="datetime64[ns]")
        out = np.full(len(dtc), np.datetime64("NaT"), dtype="datetime64[ns]")
        out[codes >= 0] = parsed[codes[codes >= 0]]
        return pd.Series(out, index=dtc.index, name=dtc.name)
    return _complete_date(dtc)


def _complete_date(dtc: pd.Series) -> pd.Series:
    s = dtc.astype(TEXT)
    full = s.str.match(r"^\d{4}-\d{2}-\d{2}(T|$)", na=False)
    return pd.to_datetime(s.where(full).str.slice(0, 10), format="%Y-%m-%d", errors="coerce")


def study_day(dtc: pd.Series, ref_dtc: pd.Series) -> pd.Series:
    """--DY of ``dtc`` relative to ``ref_dtc`` (element-wise, same index).

    Day 1 is the reference day, the day before is -1 (there is no day 0). Null (NaN,
    float64) when either date is partial, blank or not a date.
    """
    d, r = complete_date(dtc), complete_date(ref_dtc)  # aligned on the index
    delta = (d - r).dt.days
    return pd.Series(np.where(delta >= 0, delta + 1, delta), index=dtc.index, dtype="float64").where(delta.notna())
