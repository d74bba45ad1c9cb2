"""Table 14.3.7: exposure to sorafenib (safety set)."""

from __future__ import annotations

import pandas as pd

from pipeline.tlf.display import Grid, Table

ID = "t14_3_7_exposure"

# (analysis, label, decimals of mean/median, thousands separators)
BLOCKS = [
    ("AN_EX_TRTDURD", "Treatment duration (days)", 1, True),
    ("AN_EX_TDOSE", "Total dose (mg)", 0, True),
    ("AN_EX_AVGDD", "Average daily dose (mg/day)", 1, False),
    ("AN_EX_RDI", "Relative dose intensity (%)", 1, False),
    ("AN_EX_PCTPDOSE", "Percent of the planned total dose (%)", 1, False),
]


def build(ard: pd.DataFrame) -> Table:
    """n, mean (SD), median, min-max of duration, total dose, average daily dose and dose intensity."""
    g = Grid(ard, "AN_SAF_N", "Exposure")
    for analysis, label, dp, thousands in BLOCKS:
        g.continuous(analysis, label, dp, thousands)
    return g.table(ID)
