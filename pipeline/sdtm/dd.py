"""DD — Death Details: the primary cause of death, one PRCDTH record per deceased subject (specs/sdtm/dd.yaml).

The record comes from the survival contact with SURVSTAT = DEAD: DDORRES/DDSTRESC the
collected cause (DTHCAUS codelist), DDDTC the date of that contact; the death date itself is
DM.DTHDTC. Checks on the death reported there (queried, the record kept):

* DEATH_DATE_MISSING: status DEAD without a date of death;
* DEATH_BEFORE_HEPATECTOMY / DEATH_BEFORE_LAST_ASSESSMENT: the latest day the (possibly
  partial) death date can be is before the hepatectomy (DM.RFSTDTC) or before the subject's
  last tumour assessment;
* DEATH_AFTER_REPORT: the death date is after the contact that reported it.

Held back as queries: a cause that is not a DTHCAUS term, a DEAD contact without a cause
(no result to submit), and any further DEAD contact of a subject already reported dead (DD
has one PRCDTH record per subject; the first report is kept). A death date or cause on a
contact whose status is not DEAD is queried (it is submitted nowhere).
"""

from __future__ import annotations

import pandas as pd

from pipeline.dates import complete_date, study_day
from pipeline.imputation import possible_range
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, carry_lineage, derive_seq, epoch_from_se, make_queries
from pipeline.sdtm.rs import to_ct
from pipeline.sdtm.subjects import dm_reference, keep_dm_subjects, with_usubjid
from pipeline.specs.ct import load_ct, paired_value

DOMAIN = "DD"
INPUTS = {"surv": ["raw", "surv"], "ta": ["raw", "ta"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}


def _fmt(d: pd.Series) -> pd.Series:
    return d.dt.strftime("%Y-%m-%d").fillna("")


def build(surv: FormExtract, ta: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """DD from the DEAD contacts of the survival form; --DY from DM.RFSTDTC, EPOCH from SE."""
    raw = with_usubjid(surv.data)
    raw, queries = keep_dm_subjects(raw, dm, "surv")
    problems = []

    alive = raw[raw["SURVSTAT"].ne("DEAD")]
    for field in ("DTHDAT", "DTHCAUS"):
        stray = alive[alive[field].notna()]
        problems.append(
            make_queries(
                stray,
                "surv",
                field,
                stray[field],
                "DEATH_DATA_NOT_DEAD",
                "Given on a contact whose status is " + stray["SURVSTAT"].astype(str) + "; not submitted",
            )
        )

    dead = raw[raw["SURVSTAT"].eq("DEAD")].sort_values(["USUBJID", "CONTDAT", "_file", "_row"], kind="mergesort")
    again = dead["USUBJID"].duplicated(keep="first")
    first = dead.loc[~again].set_index("USUBJID")
    problems.append(
        make_queries(
            dead[again],
            "surv",
            "SURVSTAT",
            dead.loc[again, "SURVSTAT"],
            "DEATH_REPORTED_TWICE",
            "Subject already reported dead on "
            + dead.loc[again, "USUBJID"].map(first["CONTDAT"]).astype(str)
            + " (record kept there); record held back",
        )
    )
    dead = dead[~again]

    no_date = dead["DTHDAT"].isna()
    problems.append(
        make_queries(
            dead[no_date],
            "surv",
            "DTHDAT",
            dead.loc[no_date, "DTHDAT"],
            "DEATH_DATE_MISSING",
            "Status DEAD without a date of death",
        )
    )
    lo, hi = possible_range(dead["DTHDAT"])
    hep = complete_date(dead["USUBJID"].map(dm_reference(dm).set_index("USUBJID")["RFSTDTC"]))
    t = with_usubjid(ta.data)
    last_ta = complete_date(t["TADAT"]).groupby(t["USUBJID"]).max()
    last = dead["USUBJID"].map(last_ta)
    contact = complete_date(dead["CONTDAT"])
    for rule, bad, msg in [
        ("DEATH_BEFORE_HEPATECTOMY", hi < hep, "Death date before the hepatectomy (" + _fmt(hep) + ")"),
        ("DEATH_BEFORE_LAST_ASSESSMENT", hi < last, "Death date before the last tumour assessment (" + _fmt(last) + ")"),
        (
            "DEATH_AFTER_REPORT",
            lo > contact,
            "Death date after the contact that reported it (" + dead["CONTDAT"].astype(str) + ")",
        ),
    ]:
        problems.append(make_queries(dead[bad], "surv", "DTHDAT", dead.loc[bad, "DTHDAT"], rule, msg[bad]))

    cause, unknown = to_ct(dead["DTHCAUS"], "DTHCAUS", "DTHCAUS")
    no_cause = dead["DTHCAUS"].isna()
    problems.append(
        make_queries(
            dead[unknown],
            "surv",
            "DTHCAUS",
            dead.loc[unknown, "DTHCAUS"],
            "CAUSE_NOT_IN_CT",
            "Cause of death is not a term of codelist DTHCAUS; record held back",
        )
    )
    problems.append(
        make_queries(
            dead[no_cause],
            "surv",
            "DTHCAUS",
            dead.loc[no_cause, "DTHCAUS"],
            "DEATH_CAUSE_MISSING",
            "Status DEAD without a cause of death; no DD record",
        )
    )
    keep = ~(unknown | no_cause)
    dead, cause = dead[keep], cause[keep]

    out = pd.DataFrame(index=dead.index)
    out["STUDYID"] = dead["STUDYID"]
    out["DOMAIN"] = "DD"
    out["USUBJID"] = dead["USUBJID"]
    out["DDTESTCD"] = "PRCDTH"
    out["DDTEST"] = paired_value(load_ct(), "DTHDXCD", "DTHDX", "PRCDTH")
    out["DDORRES"] = cause
    out["DDSTRESC"] = cause
    out["DDDTC"] = dead["CONTDAT"]
    ref = dm_reference(dm).set_index("USUBJID").reindex(dead["USUBJID"]).set_index(dead.index)
    out["EPOCH"] = epoch_from_se(dead["CONTDAT"], dead["USUBJID"], se.data)
    out["DDDY"] = study_day(dead["CONTDAT"], ref["RFSTDTC"])
    carry_lineage(out, dead)
    out = derive_seq(out, "DDSEQ", ["DDTESTCD"])
    return build_result(out, "dd", pd.concat([queries, *problems], ignore_index=True), "DDSEQ")
