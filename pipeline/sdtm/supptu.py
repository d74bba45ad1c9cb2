"""SUPPTU — the basis of the recurrence diagnosis of each new lesion (specs/sdtm/supptu.yaml).

QNAM = DIAGBAS (IMAGING, HISTOPATHOLOGY, IMAGING AND AFP) has no standard TU variable. It
qualifies the lesion, so it is attached by IDVAR = TULNKID (IDVARVAL = the CRF lesion id) to
both TU records of the lesion. Held back as queries: a value that is not a DIAGBAS term, and
a lesion that is not in TU (TU held it back).
"""

from __future__ import annotations

import pandas as pd

from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, make_queries
from pipeline.sdtm.rs import to_ct
from pipeline.sdtm.subjects import keep_dm_subjects, with_usubjid
from pipeline.specs.datasets import load_dataset_spec

DOMAIN = "SUPPTU"
INPUTS = {"nl": ["raw", "nl"], "tu": ["sdtm", "tu"], "dm": ["sdtm", "dm"]}

QNAM = "DIAGBAS"


def qlabel(qnam: str, dataset: str = "supptu") -> str:
    """QLABEL of a qualifier: the label of its value-level QVAL entry in the SUPP-- spec."""
    spec = load_dataset_spec("sdtm", dataset)
    return next(vl.label for vl in spec.value_level if vl.variable == "QVAL" and dict(vl.where).get("QNAM") == qnam)


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

    out = pd.DataFrame(index=raw.index)
    out["STUDYID"] = raw["STUDYID"]
    out["RDOMAIN"] = "TU"
    out["USUBJID"] = raw["USUBJID"]
    out["IDVAR"] = "TULNKID"
    out["IDVARVAL"] = raw["IDVARVAL"]
    out["QNAM"] = QNAM
    out["QLABEL"] = qlabel(QNAM)
    out["QVAL"] = value
    out["QORIG"] = "Collected"
    # Objective data (the collected basis of the diagnosis): SDTMIG 3.4 section 8.4 gives QEVAL to subjective data only.
    out["QEVAL"] = None
    out["_file"], out["_row"] = raw["_file"], raw["_row"]
    return build_result(out, "supptu", pd.concat([queries, *problems], ignore_index=True))
