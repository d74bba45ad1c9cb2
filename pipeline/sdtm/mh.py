"""MH — Medical History: liver cirrhosis as a pre-specified condition, one record per subject.

Sponsor choices (specs/sdtm/mh.yaml): cirrhosis is asked on the surgery form as a yes/no
question, so MHPRESP = Y and MHOCCUR carries the answer (Y or N). MHTERM is the CRF's
pre-specified term, MHDECOD its MedDRA preferred term. The CRF gives no onset date, so no
MHSTDTC; MHDTC is the date of the assessment (the hepatectomy and its pathology), with its EPOCH.
MHCAT is not submitted (one value only; MHPRESP = Y marks the pre-specified question). The other baseline characteristics of that form are findings in MB, IS, MI, RS, LB.
"""

from __future__ import annotations

import pandas as pd

from pipeline.dates import study_day
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, carry_lineage, derive_seq, epoch_from_se
from pipeline.sdtm.subjects import dm_reference, keep_dm_subjects, with_usubjid

DOMAIN = "MH"
INPUTS = {"surg": ["raw", "surg"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}


def build(surg: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """MH from the cirrhosis question of the surgery form (unanswered: no record); --DY from DM.RFSTDTC, EPOCH from SE."""
    raw = with_usubjid(surg.data)
    raw, queries = keep_dm_subjects(raw, dm, "surg")
    raw = raw[raw["CIRRH"].notna()]

    out = pd.DataFrame(index=raw.index)
    out["STUDYID"] = raw["STUDYID"]
    out["DOMAIN"] = "MH"
    out["USUBJID"] = raw["USUBJID"]
    out["MHTERM"] = "LIVER CIRRHOSIS"
    out["MHDECOD"] = "Hepatic cirrhosis"
    out["MHPRESP"] = "Y"
    out["MHOCCUR"] = raw["CIRRH"]
    out["MHDTC"] = raw["PRSTDAT"]
    out["EPOCH"] = epoch_from_se(out["MHDTC"], out["USUBJID"], se.data, before_first=True)
    out["MHDY"] = study_day(
        out["MHDTC"], dm_reference(dm).set_index("USUBJID")["RFSTDTC"].reindex(out["USUBJID"]).set_axis(out.index)
    )
    carry_lineage(out, raw)
    out = derive_seq(out, "MHSEQ", ["MHDECOD"])
    return build_result(out, "mh", queries, "MHSEQ")
