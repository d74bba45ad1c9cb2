"""Small vectorised helpers shared by the generator modules: dates as day numbers, draws."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

DAYS_PER_MONTH = 30.4375
EPOCH = dt.date(1970, 1, 1)
NA = -(2**31)  # missing day number (int64 arrays)


def day(iso: str) -> int:
    """ISO date text -> day number (days since 1970-01-01)."""
    return (dt.date.fromisoformat(iso) - EPOCH).days


def to_date64(days: np.ndarray) -> np.ndarray:
    """Day numbers -> numpy datetime64[D] (missing -> NaT)."""
    d = np.asarray(days, dtype="int64")
    out = d.astype("datetime64[D]")
    out[d == NA] = np.datetime64("NaT")
    return out


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Day numbers -> (year, month, day) integer arrays (garbage where missing)."""
    d64 = np.asarray(days, dtype="int64").astype("datetime64[D]")
    y = d64.astype("datetime64[Y]").astype(int) + 1970
    m = d64.astype("datetime64[M]").astype(int) % 12 + 1
    dd = (d64 - d64.astype("datetime64[M]")).astype(int) + 1
    return y, m, dd


def iso(days: np.ndarray) -> np.ndarray:
    """Day numbers -> ISO text (missing -> '')."""
    d = np.asarray(days, dtype="int64")
    out = np.datetime_as_string(d.astype("datetime64[D]"), unit="D").astype(object)
    out[d == NA] = ""
    return out


def months_to_days(m: np.ndarray) -> np.ndarray:
    """Months (float, may be inf) -> whole days (int64; inf -> a very large number)."""
    m = np.asarray(m, dtype=float)
    big = 10**7
    return np.where(np.isfinite(m), np.round(m * DAYS_PER_MONTH), big).astype("int64")


def categorical(rng: np.random.Generator, probs: dict, n: int) -> np.ndarray:
    """Draw ``n`` keys of ``probs`` (a mapping key -> probability) as an object array."""
    keys = list(probs)
    p = np.array([float(probs[k]) for k in keys])
    idx = np.searchsorted(np.cumsum(p / p.sum()), rng.random(n), side="right")
    return np.array(keys, dtype=object)[np.minimum(idx, len(keys) - 1)]


def uniform_int(rng: np.random.Generator, lo, hi, n: int) -> np.ndarray:
    """Integers uniform on [lo, hi] inclusive (lo/hi scalars or arrays)."""
    return np.floor(rng.random(n) * (np.asarray(hi) - np.asarray(lo) + 1)).astype("int64") + lo


def uniform_in(rng: np.random.Generator, bounds: Sequence[int], n: int) -> np.ndarray:
    """Integers uniform on the inclusive ``[lo, hi]`` of a calibration pair."""
    lo, hi = bounds
    return uniform_int(rng, lo, hi, n)


def truncnorm(rng: np.random.Generator, mean, sd, lo, hi, n: int) -> np.ndarray:
    """Normal draws truncated to [lo, hi] by inverse-CDF (exact, vectorised)."""
    from scipy.special import ndtr, ndtri  # much lighter to import than scipy.stats

    a, b = ndtr((lo - mean) / sd), ndtr((hi - mean) / sd)
    u = a + rng.random(n) * (b - a)
    return mean + sd * ndtri(u)
