"""PR — Procedures: the curative hepatectomy, one record per subject.

Sponsor choices (specs/sdtm/pr.yaml): PRTRT is the collected type of resection
(ANATOMICAL or NON-ANATOMICAL HEPATECTOMY; PRTRT has no required codelist), PRCAT =
SURGERY, PRINDC = HEPATOCELLULAR CARCINOMA, PRLOC = LIVER. The hepatectomy date is the
reference start (DM.RFSTDTC), so PRSTDY = 1 and EPOCH = SCREENING. The margin status is
in RS, the pathology of the specimen in MI.
"""

from __future__ import annotations

import pandas as pd

from pipeline.dates import study_day
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, carry_lineage, derive_seq, epoch_from_se, make_queries
from pipeline.sdtm.subjects import dm_reference, keep_dm_subjects, with_usubjid

DOMAIN = "PR"
INPUTS = {"surg": ["raw", "surg"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}


def build(surg: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """PR from the surgery form; --DY from DM.RFSTDTC, EPOCH from SE."""
    raw = with_usubjid(surg.data)
    raw, queries = keep_dm_subjects(raw, dm, "surg")
    # PRTRT is Req: a surgery record without the type of resection cannot be submitted.
    no_trt = raw["PRTRT"].isna()
    problems = make_queries(
        raw[no_trt],
        "surg",
        "PRTRT",
        raw.loc[no_trt, "PRTRT"],
        "PROCEDURE_MISSING",
        "Type of hepatectomy is blank; PR record held back",
    )
    raw = raw[~no_trt]

    out = pd.DataFrame(index=raw.index)
    out["STUDYID"] = raw["STUDYID"]
    out["DOMAIN"] = "PR"
    out["USUBJID"] = raw["USUBJID"]
    out["PRTRT"] = raw["PRTRT"]
    out["PRCAT"] = "SURGERY"
    out["PRINDC"] = "HEPATOCELLULAR CARCINOMA"
    out["PRLOC"] = "LIVER"
    out["PRSTDTC"] = raw["PRSTDAT"]
    ref = dm_reference(dm).set_index("USUBJID").reindex(raw["USUBJID"]).set_index(raw.index)
    out["EPOCH"] = epoch_from_se(raw["PRSTDAT"], raw["USUBJID"], se.data)
    out["PRSTDY"] = study_day(raw["PRSTDAT"], ref["RFSTDTC"])
    carry_lineage(out, raw)
    out = derive_seq(out, "PRSEQ", ["PRSTDTC"])
    return build_result(out, "pr", pd.concat([queries, problems], ignore_index=True), "PRSEQ")
