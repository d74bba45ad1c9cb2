"""Table 14.1.2: demographics and baseline characteristics (full analysis set, by planned group)."""

from __future__ import annotations

import pandas as pd

from pipeline.tlf.display import Grid, Table

ID = "t14_1_2_demog"

# (analysis, row label, decimals of mean/median) in print order; None decimals: a categorical block
BLOCKS = [
    ("AN_AGE", "Age (years)", 1),
    ("AN_AGEGR1", "Age group, n (%)", None),
    ("AN_SEX", "Sex, n (%)", None),
    ("AN_RACE", "Race, n (%)", None),
    ("AN_ETHNIC", "Ethnicity, n (%)", None),
    ("AN_ECOG", "ECOG performance status, n (%)", None),
    ("AN_BCLC", "BCLC stage, n (%)", None),
    ("AN_TUMSZ", "Largest tumour diameter (cm)", 1),
    ("AN_TUMSZGR1", "Largest tumour diameter, n (%)", None),
    ("AN_TUMNUMGR", "Number of tumours, n (%)", None),
    ("AN_EDMGR1", "Edmondson grade, n (%)", None),
    ("AN_AFPGR1", "Alpha-fetoprotein (ng/mL), n (%)", None),
    ("AN_HBSAG", "HBsAg, n (%)", None),
    ("AN_CIRRH", "Cirrhosis, n (%)", None),
]


def build(ard: pd.DataFrame) -> Table:
    """n, mean (SD), median, min-max of continuous characteristics; n (%) of categorical ones."""
    g = Grid(ard, "AN_FAS_N", "Characteristic")
    for analysis, label, dp in BLOCKS:
        if dp is None:
            g.categorical(analysis, label)
        else:
            g.continuous(analysis, label, dp)
    return g.table(ID)
