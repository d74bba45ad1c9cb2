"""Table 14.2.3: overall survival (full analysis set)."""

from __future__ import annotations

import pandas as pd

from pipeline.tlf import efficacy as e
from pipeline.tlf.display import Grid, Table

ID = "t14_2_3_os"


def build(ard: pd.DataFrame) -> Table:
    """Deaths, KM OS rates (3 and 5 years are the protocol's), log-rank p, Cox HRs."""
    g = Grid(ard, "AN_FAS_N", "Overall survival")
    e.events(g, "AN_OS_EV", "Subjects, n (%)")
    e.landmarks(g, "AN_OS_KM", "Kaplan-Meier OS rate, % (95% CI)")
    e.comparison(g, "AN_OS_LR", "Log-rank p-value (two-sided)", op="p")
    e.comparison(g, "AN_OS_HR", "Hazard ratio, sorafenib vs control (95% CI)")
    e.comparison(g, "AN_OS_HRADJ", "Adjusted hazard ratio (95% CI)")
    return g.table(ID)
