"""Table 14.1.1: subject disposition (full analysis set, by planned group)."""

from __future__ import annotations

import pandas as pd

from pipeline.tlf import fmt
from pipeline.tlf.display import Grid, Table

ID = "t14_1_1_disposition"


def build(ard: pd.DataFrame) -> Table:
    """Subjects per analysis set, end-of-study status and reason, end-of-treatment status (n, %)."""
    g = Grid(ard, "AN_FAS_N", "Disposition")
    g.row("Full analysis set", lambda cd: fmt.count(g.v("AN_FAS_N", "n", cd)))
    g.row("Safety set", lambda cd: fmt.count(g.v("AN_SAF_N", "n", cd)))
    g.categorical("AN_EOSSTT", "End of study status, n (%)")
    g.categorical("AN_DCSREAS", "Reason for discontinuation from study, n (%)")
    g.categorical("AN_EOTSTT", "End of sorafenib treatment (safety set), n (%)")
    return g.table(ID)
