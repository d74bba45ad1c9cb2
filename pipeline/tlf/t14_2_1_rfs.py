"""Table 14.2.1: recurrence-free survival, the primary endpoint (full analysis set)."""

from __future__ import annotations

import pandas as pd

from pipeline.tlf import efficacy as e
from pipeline.tlf.display import Grid, Table

ID = "t14_2_1_rfs"


def build(ard: pd.DataFrame) -> Table:
    """Events, KM rates at 1/2/3/5 years (primary: 2 years), median, log-rank p, Cox HRs."""
    g = Grid(ard, "AN_FAS_N", "Recurrence-free survival")
    e.events(g, "AN_RFS_EV", "Subjects with an event, n (%)")
    e.landmarks(g, "AN_RFS_KM", "Kaplan-Meier RFS rate, % (95% CI)")
    e.median(g, "AN_RFS_MED", "Median RFS, months (95% CI)")
    e.comparison(g, "AN_RFS_LR", "Log-rank p-value (two-sided)", op="p")
    e.comparison(g, "AN_RFS_HR", "Hazard ratio, sorafenib vs control (95% CI)")
    e.comparison(g, "AN_RFS_HRADJ", "Adjusted hazard ratio (95% CI)")
    return g.table(ID)
