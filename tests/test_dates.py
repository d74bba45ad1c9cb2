"""Raw dates to ISO 8601: every site style, partial dates, and never a guessed date."""

from __future__ import annotations

import calendar
import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from listed import listed

from pipeline import dates as dates_module
from pipeline.dates import DATE_ORDERS, ParsedDate, iso_precision, parse_date, study_day, to_iso8601

ISO = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
MON = [calendar.month_abbr[m].upper() for m in range(13)]
FULL_WIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}  # ASCII ! .. ~ -> ！ .. ～

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- hand-written examples, one per style -------------------------------------------------

EXAMPLES = [
    # ISO and year-first, any site
    ("2019-03-05", "YMD", "2019-03-05"),
    ("2019-03", "YMD", "2019-03"),
    ("2019", "YMD", "2019"),
    ("2019-3-5", "DMY", "2019-03-05"),
    ("2019/03/05", "DMY", "2019-03-05"),
    ("2019-03-UN", "YMD", "2019-03"),
    ("2019-03-05 00:00:00", "YMD", "2019-03-05"),
    # dd/mm/yyyy at a DMY site (102), mm/dd/yyyy at an MDY site
    ("05/03/2019", "DMY", "2019-03-05"),
    ("05.03.2019", "DMY", "2019-03-05"),
    ("UN/03/2019", "DMY", "2019-03"),
    ("03/2019", "DMY", "2019-03"),
    ("UN/UN/2019", "DMY", "2019"),
    ("05/03/2019", "MDY", "2019-05-03"),
    ("03/UN/2019", "MDY", "2019-03"),
    # Chinese (103)
    ("2019年3月5日", "YMD", "2019-03-05"),
    ("2019年03月05号", "YMD", "2019-03-05"),
    ("2019 年 3 月", "YMD", "2019-03"),
    ("2019年", "YMD", "2019"),
    # month names (104)
    ("05-MAR-2019", "DMY", "2019-03-05"),
    ("5-Mar-2019", "YMD", "2019-03-05"),
    ("05 mar 2019", "DMY", "2019-03-05"),
    ("05MAR2019", "DMY", "2019-03-05"),
    ("MAR-2019", "DMY", "2019-03"),
    ("March 2019", "DMY", "2019-03"),
    ("UN-MAR-2019", "DMY", "2019-03"),
    ("UNK-MAR-2019", "DMY", "2019-03"),
    ("UN-UNK-2019", "DMY", "2019"),
    ("UNK-UNK-2019", "DMY", "2019"),
    ("UNKN-UNKN-2019", "DMY", "2019"),
    # full width, odd whitespace
    ("２０１９－０３－０５", "YMD", "2019-03-05"),
    ("０５／０３／２０１９", "DMY", "2019-03-05"),
    ("\u3000 2019-03-05\t", "YMD", "2019-03-05"),
    ("05 - MAR - 2019", "DMY", "2019-03-05"),
    # leap day
    ("29/02/2020", "DMY", "2020-02-29"),
]


@pytest.mark.parametrize("text,order,iso", EXAMPLES)
def test_each_site_style(text: str, order: str, iso: str) -> None:
    assert parse_date(text, order) == ParsedDate(iso, None)


REJECTED = [
    ("2020-02-30", "YMD", "day does not exist"),
    ("31/04/2019", "DMY", "day does not exist"),
    ("29/02/2019", "DMY", "day does not exist"),
    ("31-APR-2019", "DMY", "day does not exist"),
    ("1960年2月30日", "YMD", "day does not exist"),
    ("2019-13-01", "YMD", "month is not between 1 and 12"),
    ("04/13/2019", "DMY", "month is not between 1 and 12"),
    ("05/03/2019", "YMD", "day and month cannot be told apart"),  # 101 declares YMD
    ("25/03/2019", "YMD", "day and month cannot be told apart"),  # not settled by the site's convention either
    ("UN/03/2019", "YMD", "day and month cannot be told apart"),
    ("05/03/19", "DMY", "two-digit year"),
    ("05-MAR-19", "DMY", "two-digit year"),
    ("2019-UN-05", "YMD", "month is unknown"),
    ("05-UNK-2019", "DMY", "month is unknown"),
    ("UN-UN-UNKN", "DMY", "year is unknown"),
    ("05-FOO-2019", "DMY", "unknown month name"),
    ("1899-12-31", "YMD", "year outside"),
    ("2019-03-05 10:30", "YMD", "time of day"),
    ("20190305", "YMD", "not a recognised date"),
    ("43529", "YMD", "not a recognised date"),  # an Excel serial number typed as text
    ("yesterday", "YMD", "not a recognised date"),
    ("2019-03-05-01", "YMD", "not a recognised date"),
    ("2019/2020", "YMD", "not a recognised date"),
]


@pytest.mark.parametrize("text,order,why", REJECTED)
def test_rejected_with_a_reason(text: str, order: str, why: str) -> None:
    parsed = parse_date(text, order)
    assert parsed.iso is None
    assert why in parsed.reason


@pytest.mark.parametrize("blank", [None, np.nan, pd.NA, "", "   ", "\u3000"])
def test_blank_is_neither_a_date_nor_an_error(blank: object) -> None:
    assert parse_date(blank, "DMY") == ParsedDate(None, None)


REASONS = {v for k, v in vars(dates_module).items() if k.startswith("R_")}


@SETTINGS
@given(st.text(max_size=20), st.sampled_from(DATE_ORDERS))
def test_reasons_never_repeat_the_value(text: str, order: str) -> None:
    """Reasons are shown for birth dates too (identifiers): they come from a fixed set of sentences."""
    reason = parse_date(text, order).reason
    assert reason is None or reason in REASONS
    for text, order, _ in REJECTED:
        assert parse_date(text, order).reason in REASONS


def test_unknown_date_order_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="date_order"):
        parse_date("2019-03-05", "DDMMYY")


# --- properties ----------------------------------------------------------------------------


def _styles(d: dt.date, precision: str) -> list[tuple[str, str]]:
    """(text, date_order) renderings of ``d`` at ``precision`` in every site style."""
    y, m, day, mon = d.year, d.month, d.day, MON[d.month]
    if precision == "day":
        return [
            (f"{y:04d}-{m:02d}-{day:02d}", "YMD"),
            (f"{y}-{m}-{day}", "DMY"),
            (f"{y}/{m:02d}/{day:02d}", "MDY"),
            (f"{day:02d}/{m:02d}/{y}", "DMY"),
            (f"{day}.{m}.{y}", "DMY"),
            (f"{m:02d}/{day:02d}/{y}", "MDY"),
            (f"{y}年{m}月{day}日", "YMD"),
            (f"{day:02d}-{mon}-{y}", "DMY"),
            (f"{day}-{mon.title()}-{y}", "YMD"),
            (f"{day:02d}{mon}{y}", "DMY"),
        ]
    if precision == "month":
        return [
            (f"{y:04d}-{m:02d}", "YMD"),
            (f"{y:04d}-{m:02d}-UN", "YMD"),
            (f"UN/{m:02d}/{y}", "DMY"),
            (f"{m:02d}/{y}", "DMY"),
            (f"{m:02d}/UNK/{y}", "MDY"),
            (f"{y}年{m}月", "YMD"),
            (f"UN-{mon}-{y}", "DMY"),
            (f"UNK-{mon}-{y}", "YMD"),
            (f"UNKN-{mon}-{y}", "DMY"),
            (f"{mon}-{y}", "MDY"),
        ]
    return [
        (f"{y:04d}", "YMD"),
        (f"UN/UN/{y}", "DMY"),
        (f"{y}年", "YMD"),
        (f"UN-UNK-{y}", "DMY"),
        (f"UNK-UNK-{y}", "YMD"),
        (f"UNKN-UNK-{y}", "DMY"),
    ]


def _expected(d: dt.date, precision: str) -> str:
    return {"day": d.isoformat(), "month": d.isoformat()[:7], "year": d.isoformat()[:4]}[precision]


dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31))
precisions = st.sampled_from(["day", "month", "year"])
decorations = st.sampled_from(["plain", "full-width", "padded", "lower"])


def _decorate(text: str, how: str) -> str:
    if how == "full-width":
        return text.translate(FULL_WIDTH)
    if how == "padded":
        return f" \u3000{text}\u00a0 "
    return text.lower() if how == "lower" else text


@SETTINGS
@given(dates, precisions, decorations)
def test_round_trip_through_every_site_style(d: dt.date, precision: str, how: str) -> None:
    for text, order in _styles(d, precision):
        assert parse_date(_decorate(text, how), order) == ParsedDate(_expected(d, precision), None), text


@SETTINGS
@given(st.text(), st.sampled_from(DATE_ORDERS))
def test_any_text_parses_to_a_valid_iso_date_or_gives_a_reason(text: str, order: str) -> None:
    iso, reason = parse_date(text, order)
    if iso is None:
        assert reason or not text.strip() or parse_date(text.strip(), order) == ParsedDate(None, None)
        return
    assert reason is None and ISO.match(iso)
    y, *rest = map(int, iso.split("-"))
    assert 1900 <= y <= 2099
    dt.date(y, *(rest + [1] * (2 - len(rest))))  # a real calendar date


date_like = st.from_regex(
    r"\A\s?(\d{1,4}|UNK?N?|[A-Za-z]{3})[-/. ]?(\d{1,2}|UNK?N?|[A-Za-z]{3,5})?[-/. ]?(\d{1,4}|UN)?\s?\Z", fullmatch=True
)


@SETTINGS
@given(date_like, st.sampled_from(DATE_ORDERS))
def test_date_like_text_never_crashes_and_never_invents_digits(text: str, order: str) -> None:
    iso, reason = parse_date(text, order)
    assert (iso is None) or (reason is None)
    if iso is not None:
        numbers = {int(n) for n in re.findall(r"\d+", text)}
        y, *rest = map(int, iso.split("-"))
        assert y in numbers
        if len(rest) == 2:  # the day is always one of the numbers written
            assert rest[1] in numbers


@SETTINGS
@given(st.integers(0, 99), st.integers(0, 99), st.integers(1900, 2099))
def test_all_numeric_dates_follow_the_site_order_exactly(a: int, b: int, y: int) -> None:
    text = f"{a:02d}/{b:02d}/{y}"

    def valid(month: int, day: int) -> bool:
        return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(y, month)[1]

    dmy = parse_date(text, "DMY")
    assert dmy.iso == (f"{y}-{b:02d}-{a:02d}" if valid(b, a) else None)
    mdy = parse_date(text, "MDY")
    assert mdy.iso == (f"{y}-{a:02d}-{b:02d}" if valid(a, b) else None)
    assert parse_date(text, "YMD").iso is None  # the site's convention does not settle it


@st.composite
def impossible_dates(draw: st.DrawFn) -> tuple[int, int, int]:
    y = draw(st.integers(1900, 2099))
    if draw(st.booleans()):
        m = draw(st.integers(1, 12))
        d = draw(st.one_of(st.just(0), st.integers(calendar.monthrange(y, m)[1] + 1, 99)))
    else:
        m, d = draw(st.one_of(st.just(0), st.integers(13, 99))), draw(st.integers(1, 28))
    return y, m, d


@SETTINGS
@given(impossible_dates())
def test_impossible_dates_are_always_rejected(ymd: tuple[int, int, int]) -> None:
    y, m, d = ymd
    styles = [
        (f"{y}-{m:02d}-{d:02d}", "YMD"),
        (f"{d:02d}/{m:02d}/{y}", "DMY"),
        (f"{m:02d}/{d:02d}/{y}", "MDY"),
        (f"{y}年{m}月{d}日", "YMD"),
    ]
    if 1 <= m <= 12:
        styles.append((f"{d:02d}-{MON[m]}-{y}", "DMY"))
    for text, order in styles:
        iso, reason = parse_date(text, order)
        assert iso is None and reason, text
        assert parse_date(text.translate(FULL_WIDTH), order).iso is None


values = st.lists(
    st.one_of(st.none(), st.text(max_size=12), date_like, st.sampled_from(["2019-03-05", "05/03/2019"])), max_size=30
)


@SETTINGS
@given(values, st.sampled_from(DATE_ORDERS))
def test_vectorised_equals_scalar(vals: list[str | None], order: str) -> None:
    s = pd.Series(vals, index=np.arange(len(vals)) * 3, dtype=object)
    iso, reason = to_iso8601(s, order)
    assert iso.index.equals(s.index) and reason.index.equals(s.index)
    expected = [parse_date(v, order) for v in vals]
    assert listed(iso) == [e.iso for e in expected]
    assert listed(reason) == [e.reason for e in expected]


def test_vectorised_handles_empty_and_string_dtype() -> None:
    iso, reason = to_iso8601(pd.Series([], dtype=object), "DMY")
    assert iso.empty and reason.empty
    iso, reason = to_iso8601(pd.Series(["05/03/2019", pd.NA], dtype="string"), "DMY")
    assert listed(iso) == ["2019-03-05", None] and listed(reason) == [None, None]


# --- helpers for the SDTM/ADaM layers ---------------------------------------------------------


def test_iso_precision() -> None:
    assert [iso_precision(v) for v in ["2019", "2019-03", "2019-03-05", "2019-03-05T10:00", None, "05/03/2019"]] == [
        "year",
        "month",
        "day",
        "day",
        None,
        None,
    ]
    s = pd.Series(["2019", None, "2019-03-05", "2019-03"], index=[5, 6, 7, 8])
    assert listed(iso_precision(s)) == ["year", None, "day", "month"]
    assert iso_precision(s).index.tolist() == [5, 6, 7, 8]


def test_study_day_has_no_day_zero_and_ignores_partial_dates() -> None:
    dtc = pd.Series(["2019-03-05", "2019-03-06", "2019-03-04", "2019-02-05", "2019-03", None, "2019-03-05"])
    ref = pd.Series(["2019-03-05"] * 6 + ["2019"])
    assert study_day(dtc, ref).tolist()[:4] == [1.0, 2.0, -1.0, -28.0]
    assert study_day(dtc, ref).iloc[4:].isna().all()
    assert study_day(dtc, ref).dtype == "float64"


@SETTINGS
@given(dates, dates)
def test_study_day_property(d: dt.date, ref: dt.date) -> None:
    dy = study_day(pd.Series([d.isoformat()]), pd.Series([ref.isoformat()])).iloc[0]
    delta = (d - ref).days
    assert dy == (delta + 1 if delta >= 0 else delta) and dy != 0


# --- complete_date parses each distinct value once; the result is the per-value parse ----------------------

_DTC = st.one_of(
    st.none(),
    st.sampled_from(["2019-03-05", "2019-03", "2019", "2019-02-30", "2020-02-29T10:15", "", "UNK", "2019-03-05T"]),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)).map(lambda d: d.isoformat()),
)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(_DTC, max_size=30))
def test_complete_date_equals_the_parse_of_each_value(values) -> None:
    s = pd.Series(values, dtype=object, name="AESTDTC")
    got = dates_module.complete_date(s)
    one_by_one = [dates_module._complete_date(pd.Series([v], dtype=object)).iloc[0] for v in values]
    assert got.name == "AESTDTC" and str(got.dtype) == "datetime64[ns]"
    assert [None if pd.isna(x) else x for x in got] == [None if pd.isna(x) else x for x in one_by_one]


def test_complete_date_of_known_values() -> None:
    s = pd.Series(["2019-03-05", "2019-03", None, "2019-02-30", "2019-03-05T08:00", "2019-03-05"], index=[5, 6, 7, 8, 9, 10])
    got = dates_module.complete_date(s)
    assert list(got.index) == [5, 6, 7, 8, 9, 10]
    assert [None if pd.isna(x) else x.date().isoformat() for x in got] == [
        "2019-03-05",
        None,
        None,
        None,
        "2019-03-05",
        "2019-03-05",
    ]
