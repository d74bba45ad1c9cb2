"""TE — Trial Elements: one record per planned element, from ``specs/trial/te.csv``.

The planned durations depend on events (start of sorafenib within 4 weeks, 2 years of
treatment or an earlier end), so they live in the start and end rules; TEDUR is not submitted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.sdtm.common import DomainResult, build_result, spec_lineage
from pipeline.specs.paths import SPECS_DIR
from pipeline.specs.study import load_study

DOMAIN = "TE"
INPUTS: dict[str, list[str]] = {}
TE_FILE = "specs/trial/te.csv"


def build() -> DomainResult:
    """TE from specs/trial/te.csv."""
    te = pd.read_csv(SPECS_DIR / "trial" / "te.csv", dtype=str, keep_default_na=False)
    out = pd.DataFrame(index=te.index)
    out["STUDYID"] = load_study().studyid
    out["DOMAIN"] = "TE"
    for col in ("ETCD", "ELEMENT", "TESTRL", "TEENRL"):
        out[col] = te[col]
    spec_lineage(out, TE_FILE, np.arange(2, len(te) + 2))
    return build_result(out, "te")
