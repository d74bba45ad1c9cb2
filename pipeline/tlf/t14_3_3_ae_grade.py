"""Table 14.3.3: TEAEs by preferred term and worst CTCAE v4.0 grade (safety set)."""

from __future__ import annotations

import pandas as pd

from pipeline.tlf.display import INDENT, Grid, Table
from pipeline.tlf.safety import ANY, n_pct

ID = "t14_3_3_ae_grade"


def build(ard: pd.DataFrame) -> Table:
    """For any TEAE and each PT: subjects by their worst grade (1-5), n (%)."""
    g = Grid(ard, "AN_SAF_N", "Preferred term / worst grade")
    a = ard[ard["ANALYSIS_ID"].eq("AN_TEAE_GRADE") & ard["OPERATION_ID"].eq("n")]
    for pt in dict.fromkeys(a["CAT1"]):
        g.section("Any TEAE" if pt == ANY else pt)
        for grade in dict.fromkeys(a.loc[a["CAT1"].eq(pt), "CAT2"]):
            g.row(INDENT + grade, n_pct(g, "AN_TEAE_GRADE", pt, grade))
    return g.table(ID, widths=(4.0, 1.6, 1.6))
