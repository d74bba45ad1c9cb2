"""Table 14.3.1: overview of treatment-emergent adverse events (safety set, by treatment received)."""

from __future__ import annotations

import pandas as pd

from pipeline.tlf.display import Grid, Table
from pipeline.tlf.safety import n_pct

ID = "t14_3_1_ae_overview"


def build(ard: pd.DataFrame) -> Table:
    """Subjects with at least one TEAE of each overview category, n (%)."""
    g = Grid(ard, "AN_SAF_N", "Subjects with, n (%)")
    for cat in g.levels("AN_TEAE_OVERVIEW"):
        g.row(cat, n_pct(g, "AN_TEAE_OVERVIEW", cat))
    g.row("Deaths (any cause)", n_pct(g, "AN_DEATHS"))
    return g.table(ID)
