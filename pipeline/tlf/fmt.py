"""How the report prints a number: one function per kind of cell, one rounding convention each.

Counts are integers; percentages one decimal; means and medians one decimal more than the data
(here: one), SDs two; survival probabilities, cumulative incidences and hazard ratios three
decimals; p-values three decimals, ``<0.001`` below; doses and durations with thousands
separators. A missing value prints as ``NE`` (not estimable) inside an estimate, or blank.
Values are rounded half away from zero, as SAS does, not to even.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

NE = "NE"


def _missing(x: float | None) -> bool:
    """None, NaN and infinite values (an unbounded confidence limit) print as not estimable."""
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def rnd(x: float | None, dp: int, thousands: bool = False) -> str:
    """``x`` rounded half away from zero to ``dp`` decimals ('' when missing)."""
    if _missing(x):
        return ""
    q = Decimal(1).scaleb(-dp)
    d = Decimal(repr(float(x))).quantize(q, rounding=ROUND_HALF_UP)
    if d == 0:
        d = abs(d)  # no "-0.0"
    return f"{d:,.{dp}f}" if thousands else f"{d:.{dp}f}"


def count(n: float | None) -> str:
    return rnd(n, 0)


def n_pct(n: float | None, pct: float | None) -> str:
    """``12 (15.2)``; ``0`` without a percentage."""
    if _missing(n):
        return ""
    if n == 0:
        return "0"
    return f"{rnd(n, 0)} ({rnd(pct, 1)})"


def mean_sd(mean: float | None, sd: float | None, dp: int = 1, thousands: bool = False) -> str:
    if _missing(mean):
        return ""
    return f"{rnd(mean, dp, thousands)} ({rnd(sd, dp + 1, thousands) if not _missing(sd) else NE})"


def median(x: float | None, dp: int = 1, thousands: bool = False) -> str:
    return rnd(x, dp, thousands)


def min_max(lo: float | None, hi: float | None, dp: int = 0, thousands: bool = False) -> str:
    if _missing(lo):
        return ""
    return f"{rnd(lo, dp, thousands)}, {rnd(hi, dp, thousands)}"


def est_ci(est: float | None, lcl: float | None, ucl: float | None, dp: int = 3) -> str:
    """``0.479 (0.363, 0.586)``; NE for a bound or estimate that could not be estimated."""
    if _missing(est) and _missing(lcl) and _missing(ucl):
        return NE
    f = lambda v: NE if _missing(v) else rnd(v, dp)  # noqa: E731
    return f"{f(est)} ({f(lcl)}, {f(ucl)})"


def pvalue(p: float | None) -> str:
    if _missing(p):
        return NE
    return "<0.001" if p < 0.0005 else rnd(p, 3)


def header(label: str, n: float | None) -> str:
    """A column header: ``Sorafenib (N=79)``."""
    return f"{label} (N={rnd(n, 0)})"
