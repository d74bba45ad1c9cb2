"""SS — Subject Status: one SURVSTAT record per survival follow-up contact (rules in specs/sdtm/ss.yaml).

SSORRES is the collected status (ALIVE, DEAD, LOST TO FOLLOW-UP), SSSTRESC its CDISC term
(LOST TO FOLLOW-UP -> UNKNOWN, specs/ct/raw_to_sdtm.csv), SSDTC the contact date: the last
date a subject was known alive is an SDTM record. A status with no SSTATRS term is held back
as a query; a contact reporting the subject alive after the death date the survival form
records is queried but kept. Survival contacts are not visits of the schedule: each is an unscheduled
visit by its date (VISIT UNSCHEDULED x.01, pipeline/sdtm/visits.py).
"""

from __future__ import annotations

import pandas as pd

from pipeline.dates import study_day
from pipeline.imputation import possible_range
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, carry_lineage, derive_seq, epoch_from_se, make_queries
from pipeline.sdtm.rs import to_ct
from pipeline.sdtm.subjects import dm_reference, keep_dm_subjects, with_usubjid
from pipeline.sdtm.visits import assign_visits
from pipeline.specs.ct import load_ct, paired_value

DOMAIN = "SS"
INPUTS = {"surv": ["raw", "surv"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}


def build(surv: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """SS from the survival form; --DY from DM.RFSTDTC, EPOCH from SE."""
    raw = with_usubjid(surv.data)
    raw, queries = keep_dm_subjects(raw, dm, "surv")

    std, unknown = to_ct(raw["SURVSTAT"], "SURVSTAT", "SSTATRS")
    problems = [
        make_queries(
            raw[unknown],
            "surv",
            "SURVSTAT",
            raw.loc[unknown, "SURVSTAT"],
            "STATUS_NOT_IN_CT",
            "Survival status has no term in codelist SSTATRS; record held back",
        ),
    ]
    # Alive after death: the contact's earliest possible day is after the latest possible death day.
    dead = raw[raw["SURVSTAT"].eq("DEAD") & raw["DTHDAT"].notna()]
    _, death_hi = possible_range(dead["DTHDAT"])
    death = death_hi.groupby(dead["USUBJID"]).min()
    contact_lo, _ = possible_range(raw["CONTDAT"])
    death_of = raw["USUBJID"].map(death)
    alive_late = raw["SURVSTAT"].eq("ALIVE") & (contact_lo > death_of)
    problems.append(
        make_queries(
            raw[alive_late],
            "surv",
            "CONTDAT",
            raw.loc[alive_late, "CONTDAT"],
            "ALIVE_AFTER_DEATH",
            "Subject reported alive after the recorded death date ("
            + death_of[alive_late].dt.strftime("%Y-%m-%d").fillna("")
            + ")",
        )
    )
    keep = ~unknown & raw["SURVSTAT"].notna()
    raw, std = raw[keep], std[keep]

    out = pd.DataFrame(index=raw.index)
    out["STUDYID"] = raw["STUDYID"]
    out["DOMAIN"] = "SS"
    out["USUBJID"] = raw["USUBJID"]
    out["SSTESTCD"] = "SURVSTAT"
    out["SSTEST"] = paired_value(load_ct(), "SSTESTCD", "SSTEST", "SURVSTAT")
    out["SSORRES"] = raw["SURVSTAT"]
    out["SSSTRESC"] = std
    out["SSDTC"] = raw["CONTDAT"]
    ref = dm_reference(dm).set_index("USUBJID").reindex(raw["USUBJID"]).set_index(raw.index)
    out["VISITNUM"], out["VISIT"] = assign_visits(raw["USUBJID"], raw["CONTDAT"], ref["RFSTDTC"])
    out["EPOCH"] = epoch_from_se(raw["CONTDAT"], raw["USUBJID"], se.data, before_first=True)
    out["SSDY"] = study_day(raw["CONTDAT"], ref["RFSTDTC"])
    carry_lineage(out, raw)
    out = derive_seq(out, "SSSEQ", ["SSDTC"])
    return build_result(out, "ss", pd.concat([queries, *problems], ignore_index=True), "SSSEQ")
