"""The rows the adverse-event tables (14.3.x) share."""

from __future__ import annotations

from pipeline.tlf import fmt
from pipeline.tlf.display import INDENT, Grid

ANY = "ANY"


def n_pct(g: Grid, analysis: str, cat1: str = "", cat2: str = ""):
    return lambda cd: fmt.n_pct(g.v(analysis, "n", cd, cat1, cat2), g.v(analysis, "pct", cd, cat1, cat2))


def soc_pt(g: Grid, analysis: str, any_label: str) -> None:
    """'Any' row, then each SOC with its PTs indented (alphabetical, as the ARD holds them)."""
    g.row(any_label, n_pct(g, analysis, ANY))
    a = g.ard[g.ard["ANALYSIS_ID"].eq(analysis) & g.ard["OPERATION_ID"].eq("n") & g.ard["CAT1"].ne(ANY)]
    pairs = list(dict.fromkeys(zip(a["CAT1"], a["CAT2"], strict=True)))
    for soc, pt in pairs:
        g.row(soc if not pt else INDENT + pt, n_pct(g, analysis, soc, pt))
