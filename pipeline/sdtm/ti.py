"""TI — Trial Inclusion/Exclusion Criteria: one record per criterion, from ``specs/trial/criteria.csv``.

The same file is the codelist of IE.IETESTCD and gives IE its texts, so TI and IE cannot
disagree. Every text fits in IETEST's 200 characters (TIRL not needed); one protocol
version, so TIVERS is not submitted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.sdtm.common import DomainResult, build_result, spec_lineage
from pipeline.specs.paths import SPECS_DIR
from pipeline.specs.study import load_study

DOMAIN = "TI"
INPUTS: dict[str, list[str]] = {}
TI_FILE = "specs/trial/criteria.csv"


def build() -> DomainResult:
    """TI from specs/trial/criteria.csv, sorted by category then code."""
    crit = pd.read_csv(SPECS_DIR / "trial" / "criteria.csv", dtype=str, keep_default_na=False)
    out = pd.DataFrame(index=crit.index)
    out["STUDYID"] = load_study().studyid
    out["DOMAIN"] = "TI"
    for col in ("IETESTCD", "IETEST", "IECAT"):
        out[col] = crit[col]
    spec_lineage(out, TI_FILE, np.arange(2, len(crit) + 2))
    return build_result(out, "ti")
