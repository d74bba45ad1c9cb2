"""IS — Immunogenicity Specimen Assessments: anti-HCV antibody before surgery, one record per subject.

Sponsor choices (specs/sdtm/is.yaml): since SDTMIG 3.4 IS holds antibodies produced in
response to a microorganism, so the anti-HCV antibody is ISTESTCD = MBAB (Microbial-induced
Antibody) with ISBDAGNT = HEPATITIS C VIRUS. The surgery form gives no date for the test:
ISDTC is null and the record is timed by ISTPT = PRE-OPERATIVE relative to ISTPTREF =
HEPATECTOMY at ISRFTDTC = the hepatectomy date. (The module is ``is_`` because ``is`` is a
Python keyword; the dataset and asset are IS / sdtm/is.)
"""

from __future__ import annotations

import pandas as pd

from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, carry_lineage, derive_seq, epoch_from_se
from pipeline.sdtm.subjects import dm_reference, keep_dm_subjects, with_usubjid
from pipeline.sdtm.visits import assign_visits
from pipeline.specs.ct import load_ct, paired_value

DOMAIN = "IS"
INPUTS = {"surg": ["raw", "surg"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}


def build(surg: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """IS from the anti-HCV result of the surgery form (a subject without a result has no record)."""
    raw = with_usubjid(surg.data)
    raw, queries = keep_dm_subjects(raw, dm, "surg")
    raw = raw[raw["ANTIHCV"].notna()]

    out = pd.DataFrame(index=raw.index)
    out["STUDYID"] = raw["STUDYID"]
    out["DOMAIN"] = "IS"
    out["USUBJID"] = raw["USUBJID"]
    out["ISTESTCD"] = "MBAB"
    out["ISTEST"] = paired_value(load_ct(), "ISTESTCD", "ISTEST", "MBAB")
    out["ISBDAGNT"] = "HEPATITIS C VIRUS"
    # The raw POSNEG values (POSITIVE/NEGATIVE) are the submission values.
    out["ISORRES"] = raw["ANTIHCV"]
    out["ISSTRESC"] = raw["ANTIHCV"]
    out["ISSPEC"] = "SERUM"
    out["ISTPT"] = "PRE-OPERATIVE"
    out["ISTPTREF"] = "HEPATECTOMY"
    out["ISRFTDTC"] = raw["PRSTDAT"]
    out["ISTPTNUM"] = 1.0
    rfstdtc = dm_reference(dm).set_index("USUBJID")["RFSTDTC"].reindex(out["USUBJID"]).set_axis(out.index)
    undated = pd.Series(None, index=out.index, dtype=object)  # ISDTC (and so ISDY) not collected
    out["VISITNUM"], out["VISIT"] = assign_visits(out["USUBJID"], undated, rfstdtc, planned="HEPATECTOMY")
    # Undated and pre-operative: the EPOCH of the reference date, the hepatectomy (SCREENING).
    out["EPOCH"] = epoch_from_se(out["ISRFTDTC"], out["USUBJID"], se.data, before_first=True)
    carry_lineage(out, raw)
    out = derive_seq(out, "ISSEQ", ["ISTESTCD"])
    return build_result(out, "is", queries, "ISSEQ")
