"""MI — Microscopic Findings: pathology of the hepatectomy specimen, four records per subject.

Sponsor choices (specs/sdtm/mi.yaml): microvascular invasion (VASINV, PRESENT/ABSENT from
the CRF's Y/N through specs/ct/raw_to_sdtm.csv), Edmondson-Steiner grade (OVLTGRD with
MITSTDTL = EDMONDSON-STEINER GRADE), largest tumour diameter (LDIAM, cm, the CRF's fixed
unit) and number of tumours (TUMNUM); LDIAM and TUMNUM are sponsor extensions of MITSCD.
The specimen is the resected tumour: MIDTC = the hepatectomy date (MIDY = 1, SCREENING, visit
HEPATECTOMY). MILOBXFL = Y on every result of a sorafenib-exposed subject (the specimen precedes
the first dose); MISPCCND is not collected.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.columns import stack
from pipeline.dates import complete_date, study_day
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult, build_result, carry_lineage, derive_seq, epoch_from_se, last_before_exposure
from pipeline.sdtm.lb import number_text
from pipeline.sdtm.subjects import dm_reference, keep_dm_subjects, with_usubjid
from pipeline.sdtm.visits import assign_visits
from pipeline.specs.ct import load_ct, load_raw_to_sdtm, paired_value

DOMAIN = "MI"
INPUTS = {"surg": ["raw", "surg"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}

# (MITESTCD, raw field, MITSTDTL, MIORRESU, numeric) in MISEQ order.
TESTS = [
    ("VASINV", "MVI", None, None, False),
    ("OVLTGRD", "EDMGRD", "EDMONDSON-STEINER GRADE", None, False),
    ("LDIAM", "TUMSZ", None, "cm", True),
    ("TUMNUM", "TUMNUM", None, None, True),
]


def build(surg: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """MI from the pathology fields of the surgery form; a field left blank gives no record."""
    raw = with_usubjid(surg.data)
    raw, queries = keep_dm_subjects(raw, dm, "surg")
    ct = load_ct()
    presabs = load_raw_to_sdtm()[("NY", "PRESABS")]

    parts = []
    for order, (testcd, field, detail, unit, numeric) in enumerate(TESTS):
        rec = raw[raw[field].notna()]
        p = pd.DataFrame(index=rec.index)
        p["USUBJID"] = rec["USUBJID"]
        p["STUDYID"] = rec["STUDYID"]
        p["MITESTCD"] = testcd
        p["MITEST"] = paired_value(ct, "MITSCD", "MITS", testcd)
        p["MITSTDTL"] = detail
        if numeric:
            p["MIORRES"] = number_text(rec[field])
            p["MISTRESN"] = pd.to_numeric(rec[field]).astype("float64")
        elif testcd == "VASINV":
            p["MIORRES"] = rec[field].map(presabs)
            p["MISTRESN"] = np.nan
        else:
            p["MIORRES"] = rec[field]  # raw EDMGRD values (I-IV) are the submission values
            p["MISTRESN"] = np.nan
        p["MIORRESU"] = unit
        p["MIDTC"] = rec["PRSTDAT"]
        p["_order"] = order
        carry_lineage(p, rec)
        parts.append(p)
    out = stack(parts, ignore_index=True)

    out["DOMAIN"] = "MI"
    out["MISTRESC"] = out["MIORRES"]
    out["MISTRESU"] = out["MIORRESU"]
    out["MISPEC"] = "TISSUE"
    out["MILOC"] = "LIVER"
    ref = dm_reference(dm).set_index("USUBJID").reindex(out["USUBJID"]).set_index(out.index)
    out["VISITNUM"], out["VISIT"] = assign_visits(out["USUBJID"], out["MIDTC"], ref["RFSTDTC"], planned="HEPATECTOMY")
    out["EPOCH"] = epoch_from_se(out["MIDTC"], out["USUBJID"], se.data, before_first=True)
    out["MIDY"] = study_day(out["MIDTC"], ref["RFSTDTC"])
    when, first_dose = complete_date(out["MIDTC"]), complete_date(ref["RFXSTDTC"])
    out["MILOBXFL"] = last_before_exposure(out, ["MITESTCD"], when, out["MIORRES"].notna() & (when <= first_dose))
    out = derive_seq(out, "MISEQ", ["_order"])
    return build_result(out, "mi", queries, "MISEQ")
