"""SUPPTU — the basis of the recurrence diagnosis of each new lesion (specs/sdtm/supptu.yaml).

QNAM = DIAGBAS (IMAGING, HISTOPATHOLOGY, IMAGING AND AFP) has no standard TU variable. It
qualifies the lesion, so it is attached by IDVAR = TULNKID (IDVARVAL = the CRF lesion id) to
both TU records of the lesion. Held back as queries: a value that is not a DIAGBAS term, and
a lesion that is not in TU (TU held it back).
"""

from __future__ import annotations

import pandas as pd

from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, make_queries
from pipeline.sdtm.rs import to_ct
from pipeline.sdtm.subjects import keep_dm_subjects, with_usubjid
from pipeline.sdtm.supp import build_supp

DOMAIN = "SUPPTU"
INPUTS = {"nl": ["raw", "nl"], "tu": ["sdtm", "tu"], "dm": ["sdtm", "dm"]}

QNAM = "DIAGBAS"


def build(nl: FormExtract, tu: DomainResult, dm: DomainResult) -> DomainResult:
    """One DIAGBAS qualifier per TU lesion."""
    raw = with_usubjid(nl.data)
    raw, queries = keep_dm_subjects(raw, dm, "nl")
    raw = raw.assign(IDVARVAL=raw["LESID"].astype("string").astype(object))

    lesions = tu.data.loc[tu.data["TUTESTCD"].eq("TUMIDENT"), ["USUBJID", "TULNKID"]].drop_duplicates()
    linked = (
        raw[["USUBJID", "IDVARVAL"]]
        .merge(lesions, left_on=["USUBJID", "IDVARVAL"], right_on=["USUBJID", "TULNKID"], how="left", indicator=True)
        .set_index(raw.index)
    )
    orphan = linked["_merge"].eq("left_only")
    value, unknown = to_ct(raw["DIAGBAS"], "DIAGBAS", "DIAGBAS")
    unknown &= ~orphan
    problems = [
        make_queries(
            raw[orphan],
            "nl",
            "LESID",
            raw.loc[orphan, "LESID"],
            "LESION_NOT_IN_TU",
            "The lesion is not in TU (held back there); its basis of diagnosis is held back",
        ),
        make_queries(
            raw[unknown],
            "nl",
            "DIAGBAS",
            raw.loc[unknown, "DIAGBAS"],
            "TERM_NOT_IN_CT",
            "Basis of diagnosis is not a term of codelist DIAGBAS; qualifier held back",
        ),
    ]
    keep = ~(orphan | unknown) & value.notna()
    raw, value = raw[keep], value[keep]

    all_queries = pd.concat([queries, *problems], ignore_index=True)
    return build_supp("supptu", raw, "TU", "TULNKID", raw["IDVARVAL"], QNAM, value, "Collected", all_queries)
