"""SUPPRS — the collected date of recurrence diagnosis of each RELAPSED DISEASE assessment.

RSDTC dates a recurrence by the assessment that found it; the diagnosis date written on the
CRF (RECURDAT, partial kept) has no RS variable, so it is QNAM = RECURDTC attached by
IDVAR = RSSEQ to that RS record (specs/sdtm/supprs.yaml).
"""

from __future__ import annotations

from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult
from pipeline.sdtm.subjects import keep_dm_subjects, with_usubjid
from pipeline.sdtm.supp import build_supp

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
    idvarval = linked["RSSEQ"].astype(int).astype(str)
    return build_supp("supprs", linked, "RS", "RSSEQ", idvarval, QNAM, linked["RECURDAT"], "Collected", queries)
