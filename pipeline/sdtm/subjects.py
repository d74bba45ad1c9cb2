"""Subject identity shared by every domain: USUBJID and the subjects DM holds."""

from __future__ import annotations

import pandas as pd

from pipeline.columns import isin
from pipeline.sdtm.common import DomainResult, empty_queries, make_queries, usubjid
from pipeline.specs.study import load_study


def with_usubjid(raw: pd.DataFrame) -> pd.DataFrame:
    """Raw form records (SITEID, SUBJID, lineage) with STUDYID and USUBJID added."""
    study = load_study()
    out = raw.copy()
    out["STUDYID"] = study.studyid
    out["USUBJID"] = usubjid(study.studyid, out["SITEID"], out["SUBJID"])
    return out


def keep_dm_subjects(records: pd.DataFrame, dm: DomainResult, form: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``records`` into those whose subject is in DM and queries for the rest.

    A record whose subject is not in DM (never enrolled, or held back from DM) cannot
    be submitted: it is reported, not dropped silently.
    """
    if records.empty:
        return records, empty_queries()
    known = isin(records["USUBJID"], dm.data["USUBJID"])
    orphans = records[~known]
    q = make_queries(
        orphans,
        form,
        "SUBJID",
        orphans["SUBJID"],
        "SUBJECT_NOT_IN_DM",
        "Subject " + orphans["SUBJID"].astype(str) + " is not an enrolled subject in DM; record held back",
    )
    return records[known], q


def dm_reference(dm: DomainResult) -> pd.DataFrame:
    """Per-subject reference dates used for --DY and EPOCH (USUBJID, RFSTDTC, RFXSTDTC, RFXENDTC)."""
    return dm.data[["USUBJID", "RFSTDTC", "RFXSTDTC", "RFXENDTC"]]
