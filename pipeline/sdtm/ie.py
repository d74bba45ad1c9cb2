"""IE — Inclusion/Exclusion Criteria Not Met: one record per criterion a subject did not meet.

The CRF answers every criterion as met (Y: inclusion met / exclusion absent). Only the
exceptions are submitted: an inclusion criterion answered N (IEORRES = N) or an exclusion
criterion answered N, i.e. present (IEORRES = Y). Criterion texts and categories come from
``specs/trial/criteria.csv`` (also TI). Eligibility is confirmed at enrollment, so IEDTC is
the enrollment date. Every DM subject is enrolled: an IE record is a protocol deviation,
kept and reported as a query. The enrollment form's summary answer (enrol.IEYN) is only
cross-checked against the criteria form, never submitted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.columns import TEXT, isin
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
from pipeline.sdtm.subjects import dm_reference, keep_dm_subjects, with_usubjid
from pipeline.specs.paths import SPECS_DIR

DOMAIN = "IE"
INPUTS = {"ie": ["raw", "ie"], "enrol": ["raw", "enrol"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}


def load_criteria() -> pd.DataFrame:
    """specs/trial/criteria.csv indexed by IETESTCD (IECAT, IETEST)."""
    return pd.read_csv(SPECS_DIR / "trial" / "criteria.csv", dtype=str, keep_default_na=False).set_index("IETESTCD")


def build(ie: FormExtract, enrol: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """IE from the criteria form: the criteria not met; IEDTC = enrollment date, --DY from DM, EPOCH from SE."""
    crit = load_criteria()
    raw = with_usubjid(ie.data)
    raw, queries = keep_dm_subjects(raw, dm, "ie")

    cat = raw["IETESTCD"].map(crit["IECAT"])
    unknown = cat.isna() & raw["IETESTCD"].notna()
    blank = raw["IEORRES"].isna()
    problems = [
        make_queries(
            raw[unknown],
            "ie",
            "IETESTCD",
            raw.loc[unknown, "IETESTCD"],
            "IE_CRITERION_UNKNOWN",
            "Criterion code not in specs/trial/criteria.csv; record held back",
        ),
        make_queries(
            raw[blank],
            "ie",
            "IEORRES",
            raw.loc[blank, "IEORRES"],
            "IE_RESULT_MISSING",
            "Criterion " + raw.loc[blank, "IETESTCD"].astype(str) + " has no answer; eligibility cannot be confirmed",
        ),
    ]
    unmet = raw[raw["IEORRES"].eq("N") & ~unknown].copy()
    unmet["IECAT"] = unmet["IETESTCD"].map(crit["IECAT"]).astype(TEXT)
    unmet["IETEST"] = unmet["IETESTCD"].map(crit["IETEST"]).astype(TEXT)
    inclusion = unmet["IECAT"].eq("INCLUSION")

    # An enrolled subject with a criterion not met is a protocol deviation: reported, not removed.
    what = pd.Series(
        np.where(inclusion, "inclusion criterion not met: ", "exclusion criterion present: "), index=unmet.index, dtype=TEXT
    )
    problems.append(
        make_queries(
            unmet,
            "ie",
            "IETESTCD",
            unmet["IETESTCD"],
            "IE_ENROLLED_NOT_ELIGIBLE",
            "Enrolled subject with " + what + unmet["IETESTCD"] + " (" + unmet["IETEST"] + "); protocol deviation",
        )
    )

    # Cross-check of the enrollment form's summary answer (IEYN) against the criteria form.
    enr = with_usubjid(enrol.data).drop_duplicates("USUBJID")
    enr = enr[isin(enr["USUBJID"], dm.data["USUBJID"])]
    unmet_codes = unmet.sort_values("IETESTCD").groupby("USUBJID")["IETESTCD"].agg(", ".join)
    listed = enr["USUBJID"].map(unmet_codes)
    says_met = enr["IEYN"].eq("Y") & listed.notna()
    says_not = enr["IEYN"].eq("N") & listed.isna()
    problems += [
        make_queries(
            enr[says_met],
            "enrol",
            "IEYN",
            enr.loc[says_met, "IEYN"],
            "IEYN_CONTRADICTS_IE",
            "All criteria declared met, but the criteria form records criteria not met: " + listed[says_met].astype(str),
        ),
        make_queries(
            enr[says_not],
            "enrol",
            "IEYN",
            enr.loc[says_not, "IEYN"],
            "IEYN_CONTRADICTS_IE",
            "Criteria declared not all met, but the criteria form records every criterion met",
        ),
    ]

    enrolled = enr.set_index("USUBJID")["ENRLDAT"]
    ref = dm_reference(dm).set_index("USUBJID").reindex(unmet["USUBJID"]).set_index(unmet.index)
    out = pd.DataFrame(index=unmet.index)
    out["STUDYID"] = unmet["STUDYID"]
    out["DOMAIN"] = "IE"
    out["USUBJID"] = unmet["USUBJID"]
    out["IETESTCD"] = unmet["IETESTCD"]
    out["IETEST"] = unmet["IETEST"]
    out["IECAT"] = unmet["IECAT"]
    out["IEORRES"] = inclusion.map({True: "N", False: "Y"})
    out["IESTRESC"] = out["IEORRES"]
    out["IEDTC"] = unmet["USUBJID"].map(enrolled)
    out["EPOCH"] = epoch_from_se(out["IEDTC"], out["USUBJID"], se.data)
    out["IEDY"] = study_day(out["IEDTC"], ref["RFSTDTC"])
    carry_lineage(out, unmet)
    out = derive_seq(out, "IESEQ", ["IETESTCD"])
    return build_result(out, "ie", pd.concat([queries, *problems], ignore_index=True), "IESEQ")
