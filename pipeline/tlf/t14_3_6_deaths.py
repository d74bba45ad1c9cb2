"""Table 14.3.6: deaths (safety set)."""

from __future__ import annotations

import pandas as pd

from pipeline.tlf.display import Grid, Table
from pipeline.tlf.safety import n_pct

ID = "t14_3_6_deaths"


def build(ard: pd.DataFrame) -> Table:
    """Deaths of any cause during the study, and TEAEs with a fatal outcome, n (%)."""
    g = Grid(ard, "AN_SAF_N", "Subjects, n (%)")
    g.row("Deaths (any cause)", n_pct(g, "AN_DEATHS"))
    g.row("TEAE with a fatal outcome (CTCAE grade 5)", n_pct(g, "AN_TEAE_OVERVIEW", "Any TEAE with a fatal outcome"))
    return g.table(ID)
