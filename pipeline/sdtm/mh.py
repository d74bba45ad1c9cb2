"""MH — Medical History: liver cirrhosis as a pre-specified condition, one record per subject.

Sponsor choices (specs/sdtm/mh.yaml): cirrhosis is asked on the surgery form as a yes/no
question, so MHPRESP = Y and MHOCCUR carries the answer (Y or N). MHTERM is the CRF's
pre-specified term, MHDECOD its MedDRA preferred term. The CRF gives no onset date, so no
MHSTDTC. The other baseline characteristics of that form are findings in MB, IS, MI, RS, LB.
"""

from __future__ import annotations

import pandas as pd

from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, derive_seq
from pipeline.sdtm.subjects import keep_dm_subjects, with_usubjid

DOMAIN = "MH"
INPUTS = {"surg": ["raw", "surg"], "dm": ["sdtm", "dm"]}


def build(surg: FormExtract, dm: DomainResult) -> DomainResult:
    """MH from the cirrhosis question of the surgery form (unanswered: no record)."""
    raw = with_usubjid(surg.data)
    raw, queries = keep_dm_subjects(raw, dm, "surg")
    raw = raw[raw["CIRRH"].notna()]

    out = pd.DataFrame(index=raw.index)
    out["STUDYID"] = raw["STUDYID"]
    out["DOMAIN"] = "MH"
    out["USUBJID"] = raw["USUBJID"]
    out["MHTERM"] = "LIVER CIRRHOSIS"
    out["MHDECOD"] = "Hepatic cirrhosis"
    out["MHCAT"] = "LIVER DISEASE"
    out["MHPRESP"] = "Y"
    out["MHOCCUR"] = raw["CIRRH"]
    out["_file"], out["_row"] = raw["_file"], raw["_row"]
    out = derive_seq(out, "MHSEQ", ["MHDECOD"])
    return build_result(out, "mh", queries, "MHSEQ")
