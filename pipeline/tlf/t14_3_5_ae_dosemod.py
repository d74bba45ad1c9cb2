"""Table 14.3.5: TEAEs leading to dose reduction, interruption or discontinuation (safety set)."""

from __future__ import annotations

import pandas as pd

from pipeline.tlf.display import Grid, Table
from pipeline.tlf.safety import n_pct, soc_pt

ID = "t14_3_5_ae_dosemod"
ACTIONS = (
    "Any TEAE leading to dose reduction",
    "Any TEAE leading to dose interruption",
    "Any TEAE leading to discontinuation of sorafenib",
)


def build(ard: pd.DataFrame) -> Table:
    """Subjects by action taken (reduction, interruption, discontinuation), then by SOC and PT, n (%)."""
    g = Grid(ard, "AN_SAF_N", "Action / System organ class / Preferred term")
    for action in ACTIONS:
        g.row(action.replace("Any TEAE leading to ", "Subjects with a TEAE leading to "), n_pct(g, "AN_TEAE_OVERVIEW", action))
    soc_pt(g, "AN_TEAE_DOSMOD", "Subjects with a TEAE leading to any dose modification")
    return g.table(ID, widths=(4.0, 1.6, 1.6))
