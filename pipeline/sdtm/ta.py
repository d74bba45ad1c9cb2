"""TA — Trial Arms: one record per planned element per arm, from ``specs/trial/ta.csv``.

ARM is the arm name of ``specs/trial/study.yaml`` and ELEMENT the element name of
``specs/trial/te.csv``: each fact is written once. An arm or element code the other files
do not know is a specification error and raises ``ValueError``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.sdtm.common import DomainResult, build_result, spec_lineage
from pipeline.specs.paths import SPECS_DIR
from pipeline.specs.study import load_study

DOMAIN = "TA"
INPUTS: dict[str, list[str]] = {}
TA_FILE = "specs/trial/ta.csv"


def _read(name: str) -> pd.DataFrame:
    rows = pd.read_csv(SPECS_DIR / "trial" / name, dtype=str, keep_default_na=False)
    rows["_row"] = np.arange(2, len(rows) + 2)
    return rows


def build() -> DomainResult:
    """TA from specs/trial/ta.csv, arm names from study.yaml, element names from te.csv."""
    study = load_study()
    ta = _read("ta.csv")
    elements = _read("te.csv").set_index("ETCD")["ELEMENT"]
    arms = pd.Series({a.armcd: a.arm for a in study.arms}, dtype=object)
    for col, known, source in (("ARMCD", arms, "study.yaml arms"), ("ETCD", elements, "specs/trial/te.csv")):
        bad = ~ta[col].isin(known.index)
        if bad.any():
            raise ValueError(f"{TA_FILE}: {col} {sorted(set(ta.loc[bad, col]))} not in {source}")

    out = pd.DataFrame(index=ta.index)
    out["STUDYID"] = study.studyid
    out["DOMAIN"] = "TA"
    out["ARMCD"] = ta["ARMCD"]
    out["ARM"] = ta["ARMCD"].map(arms)
    out["TAETORD"] = pd.to_numeric(ta["TAETORD"], errors="raise")
    out["ETCD"] = ta["ETCD"]
    out["ELEMENT"] = ta["ETCD"].map(elements)
    out["TABRANCH"] = ta["TABRANCH"]
    out["TATRANS"] = ta["TATRANS"]
    out["EPOCH"] = ta["EPOCH"]
    spec_lineage(out, TA_FILE, ta["_row"])
    return build_result(out, "ta")
