"""Partial-date imputation, worked out by hand."""

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.columns import TEXT
from pipeline.imputation import _parts, impute_date, possible_range, to_sas_date

D = pd.Timestamp


def run(values, **kw):
    dt, fl = impute_date(pd.Series(values, dtype="object"), **kw)
    return list(dt), list(fl)


def test_first_and_last():
    dts, fls = run(["2019-03-05", "2019-03", "2019", None], mode="first")
    assert dts[:3] == [D("2019-03-05"), D("2019-03-01"), D("2019-01-01")] and pd.isna(dts[3])
    assert fls == [None, "D", "M", None]
    dts, _ = run(["2019-02", "2020-02", "2019"], mode="last")
    assert dts == [D("2019-02-28"), D("2020-02-29"), D("2019-12-31")]


def test_possible_range_of_partial_dates_at_their_edges():
    # The one rule of partial-date bounds (SDTM death/contact checks and ADaM imputation alike).
    values = pd.Series(["2019-02", "2020-02", "2019-12", "2020", "2019-03-05", "2019-02-30", "2019-13", None, "2019-03-05T10:00"])
    lo, hi = possible_range(values)
    day = lambda s: [None if pd.isna(x) else x.strftime("%Y-%m-%d") for x in s]  # noqa: E731
    assert day(lo) == ["2019-02-01", "2020-02-01", "2019-12-01", "2020-01-01", "2019-03-05", None, None, None, "2019-03-05"]
    assert day(hi) == ["2019-02-28", "2020-02-29", "2019-12-31", "2020-12-31", "2019-03-05", None, None, None, "2019-03-05"]
    assert list(lo.index) == list(values.index) and str(lo.dtype) == "datetime64[ns]"


def test_min_date_used_only_inside_the_possible_range():
    # First dose 2019-03-12: an AE starting "2019-03" is imputed to the first dose date,
    # an AE starting "2019-02" keeps 2019-02-01 (the first dose is outside February).
    first_dose = pd.Series([D("2019-03-12"), D("2019-03-12"), D("2019-03-12")])
    dts, fls = run(["2019-03", "2019-02", "2019"], mode="first", min_dates=first_dose)
    assert dts == [D("2019-03-12"), D("2019-02-01"), D("2019-03-12")]
    assert fls == ["D", "D", "M"]


def test_max_date_caps_a_last_imputation():
    death = pd.Series([D("2021-06-10")])
    dts, _ = run(["2021-06"], mode="last", max_dates=death)
    assert dts == [D("2021-06-10")]


def test_sas_date():
    assert list(to_sas_date(pd.Series([D("1960-01-01"), D("2019-03-05"), pd.NaT]))[:2]) == [0.0, 21613.0]


@settings(deadline=None)  # speed is never asserted (the shared machine's load varies)
@given(st.lists(st.one_of(st.none(), st.text(alphabet="0123456789-T:", max_size=16)), max_size=30))
def test_date_parts_once_per_distinct_value_equal_the_regex_on_every_value(values):
    import re

    dtc = pd.Series(values, dtype=TEXT)
    parts = _parts(dtc)
    rx = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")
    for i, v in enumerate(values):
        m = rx.match(v[:10]) if isinstance(v, str) else None
        expected = list(m.groups()) if m else [None, None, None]
        got = [None if pd.isna(x) else x for x in parts.iloc[i]]
        assert got == expected, v
