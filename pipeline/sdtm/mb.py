"""MB — Microbiology Specimen: hepatitis B surface antigen before surgery, one record per subject.

Sponsor choices (specs/sdtm/mb.yaml): HBsAg is a microbial antigen, so MB (the anti-HCV
antibody is in IS). The surgery form gives no date for the test: MBDTC is null and the
record is timed by MBTPT = PRE-OPERATIVE relative to MBTPTREF = HEPATECTOMY at MBRFTDTC =
the hepatectomy date, rather than inventing a date.
"""

from __future__ import annotations

import pandas as pd

from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, carry_lineage, derive_seq, epoch_from_se
from pipeline.sdtm.subjects import dm_reference, keep_dm_subjects, with_usubjid
from pipeline.sdtm.visits import assign_visits
from pipeline.specs.ct import load_ct, paired_value

DOMAIN = "MB"
INPUTS = {"surg": ["raw", "surg"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}


def build(surg: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """MB from the HBsAg result of the surgery form (a subject without a result has no record)."""
    raw = with_usubjid(surg.data)
    raw, queries = keep_dm_subjects(raw, dm, "surg")
    raw = raw[raw["HBSAG"].notna()]

    out = pd.DataFrame(index=raw.index)
    out["STUDYID"] = raw["STUDYID"]
    out["DOMAIN"] = "MB"
    out["USUBJID"] = raw["USUBJID"]
    out["MBTESTCD"] = "HBSAG"
    out["MBTEST"] = paired_value(load_ct(), "MBTESTCD", "MBTEST", "HBSAG")
    # The raw POSNEG values (POSITIVE/NEGATIVE) are the submission values.
    out["MBORRES"] = raw["HBSAG"]
    out["MBSTRESC"] = raw["HBSAG"]
    out["MBSPEC"] = "SERUM"
    out["MBTPT"] = "PRE-OPERATIVE"
    out["MBTPTREF"] = "HEPATECTOMY"
    out["MBRFTDTC"] = raw["PRSTDAT"]
    out["MBTPTNUM"] = 1.0
    rfstdtc = dm_reference(dm).set_index("USUBJID")["RFSTDTC"].reindex(out["USUBJID"]).set_axis(out.index)
    undated = pd.Series(None, index=out.index, dtype=object)  # MBDTC (and so MBDY) not collected
    out["VISITNUM"], out["VISIT"] = assign_visits(out["USUBJID"], undated, rfstdtc, planned="HEPATECTOMY")
    # Undated and pre-operative: the EPOCH of the reference date, the hepatectomy (SCREENING).
    out["EPOCH"] = epoch_from_se(out["MBRFTDTC"], out["USUBJID"], se.data, before_first=True)
    carry_lineage(out, raw)
    out = derive_seq(out, "MBSEQ", ["MBTESTCD"])
    return build_result(out, "mb", queries, "MBSEQ")
