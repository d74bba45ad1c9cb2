"""EX — Exposure: one record per constant-dose period of sorafenib.

An interruption is a period with EXDOSE = 0 (SDTMIG 3.4 §6.1.3 allows zero-dose
records). EXADJ carries the collected reason for the change of dose.
"""

from __future__ import annotations

import pandas as pd

from pipeline.dates import complete_date, study_day
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, carry_lineage, derive_seq, epoch_from_se, make_queries
from pipeline.sdtm.subjects import dm_reference, keep_dm_subjects, with_usubjid
from pipeline.specs.study import load_study

DOMAIN = "EX"
INPUTS = {"ex": ["raw", "ex"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}


def build(ex: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """EX from the dosing log; --DY from DM.RFSTDTC, EPOCH from SE."""
    raw = with_usubjid(ex.data)
    raw, queries = keep_dm_subjects(raw, dm, "ex")

    problems = []
    negative = raw["EXDOSE"] < 0
    problems.append(
        make_queries(raw[negative], "ex", "EXDOSE", raw.loc[negative, "EXDOSE"], "DOSE_NEGATIVE", "Daily dose is negative")
    )
    end_first = complete_date(raw["EXENDAT"]) < complete_date(raw["EXSTDAT"])
    problems.append(
        make_queries(
            raw[end_first],
            "ex",
            "EXENDAT",
            raw.loc[end_first, "EXENDAT"],
            "END_BEFORE_START",
            "Period ends before it starts (EXSTDAT " + raw.loc[end_first, "EXSTDAT"].astype(str) + ")",
        )
    )
    ref = dm_reference(dm).set_index("USUBJID")
    arm = dm.data.set_index("USUBJID")["ARMCD"]
    control = raw["USUBJID"].map(arm).eq(load_study().control_armcd)
    problems.append(
        make_queries(
            raw[control],
            "ex",
            "EXTRT",
            raw.loc[control, "EXTRT"],
            "DOSE_IN_CONTROL_ARM",
            "Sorafenib dose recorded for a subject enrolled in the control group",
        )
    )
    raw = raw[~(negative | end_first)]

    out = pd.DataFrame(index=raw.index)
    out["STUDYID"] = raw["STUDYID"]
    out["DOMAIN"] = "EX"
    out["USUBJID"] = raw["USUBJID"]
    out["EXTRT"] = raw["EXTRT"]
    # The CRF collects the total daily dose; EXDOSE is the dose per administration.
    out["EXDOSTOT"] = raw["EXDOSE"]
    out["EXDOSE"] = raw["EXDOSE"].where(raw["EXDOSFRQ"].ne("BID"), raw["EXDOSE"] / 2)
    out["EXDOSU"] = raw["EXDOSU"]
    out["EXDOSFRM"] = "TABLET, FILM COATED"
    out["EXDOSFRQ"] = raw["EXDOSFRQ"]
    out["EXROUTE"] = "ORAL"
    out["EXADJ"] = raw["EXADJ"]
    out["EXSTDTC"] = raw["EXSTDAT"]
    out["EXENDTC"] = raw["EXENDAT"]
    r = ref.reindex(raw["USUBJID"]).set_index(raw.index)
    out["EPOCH"] = epoch_from_se(raw["EXSTDAT"], raw["USUBJID"], se.data)
    out["EXSTDY"] = study_day(raw["EXSTDAT"], r["RFSTDTC"])
    out["EXENDY"] = study_day(raw["EXENDAT"], r["RFSTDTC"])
    carry_lineage(out, raw)
    out = derive_seq(out, "EXSEQ", ["EXSTDTC"])
    return build_result(out, "ex", pd.concat([queries, *problems], ignore_index=True), "EXSEQ")
