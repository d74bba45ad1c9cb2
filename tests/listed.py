"""``listed(s)``, ``rows(frame)``: values as lists with every missing value as None.

Text columns are pandas' Arrow-backed ``str`` dtype, whose missing value is NaN; NaN never
equals NaN, so tests compare values through this.
"""

from __future__ import annotations

import pandas as pd


def listed(s: pd.Series) -> list:
    return s.astype(object).where(s.notna(), None).tolist()


def rows(frame: pd.DataFrame) -> list[list]:
    """``frame``'s rows as lists, every missing value as None."""
    return frame.astype(object).where(frame.notna(), None).values.tolist()
