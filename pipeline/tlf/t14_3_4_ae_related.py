"""Table 14.3.4: treatment-related TEAEs by system organ class and preferred term (safety set)."""

from __future__ import annotations

import pandas as pd

from pipeline.tlf.display import Grid, Table
from pipeline.tlf.safety import soc_pt

ID = "t14_3_4_ae_related"


def build(ard: pd.DataFrame) -> Table:
    """Subjects with a TEAE related to sorafenib (ADAE.RELFL = Y), by SOC and PT, n (%)."""
    g = Grid(ard, "AN_SAF_N", "System organ class / Preferred term")
    soc_pt(g, "AN_TEAE_REL", "Subjects with any treatment-related TEAE")
    return g.table(ID, widths=(4.0, 1.6, 1.6))
