"""TU — Tumor/Lesion Identification: the new lesions found at recurrence (rules in specs/sdtm/tu.yaml).

Two records per lesion of the new-lesion form, linked by TULNKID (the CRF lesion id):
TUMIDENT = NEW and DRCRLTLC = INTRAHEPATIC / EXTRAHEPATIC as collected. TULOC is the
Couinaud segment as a CDISC location when LIVSEG is given (S1 -> LIVER, CAUDATE LOBE ...,
specs/ct/raw_to_sdtm.csv), else the collected site. TUMETHOD and VISIT are those of the
subject's tumour assessment on the lesion's date (VISITNUM/VISIT by the visit rule of
pipeline/sdtm/visits.py: ``MONTH 6``; a visit name it cannot read, queried by RS, or a lesion
without an assessment that day is an unscheduled visit by its date). TULOBXFL = Y on a lesion
found on or before the first sorafenib dose (none is expected: the first assessment is at month 2).

Held back as queries: a site, segment, intra/extrahepatic value or imaging method that is not
a term of its codelist. Queried but kept: a lesion whose date matches no tumour assessment of
the subject (TUMETHOD and VISIT stay null), a lesion found at an assessment that recorded no
recurrence, and a location that contradicts the intra/extrahepatic answer or the segment.
"""

from __future__ import annotations

import pandas as pd

from pipeline.columns import stack
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
from pipeline.sdtm.rs import to_ct
from pipeline.sdtm.subjects import dm_reference, keep_dm_subjects, with_usubjid
from pipeline.sdtm.visits import assign_visits
from pipeline.specs.ct import load_ct, paired_value

DOMAIN = "TU"
INPUTS = {"nl": ["raw", "nl"], "ta": ["raw", "ta"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}

TESTS = ["TUMIDENT", "DRCRLTLC"]  # TUSEQ: TUMIDENT before DRCRLTLC within a lesion


def build(nl: FormExtract, ta: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """TU from the new-lesion form and the tumour assessments; --DY from DM.RFSTDTC, EPOCH from SE."""
    raw = with_usubjid(nl.data)
    raw, queries = keep_dm_subjects(raw, dm, "nl")
    problems = []

    site, bad_site = to_ct(raw["LESSITE"], "LESSITE", "TUIDRS")
    seg, bad_seg = to_ct(raw["LIVSEG"], "LIVSEG", "LOC")
    loc, bad_loc = to_ct(raw["LESLOC"], "LOC", "LOC")
    for field, bad, codelist in [("LESSITE", bad_site, "TUIDRS"), ("LIVSEG", bad_seg, "LOC"), ("LESLOC", bad_loc, "LOC")]:
        problems.append(
            make_queries(
                raw[bad],
                "nl",
                field,
                raw.loc[bad, field],
                "TERM_NOT_IN_CT",
                f"{field} has no term in codelist {codelist}; lesion held back",
            )
        )

    # The tumour assessment of the same subject on the lesion's date gives TUMETHOD and VISIT.
    t = with_usubjid(ta.data).drop_duplicates(["USUBJID", "TADAT"])
    cols = ["USUBJID", "TADAT", "TAMETHOD", "VISIT", "RECUR", "SITEID", "SUBJID", "_file", "_row"]
    hit = raw[["USUBJID", "TADAT"]].merge(t[cols], on=["USUBJID", "TADAT"], how="left", indicator=True).set_index(raw.index)
    method, bad_method = to_ct(hit["TAMETHOD"], "METHOD", "METHOD")
    bad_ta = hit[bad_method].drop_duplicates(["_file", "_row"])  # one query per assessment
    problems.append(
        make_queries(
            bad_ta,
            "ta",
            "TAMETHOD",
            bad_ta["TAMETHOD"],
            "TERM_NOT_IN_CT",
            "Imaging method has no term in codelist METHOD; the new lesions of this assessment are held back",
        )
    )
    unmatched = hit["_merge"].eq("left_only")
    problems.append(
        make_queries(
            raw[unmatched],
            "nl",
            "TADAT",
            raw.loc[unmatched, "TADAT"],
            "NO_MATCHING_ASSESSMENT",
            "No tumour assessment of the subject on the date of this new lesion; TUMETHOD and VISIT left null",
        )
    )
    at_ned = hit["RECUR"].eq("N")
    problems.append(
        make_queries(
            raw[at_ned],
            "nl",
            "TADAT",
            raw.loc[at_ned, "TADAT"],
            "LESION_AT_NED_ASSESSMENT",
            "New lesion at an assessment that recorded no recurrence (RECUR = N)",
        )
    )
    liver = raw["LESLOC"].eq("LIVER")
    clash = (
        (raw["LESSITE"].eq("INTRAHEPATIC") & ~liver)
        | (raw["LESSITE"].eq("EXTRAHEPATIC") & liver)
        | (raw["LIVSEG"].notna() & ~liver)
    )
    problems.append(
        make_queries(
            raw[clash],
            "nl",
            "LESLOC",
            raw.loc[clash, "LESLOC"],
            "LOCATION_INCONSISTENT",
            "Location contradicts LESSITE "
            + raw.loc[clash, "LESSITE"].astype(str)
            + " / LIVSEG "
            + raw.loc[clash, "LIVSEG"].astype(str),
        )
    )

    keep = ~(bad_site | bad_seg | bad_loc | bad_method)
    raw = raw[keep]
    lesion = pd.DataFrame(index=raw.index)
    lesion["STUDYID"] = raw["STUDYID"]
    lesion["DOMAIN"] = "TU"
    lesion["USUBJID"] = raw["USUBJID"]
    lesion["TULNKID"] = raw["LESID"].astype("string").astype(object)
    lesion["TULOC"] = seg[keep].where(seg[keep].notna(), loc[keep])
    lesion["TUMETHOD"] = method[keep]
    lesion["TUEVAL"] = "INVESTIGATOR"
    lesion["TUDTC"] = raw["TADAT"]
    ref = dm_reference(dm).set_index("USUBJID").reindex(raw["USUBJID"]).set_index(raw.index)
    # An unreadable visit name is queried in RS; here it makes the lesion an unscheduled visit.
    lesion["VISITNUM"], lesion["VISIT"] = assign_visits(raw["USUBJID"], raw["TADAT"], ref["RFSTDTC"], hit.loc[keep, "VISIT"])
    lesion["EPOCH"] = epoch_from_se(raw["TADAT"], raw["USUBJID"], se.data, before_first=True)
    lesion["TUDY"] = study_day(raw["TADAT"], ref["RFSTDTC"])
    carry_lineage(lesion, raw)

    ct = load_ct()
    results = {"TUMIDENT": pd.Series("NEW", index=raw.index), "DRCRLTLC": site[keep]}
    parts = []
    for order, testcd in enumerate(TESTS):
        rec = lesion.copy()
        rec["TUTESTCD"] = testcd
        rec["TUTEST"] = paired_value(ct, "TUTESTCD", "TUTEST", testcd)
        rec["TUORRES"] = results[testcd]
        rec["TUSTRESC"] = results[testcd]
        rec["_test"] = order
        parts.append(rec)
    out = stack(parts, ignore_index=True) if parts else lesion
    when = complete_date(out["TUDTC"])
    before = out["TUORRES"].notna() & (
        when <= complete_date(out["USUBJID"].map(dm_reference(dm).set_index("USUBJID")["RFXSTDTC"]))
    )
    out["TULOBXFL"] = last_before_exposure(out, ["TUTESTCD", "TULNKID"], when, before)
    out = derive_seq(out, "TUSEQ", ["TUDTC", "TULNKID", "_test"])
    return build_result(out, "tu", pd.concat([queries, *problems], ignore_index=True), "TUSEQ")
