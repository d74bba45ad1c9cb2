"""How the study prints a number: one function per kind of value, one rounding convention each.

The single source of the conventions for the report displays (pipeline/tlf), the endpoint table
(pipeline/analysis/display.py) and the ARS formatted values: counts are integers; percentages of
subjects one decimal; Kaplan-Meier rates and cumulative incidences as per cent with one decimal;
medians in months one decimal; hazard ratios two decimals; p-values three decimals, ``<0.001``
below 0.0005 and ``>0.999`` from 0.9995; means and medians one decimal, SDs two; doses in mg as
integers with thousands separators. A missing value prints as ``NE`` (not estimable) inside an
estimate, or blank. Values are rounded half away from zero (as tables are rounded by hand, and as
SAS does), on the value's shortest decimal representation, never half to even.
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
    if x is None or _missing(x):
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
    """Three decimals; ``<0.001`` below 0.0005 (what would print 0.000), ``>0.999`` from 0.9995 (1.000)."""
    if p is None or _missing(p):
        return NE
    if p < 0.0005:
        return "<0.001"
    return ">0.999" if p >= 0.9995 else rnd(p, 3)


def rate(x: float | None) -> str:
    """A Kaplan-Meier rate or cumulative incidence (a proportion) as per cent, one decimal: 0.4791 -> 47.9."""
    return "" if x is None or _missing(x) else rnd(100.0 * float(x), 1)


def rate_ci(est: float | None, lcl: float | None, ucl: float | None) -> str:
    """``47.9 (36.3, 58.6)``: a rate and its 95% CI as per cent."""
    scale = lambda v: None if _missing(v) else 100.0 * float(v)  # noqa: E731
    return est_ci(scale(est), scale(lcl), scale(ucl), 1)


def hr_ci(est: float | None, lcl: float | None, ucl: float | None) -> str:
    """``0.67 (0.46, 0.96)``: a hazard ratio and its 95% CI, two decimals."""
    return est_ci(est, lcl, ucl, 2)


def mg(x: float | None) -> str:
    """A dose in mg: an integer with thousands separators (110,800)."""
    return rnd(x, 0, thousands=True)


def header(label: str, n: float | None) -> str:
    """A column header: ``Sorafenib (N=79)``."""
    return f"{label} (N={rnd(n, 0)})"
