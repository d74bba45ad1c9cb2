"""Table 14.2.2: time to recurrence and the recurrence rate (full analysis set)."""

from __future__ import annotations

import pandas as pd

from pipeline.tlf import efficacy as e
from pipeline.tlf import fmt
from pipeline.tlf.display import INDENT, Grid, Table

ID = "t14_2_2_ttr"


def build(ard: pd.DataFrame) -> Table:
    """Events, median TTR, Aalen-Johansen cumulative incidence of recurrence, log-rank p, Cox HR."""
    g = Grid(ard, "AN_FAS_N", "Time to recurrence")
    e.events(g, "AN_TTR_EV", "Subjects, n (%)")
    e.median(g, "AN_TTR_MED", "Median time to recurrence, months (95% CI)")
    g.section("Cumulative incidence of recurrence, % (95% CI)")
    for tp in e.timepoints(g, "AN_TTR_CIF"):
        years = tp.replace(" y", "")
        g.row(
            f"{INDENT}{years} years",
            lambda cd, tp=tp: fmt.rate_ci(
                g.v("AN_TTR_CIF", "est", cd, tp=tp), g.v("AN_TTR_CIF", "lcl", cd, tp=tp), g.v("AN_TTR_CIF", "ucl", cd, tp=tp)
            ),
        )
    e.comparison(g, "AN_TTR_LR", "Log-rank p-value (two-sided)", op="p")
    e.comparison(g, "AN_TTR_HR", "Hazard ratio, sorafenib vs control (95% CI)")
    return g.table(ID)
