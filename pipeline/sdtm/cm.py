"""CM — Concomitant Medications: hepatitis B antiviral therapy, both arms.

Sponsor choices (specs/sdtm/cm.yaml): CMTRT is the generic name from the CRF's closed
list (no free-text verbatim, no WHODrug coding, so no CMDECOD/CMCLAS); CMCAT = ANTIVIRAL
THERAPY; CMROUTE = ORAL (every listed antiviral is oral). A start before the hepatectomy
is kept with a negative CMSTDY and a null EPOCH (no SE element yet). A medication marked
ongoing without an end date has CMENRTPT = ONGOING relative to CMENTPT = DM.RFPENDTC.
"""

from __future__ import annotations

import pandas as pd

from pipeline.dates import complete_date, study_day
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, carry_lineage, derive_seq, epoch_from_se, make_queries
from pipeline.sdtm.subjects import keep_dm_subjects, with_usubjid

DOMAIN = "CM"
INPUTS = {"cm": ["raw", "cm"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}


def build(cm: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """CM from the antiviral form; --DY from DM.RFSTDTC, EPOCH from SE."""
    raw = with_usubjid(cm.data)
    raw, queries = keep_dm_subjects(raw, dm, "cm")

    end_first = complete_date(raw["CMENDAT"]) < complete_date(raw["CMSTDAT"])
    problems = [
        make_queries(
            raw[end_first],
            "cm",
            "CMENDAT",
            raw.loc[end_first, "CMENDAT"],
            "END_BEFORE_START",
            "Medication ends before it starts (CMSTDAT " + raw.loc[end_first, "CMSTDAT"].astype(str) + ")",
        ),
    ]
    raw = raw[~end_first]
    # CMTRT and CMSTDTC are the natural keys: the same medication started the same day twice
    # (under two medication numbers) is a duplicate entry; the later number is held back.
    later = (
        raw.sort_values(["CMSPID", "_file", "_row"], kind="mergesort")
        .duplicated(["USUBJID", "CMTRT", "CMSTDAT"])
        .reindex(raw.index)
    )
    problems.append(
        make_queries(
            raw[later],
            "cm",
            "CMSPID",
            raw.loc[later, "CMSPID"],
            "DUPLICATE_MEDICATION",
            "Same medication "
            + raw.loc[later, "CMTRT"].astype(str)
            + " with the same start date ("
            + raw.loc[later, "CMSTDAT"].fillna("blank").astype(str)
            + ") as another medication number; held back",
        )
    )
    raw = raw[~later]

    d = dm.data.set_index("USUBJID").reindex(raw["USUBJID"]).set_index(raw.index)
    out = pd.DataFrame(index=raw.index)
    out["STUDYID"] = raw["STUDYID"]
    out["DOMAIN"] = "CM"
    out["USUBJID"] = raw["USUBJID"]
    out["CMSPID"] = raw["CMSPID"].astype("Int64").astype("string")
    out["CMTRT"] = raw["CMTRT"]
    out["CMCAT"] = "ANTIVIRAL THERAPY"
    out["CMDOSE"] = raw["CMDOSE"]
    out["CMDOSU"] = raw["CMDOSU"]
    out["CMDOSFRQ"] = raw["CMDOSFRQ"]
    out["CMROUTE"] = "ORAL"
    out["CMSTDTC"] = raw["CMSTDAT"]
    out["CMENDTC"] = raw["CMENDAT"]
    out["EPOCH"] = epoch_from_se(raw["CMSTDAT"], raw["USUBJID"], se.data)
    out["CMSTDY"] = study_day(raw["CMSTDAT"], d["RFSTDTC"])
    out["CMENDY"] = study_day(raw["CMENDAT"], d["RFSTDTC"])
    ongoing = raw["CMONGO"].eq("Y") & raw["CMENDAT"].isna()
    out["CMENRTPT"] = ongoing.map({True: "ONGOING", False: None})
    out["CMENTPT"] = d["RFPENDTC"].where(ongoing, None)
    out["_spid"] = raw["CMSPID"]
    carry_lineage(out, raw)
    out = derive_seq(out, "CMSEQ", ["CMSTDTC", "_spid"])
    return build_result(out, "cm", pd.concat([queries, *problems], ignore_index=True), "CMSEQ")
