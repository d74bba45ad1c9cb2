"""RELREC — the dataset-level relationship of TU lesions to their TR measurements (specs/sdtm/relrec.yaml).

RELID TUTR: TU by TULNKID (RELTYPE ONE) relates to TR by TRLNKID (RELTYPE MANY); USUBJID and
IDVARVAL are null, as SDTMIG 3.4 describes a dataset-level relationship. The relationship is
submitted only when both datasets have records (nothing to relate otherwise).
"""

from __future__ import annotations

import pandas as pd

from pipeline.sdtm.common import DomainResult, build_result
from pipeline.specs.study import load_study

DOMAIN = "RELREC"
INPUTS = {"tu": ["sdtm", "tu"], "tr": ["sdtm", "tr"]}

RELATIONSHIPS = [
    # RDOMAIN, IDVAR, RELTYPE, RELID
    ("TU", "TULNKID", "ONE", "TUTR"),
    ("TR", "TRLNKID", "MANY", "TUTR"),
]


def build(tu: DomainResult, tr: DomainResult) -> DomainResult:
    """Two records (TU ONE, TR MANY) when TU and TR both have records; else an empty RELREC."""
    rows = RELATIONSHIPS if len(tu.data) and len(tr.data) else []
    out = pd.DataFrame(rows, columns=["RDOMAIN", "IDVAR", "RELTYPE", "RELID"])
    out.insert(0, "STUDYID", load_study().studyid)
    out["USUBJID"] = None
    out["IDVARVAL"] = None
    return build_result(out, "relrec", derived=True)  # a dataset-level relationship: no raw row
