"""DS — Disposition: protocol milestones, end of treatment, end of study, and deaths.

Sponsor choices (specs/sdtm/ds.yaml):

- PROTOCOL MILESTONE records from the enrollment form: INFORMED CONSENT OBTAINED (dated
  RFICDAT) and ENTERED INTO TRIAL (dated ENRLDAT; the study is not randomized).
- DISPOSITION EVENT records from the disposition form, told apart by DSSCAT (END OF
  TREATMENT, sorafenib subjects only; END OF STUDY). The reason is a closed list, so
  DSTERM = DSDECOD = the collected reason (NCOMPLT).
- A death on the survival form that is not already the END OF STUDY reason is added as
  DSCAT = OTHER EVENT, DSDECOD = DEATH, dated with the death date, so every DM.DTHDTC has a
  DS record.
- EPOCH: milestones and deaths from their date (SE rule); END OF TREATMENT closes the
  TREATMENT epoch; END OF STUDY carries the epoch of the subject's last SE element.

Enrolled subjects DM holds back are already queried by DM (DM_SOURCE_MISSING); their
milestones are not repeated as queries here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.columns import isin, stack
from pipeline.dates import study_day
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import (
    DomainResult,
    build_result,
    carry_lineage,
    derive_seq,
    epoch_from_se,
    make_queries,
)
from pipeline.sdtm.subjects import keep_dm_subjects, with_usubjid
from pipeline.specs.ct import load_ct, load_raw_to_sdtm
from pipeline.specs.study import load_study

DOMAIN = "DS"
INPUTS = {"enrol": ["raw", "enrol"], "ds": ["raw", "ds"], "surv": ["raw", "surv"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}

# Order of records dated the same day (DSSEQ): milestones, then disposition events, then a later death.
RANK = {"INFORMED CONSENT OBTAINED": 0, "ENTERED INTO TRIAL": 1, "END OF TREATMENT": 2, "END OF STUDY": 3, "OTHER EVENT": 4}


def _milestones(enrol: FormExtract, dm: DomainResult) -> pd.DataFrame:
    e = with_usubjid(enrol.data)
    e = e[isin(e["USUBJID"], dm.data["USUBJID"])]  # DM queries the enrolled subjects it holds back
    parts = []
    for decod, field in [("INFORMED CONSENT OBTAINED", "RFICDAT"), ("ENTERED INTO TRIAL", "ENRLDAT")]:
        rec = e[e[field].notna()]
        parts.append(
            carry_lineage(
                pd.DataFrame(
                    {
                        "STUDYID": rec["STUDYID"],
                        "USUBJID": rec["USUBJID"],
                        "DSTERM": decod,
                        "DSDECOD": decod,
                        "DSCAT": "PROTOCOL MILESTONE",
                        "DSSCAT": None,
                        "DSSTDTC": rec[field],
                        "_rank": RANK[decod],
                    }
                ),
                rec,
            )
        )
    return stack(parts, ignore_index=True)


def build(enrol: FormExtract, ds: FormExtract, surv: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """DS from the enrollment, disposition and survival forms; --DY from DM.RFSTDTC, EPOCH from SE."""
    ct = load_ct()
    raw = with_usubjid(ds.data)
    raw, queries = keep_dm_subjects(raw, dm, "ds")
    problems = [queries]

    # Raw reasons are canonical values of DSREAS; raw_to_sdtm.csv lists any that differ in NCOMPLT.
    decod = raw["DSDECOD"].map(load_raw_to_sdtm().get(("DSREAS", "NCOMPLT"), {})).fillna(raw["DSDECOD"])
    unknown = decod.notna() & ~decod.isin(ct["NCOMPLT"].values)
    problems.append(
        make_queries(
            raw[unknown],
            "ds",
            "DSDECOD",
            raw.loc[unknown, "DSDECOD"],
            "CT_TERM_UNKNOWN",
            "Reason is not a term of the CDISC NCOMPLT codelist (specs/ct); record held back",
        )
    )
    arm = raw["USUBJID"].map(dm.data.set_index("USUBJID")["ARMCD"])
    eot_control = raw["DSCAT"].eq("END OF TREATMENT") & arm.eq(load_study().control_armcd)
    problems.append(
        make_queries(
            raw[eot_control],
            "ds",
            "DSCAT",
            raw.loc[eot_control, "DSCAT"],
            "EOT_IN_CONTROL_ARM",
            "End of sorafenib treatment recorded for a subject enrolled in the control group; record held back",
        )
    )
    keep = ~(unknown | eot_control)
    raw, decod = raw[keep], decod[keep]

    events = pd.DataFrame(
        {
            "STUDYID": raw["STUDYID"],
            "USUBJID": raw["USUBJID"],
            "DSTERM": decod,
            "DSDECOD": decod,
            "DSCAT": "DISPOSITION EVENT",
            "DSSCAT": raw["DSCAT"],
            "DSSTDTC": raw["DSSTDAT"],
            "_rank": raw["DSCAT"].map(RANK),
        }
    )
    carry_lineage(events, raw)

    # Deaths reported on the survival form (as DM.DTHDTC: the first DEAD record with a date).
    sv = with_usubjid(surv.data)
    dead = sv[sv["SURVSTAT"].eq("DEAD") & sv["DTHDAT"].notna()].drop_duplicates("USUBJID")
    dead, orphans = keep_dm_subjects(dead, dm, "surv")
    problems.append(orphans)
    eos_death = events.loc[events["DSSCAT"].eq("END OF STUDY") & events["DSDECOD"].eq("DEATH"), "USUBJID"]
    death_date = dead.set_index("USUBJID")["DTHDAT"]
    # An END OF STUDY for death must agree with the survival form (kept; the site is asked).
    eos_raw = raw[raw["DSCAT"].eq("END OF STUDY") & decod.eq("DEATH")]
    reported = eos_raw["USUBJID"].map(death_date)
    bad = reported.isna() | (reported != eos_raw["DSSTDAT"])
    problems.append(
        make_queries(
            eos_raw[bad],
            "ds",
            "DSSTDAT",
            eos_raw.loc[bad, "DSSTDAT"],
            "DEATH_INCONSISTENT",
            pd.Series(
                np.where(
                    reported[bad].isna(),
                    "End of study by death, but no death date on the survival form",
                    "End of study by death dated differently from the death date on the survival form ("
                    + reported[bad].astype(str)
                    + ")",
                ),
                index=eos_raw[bad].index,
            ),
        )
    )
    later = dead[~isin(dead["USUBJID"], eos_death)]
    deaths = pd.DataFrame(
        {
            "STUDYID": later["STUDYID"],
            "USUBJID": later["USUBJID"],
            "DSTERM": "DEATH",
            "DSDECOD": "DEATH",
            "DSCAT": "OTHER EVENT",
            "DSSCAT": None,
            "DSSTDTC": later["DTHDAT"],
            "_rank": RANK["OTHER EVENT"],
        }
    )
    carry_lineage(deaths, later)

    out = stack([_milestones(enrol, dm), events, deaths], ignore_index=True)
    out["DOMAIN"] = "DS"
    by_date = epoch_from_se(out["DSSTDTC"], out["USUBJID"], se.data)
    last_el = (
        se.data.sort_values(["USUBJID", "SESEQ"], kind="mergesort")
        .drop_duplicates("USUBJID", keep="last")
        .set_index("USUBJID")["EPOCH"]
    )
    out["EPOCH"] = np.select(
        [out["DSSCAT"].eq("END OF TREATMENT").to_numpy(), out["DSSCAT"].eq("END OF STUDY").to_numpy()],
        [np.full(len(out), "TREATMENT", dtype=object), out["USUBJID"].map(last_el).to_numpy(dtype=object)],
        default=by_date.to_numpy(dtype=object),
    )
    rfst = out["USUBJID"].map(dm.data.set_index("USUBJID")["RFSTDTC"])
    out["DSSTDY"] = study_day(out["DSSTDTC"], rfst)
    out = derive_seq(out, "DSSEQ", ["DSSTDTC", "_rank"])
    return build_result(out, "ds", pd.concat(problems, ignore_index=True), "DSSEQ")
