"""``listed(s)``: a Series' values as a list with every missing value as None.

Text columns are pandas' Arrow-backed ``str`` dtype, whose missing value is NaN; NaN never
equals NaN, so tests compare values through this.
"""

from __future__ import annotations

import pandas as pd


def listed(s: pd.Series) -> list:
    return s.astype(object).where(s.notna(), None).tolist()
