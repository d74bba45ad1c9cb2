"""TV — Trial Visits: one record per planned visit, from ``specs/trial/tv.csv`` (rules in specs/sdtm/tv.yaml).

The schedule is the same in both arms, so ARMCD is null (SDTMIG 3.4 TV). The same file gives
every Findings record its VISITNUM/VISIT (``pipeline/sdtm/visits.assign_visits``).
"""

from __future__ import annotations

import pandas as pd

from pipeline.sdtm.common import DomainResult, build_result, spec_lineage
from pipeline.sdtm.visits import TV_FILE, schedule
from pipeline.specs.study import load_study

DOMAIN = "TV"
INPUTS: dict[str, list[str]] = {}


def build() -> DomainResult:
    """TV from specs/trial/tv.csv, sorted by VISITNUM."""
    tv = schedule()
    out = pd.DataFrame(index=tv.index)
    out["STUDYID"] = load_study().studyid
    out["DOMAIN"] = "TV"
    for col in ("VISITNUM", "VISIT", "VISITDY", "TVSTRL", "TVENRL"):
        out[col] = tv[col]
    out["ARMCD"] = None
    spec_lineage(out, TV_FILE, tv["_row"])
    return build_result(out, "tv")
