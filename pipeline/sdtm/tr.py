"""TR — Tumor/Lesion Results: the longest diameter of each new lesion when found (specs/sdtm/tr.yaml).

One LDIAM record per lesion of the new-lesion form, in mm (the CRF's fixed unit). TRLNKID =
TULNKID links it to its TU lesion (RELREC); method, visit (VISITNUM/VISIT) and date are those of
the TU record. TRLOBXFL = Y on the last measurement of a lesion on or before the first sorafenib
dose (none is expected: lesions are found at follow-up).
Held back as queries: a measurement whose lesion is not in TU (TU held it back), and a
missing, zero or negative diameter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.dates import complete_date, study_day
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import (
    DomainResult,
    build_result,
    carry_lineage,
    derive_seq,
    epoch_from_se,
    last_before_exposure,
    make_queries,
)
from pipeline.sdtm.subjects import dm_reference, keep_dm_subjects, with_usubjid
from pipeline.specs.ct import load_ct, paired_value
from pipeline.terminology import on_distinct

DOMAIN = "TR"
INPUTS = {"nl": ["raw", "nl"], "tu": ["sdtm", "tu"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}


def number_text(values: pd.Series) -> pd.Series:
    """Numbers as text without a trailing ``.0`` (7.0 -> "7", 7.5 -> "7.5"); None where missing."""
    return on_distinct(values, lambda s: s.astype(float).map(lambda x: np.format_float_positional(x, trim="-")))


def build(nl: FormExtract, tu: DomainResult, dm: DomainResult, se: DomainResult) -> DomainResult:
    """TR from the new-lesion form, linked to TU; --DY from DM.RFSTDTC, EPOCH from SE."""
    raw = with_usubjid(nl.data)
    raw, queries = keep_dm_subjects(raw, dm, "nl")
    raw = raw.assign(TRLNKID=raw["LESID"].astype("string").astype(object))

    lesions = tu.data.loc[tu.data["TUTESTCD"].eq("TUMIDENT"), ["USUBJID", "TULNKID", "TUMETHOD", "VISITNUM", "VISIT"]]
    linked = (
        raw[["USUBJID", "TRLNKID"]]
        .merge(lesions, left_on=["USUBJID", "TRLNKID"], right_on=["USUBJID", "TULNKID"], how="left", indicator=True)
        .set_index(raw.index)
    )
    orphan = linked["_merge"].eq("left_only")
    size = pd.to_numeric(raw["LESSZ"], errors="coerce")
    bad_size = ~orphan & ~(size > 0)
    problems = [
        make_queries(
            raw[orphan],
            "nl",
            "LESID",
            raw.loc[orphan, "LESID"],
            "LESION_NOT_IN_TU",
            "The lesion is not in TU (held back there); measurement held back",
        ),
        make_queries(
            raw[bad_size],
            "nl",
            "LESSZ",
            raw.loc[bad_size, "LESSZ"],
            "SIZE_INVALID",
            "Longest diameter missing, zero or negative; measurement held back",
        ),
    ]
    keep = ~(orphan | bad_size)
    raw, linked, size = raw[keep], linked[keep], size[keep]

    out = pd.DataFrame(index=raw.index)
    out["STUDYID"] = raw["STUDYID"]
    out["DOMAIN"] = "TR"
    out["USUBJID"] = raw["USUBJID"]
    out["TRLNKID"] = raw["TRLNKID"]
    out["TRTESTCD"] = "LDIAM"
    out["TRTEST"] = paired_value(load_ct(), "TRTESTCD", "TRTEST", "LDIAM")
    out["TRORRES"] = number_text(size)
    out["TRORRESU"] = "mm"
    out["TRSTRESC"] = out["TRORRES"]
    out["TRSTRESN"] = size.astype("float64")
    out["TRSTRESU"] = "mm"
    out["TRMETHOD"] = linked["TUMETHOD"]
    out["TREVAL"] = "INVESTIGATOR"
    out["VISITNUM"] = linked["VISITNUM"]
    out["VISIT"] = linked["VISIT"]
    out["TRDTC"] = raw["TADAT"]
    ref = dm_reference(dm).set_index("USUBJID").reindex(raw["USUBJID"]).set_index(raw.index)
    out["EPOCH"] = epoch_from_se(raw["TADAT"], raw["USUBJID"], se.data, before_first=True)
    out["TRDY"] = study_day(raw["TADAT"], ref["RFSTDTC"])
    when = complete_date(out["TRDTC"])
    out["TRLOBXFL"] = last_before_exposure(
        out, ["TRTESTCD", "TRLNKID"], when, out["TRSTRESN"].notna() & (when <= complete_date(ref["RFXSTDTC"]))
    )
    carry_lineage(out, raw)
    out = derive_seq(out, "TRSEQ", ["TRDTC", "TRLNKID"])
    return build_result(out, "tr", pd.concat([queries, *problems], ignore_index=True), "TRSEQ")
