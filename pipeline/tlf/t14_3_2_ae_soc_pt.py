"""Table 14.3.2: TEAEs by MedDRA system organ class and preferred term (safety set)."""

from __future__ import annotations

import pandas as pd

from pipeline.tlf.display import Grid, Table
from pipeline.tlf.safety import soc_pt

ID = "t14_3_2_ae_soc_pt"


def build(ard: pd.DataFrame) -> Table:
    """Subjects with at least one TEAE, by SOC and PT, n (%)."""
    g = Grid(ard, "AN_SAF_N", "System organ class / Preferred term")
    soc_pt(g, "AN_TEAE_SOCPT", "Subjects with any TEAE")
    return g.table(ID, widths=(4.0, 1.6, 1.6))
