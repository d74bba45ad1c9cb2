"""The rows the three time-to-event tables (14.2.1-14.2.3) share."""

from __future__ import annotations

from pipeline.tlf import fmt
from pipeline.tlf.display import INDENT, Grid

COMPARISON = "SORAFENIB vs CONTROL"


def timepoints(g: Grid, analysis: str) -> list[str]:
    a = g.ard[g.ard["ANALYSIS_ID"].eq(analysis)]
    return list(dict.fromkeys(a["TIMEPOINT"]))


def events(g: Grid, analysis: str, label: str) -> None:
    g.section(label)
    for lev in g.levels(analysis):
        g.row(INDENT + lev, lambda cd, lev=lev: fmt.n_pct(g.v(analysis, "n", cd, lev), g.v(analysis, "pct", cd, lev)))


def landmarks(g: Grid, analysis: str, label: str) -> None:
    """Rate (95% CI) and number at risk at each landmark."""
    g.section(label)
    for tp in timepoints(g, analysis):
        years = tp.replace(" y", "")
        g.row(
            f"{INDENT}{years} year{'s' if years != '1' else ''}",
            lambda cd, tp=tp: fmt.rate_ci(
                g.v(analysis, "est", cd, tp=tp), g.v(analysis, "lcl", cd, tp=tp), g.v(analysis, "ucl", cd, tp=tp)
            ),
        )
        g.row(f"{INDENT}{INDENT}Number at risk", lambda cd, tp=tp: fmt.count(g.v(analysis, "n_at_risk", cd, tp=tp)))


def median(g: Grid, analysis: str, label: str) -> None:
    g.row(label, lambda cd: fmt.est_ci(g.v(analysis, "est", cd), g.v(analysis, "lcl", cd), g.v(analysis, "ucl", cd), 1))


def comparison(g: Grid, analysis: str, label: str, op: str = "est") -> None:
    """A sorafenib-vs-control statistic, printed in the first arm's column."""
    first = g.arms[0][0]

    def cell(cd: str) -> str:
        if cd != first:
            return ""
        if op == "p":
            return fmt.pvalue(g.v(analysis, "p", COMPARISON))
        return fmt.hr_ci(g.v(analysis, "est", COMPARISON), g.v(analysis, "lcl", COMPARISON), g.v(analysis, "ucl", COMPARISON))

    g.row(label, cell)
