"""SUPPRS — the collected date of recurrence diagnosis of each RELAPSED DISEASE assessment.

RSDTC dates a recurrence by the assessment that found it; the diagnosis date written on the
CRF (RECURDAT, partial kept) has no RS variable, so it is QNAM = RECURDTC attached by
IDVAR = RSSEQ to that RS record (specs/sdtm/supprs.yaml).
"""

from __future__ import annotations

import pandas as pd

from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result
from pipeline.sdtm.subjects import keep_dm_subjects, with_usubjid
from pipeline.sdtm.supptu import qlabel

DOMAIN = "SUPPRS"
INPUTS = {"ta": ["raw", "ta"], "rs": ["sdtm", "rs"], "dm": ["sdtm", "dm"]}
QNAM = "RECURDTC"


def build(ta: FormExtract, rs: DomainResult, dm: DomainResult) -> DomainResult:
    """One RECURDTC qualifier per RELAPSED DISEASE record whose assessment gave a diagnosis date."""
    raw = with_usubjid(ta.data)
    raw, queries = keep_dm_subjects(raw, dm, "ta")
    raw = raw[raw["RECUR"].eq("Y") & raw["RECURDAT"].notna()]
    relapsed = rs.data.loc[
        rs.data["RSTESTCD"].eq("OVRLRESP") & rs.data["RSSTRESC"].eq("RELAPSED DISEASE"), ["USUBJID", "RSDTC", "RSSEQ"]
    ]
    relapsed = relapsed.drop_duplicates(["USUBJID", "RSDTC"])
    linked = raw.merge(relapsed, left_on=["USUBJID", "TADAT"], right_on=["USUBJID", "RSDTC"], how="inner")
    out = pd.DataFrame(index=linked.index)
    out["STUDYID"] = linked["STUDYID"]
    out["RDOMAIN"] = "RS"
    out["USUBJID"] = linked["USUBJID"]
    out["IDVAR"] = "RSSEQ"
    out["IDVARVAL"] = linked["RSSEQ"].astype(int).astype(str)
    out["QNAM"] = QNAM
    out["QLABEL"] = qlabel(QNAM, "supprs")
    out["QVAL"] = linked["RECURDAT"]
    out["QORIG"] = "Collected"
    # Objective data (the collected date of the recurrence diagnosis): SDTMIG 3.4 section 8.4 gives QEVAL to subjective data only.
    out["QEVAL"] = None
    out["_file"], out["_row"] = linked["_file"], linked["_row"]
    return build_result(out, "supprs", queries)
