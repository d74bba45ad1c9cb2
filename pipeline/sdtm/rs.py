"""RS — Disease Response and Clinical Classification (rules in specs/sdtm/rs.yaml).

Two kinds of records:

* the baseline clinical classifications of the surgery form, one record each per subject:
  ECOG101 (RSCAT ECOG), CPS0106 (CHILD-PUGH CLASSIFICATION), BCLC101 (BCLC) — pre-operative,
  RSDTC null, timed by RSTPT = PRE-OPERATIVE relative to RSTPTREF = HEPATECTOMY at RSRFTDTC —
  and the pathological AJCC 7th edition T, N, M and residual tumour R (AJCC101/102/103/105,
  RSCAT AJCC V7) dated with the hepatectomy;
* one OVRLRESP record per follow-up tumour assessment (RSCAT PROTOCOL-DEFINED RECURRENCE):
  RECUR = N -> NED, RECUR = Y -> RELAPSED DISEASE, both dated with the assessment (TADAT):
  a recurrence is dated at its first observation; the collected diagnosis date (RECURDAT,
  often a confirmatory scan days later) is in SUPPRS. ADaM derives RFS/TTR from these.
  VISIT is the site's visit name as one English name (``MONTH 6``, pipeline/sdtm/visits.py: XPT
  needs ASCII); a name that is not a month after surgery is queried and VISIT left blank.

A result that is not a term of its codelist (or a score out of its range) is held back as a
query. Inconsistent assessments are queried but kept: a recurrence without RECURDAT, a
recurrence date on an assessment without recurrence, an assessment before the hepatectomy.

The module also holds ``to_ct``, which the other follow-up domains share; the bounds of a partial
date are ``pipeline.imputation.possible_range``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.columns import stack
from pipeline.dates import complete_date, study_day
from pipeline.imputation import possible_range
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import (
    DomainResult,
    build_result,
    carry_lineage,
    derive_seq,
    empty_queries,
    epoch_from_se,
    make_queries,
)
from pipeline.sdtm.subjects import dm_reference, keep_dm_subjects, with_usubjid
from pipeline.sdtm.visits import assign_visits, standard_visit
from pipeline.specs.ct import load_ct, load_raw_to_sdtm, paired_value
from pipeline.specs.study import load_study

DOMAIN = "RS"
INPUTS = {"surg": ["raw", "surg"], "ta": ["raw", "ta"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}

NED, RELAPSED = "NED", "RELAPSED DISEASE"
# A recurrence diagnosed more than this many days after the assessment that recorded it is queried
# (0: any later date). The record is kept either way: RSDTC is the diagnosis date as collected.


# --- helpers shared with SS, DD, TU, TR, SUPPTU --------------------------------------------


def to_ct(values: pd.Series, raw_codelist: str | None, codelist: str) -> tuple[pd.Series, pd.Series]:
    """Raw canonical values as terms of the SDTM ``codelist``: ``(mapped, unknown)``.

    The raw value is mapped through ``specs/ct/raw_to_sdtm.csv`` (identity where not listed)
    and must then be a term of ``codelist``. ``mapped`` is None where blank or unknown;
    ``unknown`` is True where a non-blank value is not a term (it is never passed through).
    """
    table = load_raw_to_sdtm().get((raw_codelist, codelist), {}) if raw_codelist else {}
    raw = values.astype(object).where(values.notna(), None)
    via = raw.map(table) if table else pd.Series(None, index=raw.index, dtype=object)
    mapped = via.where(via.notna(), raw)
    known = mapped.isin(set(load_ct()[codelist].values))
    unknown = raw.notna() & ~known
    return mapped.where(known, None).astype(object), unknown


# --- baseline classifications ----------------------------------------------------------------

# RSTESTCD, test-code codelist, test-name codelist, RSCAT, surg field, raw codelist, result codelist,
# numeric range (None for a coded result), pre-operative (timed by RSTPT) or dated with the hepatectomy.
BASELINE = [
    ("ECOG101", "ECOG1TC", "ECOG1TN", "ECOG", "ECOG", None, None, (0, 4), True),
    ("CPS0106", "CPS01TC", "CPS01TN", "CHILD-PUGH CLASSIFICATION", "CHILDPGH", None, None, (5, 15), True),
    ("BCLC101", "BCLC1TC", "BCLC1TN", "BCLC", "BCLC", "BCLC", "BCLCSTG", None, True),
    ("AJCC101", "AJCC1TC", "AJCC1TN", "AJCC V7", "TNMT", "TNMT", "AJCCT7", None, False),
    ("AJCC102", "AJCC1TC", "AJCC1TN", "AJCC V7", "TNMN", "TNMN", "AJCCN7", None, False),
    ("AJCC103", "AJCC1TC", "AJCC1TN", "AJCC V7", "TNMM", "TNMM", "AJCCM7", None, False),
    ("AJCC105", "AJCC1TC", "AJCC1TN", "AJCC V7", "RESECT", "RESECT", "AJCCR", None, False),
]


def _baseline(s: pd.DataFrame) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """One record per classification per surgery record; queries for results that cannot be submitted."""
    ct = load_ct()
    parts, queries = [], []
    for order, (testcd, tc_list, tn_list, cat, field, raw_list, res_list, rng, preop) in enumerate(BASELINE):
        raw = s[field]
        if rng is not None:
            num = pd.to_numeric(raw, errors="coerce").astype("float64")
            bad = raw.notna() & ~(num.between(*rng) & (num % 1 == 0))
            queries.append(
                make_queries(
                    s[bad],
                    "surg",
                    field,
                    raw[bad],
                    "SCORE_OUT_OF_RANGE",
                    f"{testcd} result is not an integer from {rng[0]} to {rng[1]}; record held back",
                )
            )
            result = num.where(~bad).astype("Int64").astype("string").astype(object)
            stresn = num.where(~bad)
        else:
            assert res_list is not None  # every coded row of BASELINE names its result codelist
            result, bad = to_ct(raw, raw_list, res_list)
            queries.append(
                make_queries(
                    s[bad],
                    "surg",
                    field,
                    raw[bad],
                    "RESULT_NOT_IN_CT",
                    f"{testcd} result is not a term of codelist {res_list}; record held back",
                )
            )
            stresn = pd.Series(np.nan, index=s.index)
        keep = raw.notna() & ~bad
        rec = pd.DataFrame(index=s.index[keep])
        rec[["USUBJID", "SITEID", "SUBJID"]] = s.loc[keep, ["USUBJID", "SITEID", "SUBJID"]]
        rec["RSTESTCD"] = testcd
        rec["RSTEST"] = paired_value(ct, tc_list, tn_list, testcd)
        rec["RSCAT"] = cat
        rec["RSORRES"] = result[keep]
        rec["RSSTRESC"] = result[keep]
        rec["RSSTRESN"] = stresn[keep]
        rec["RSEVAL"] = "INVESTIGATOR"
        hep = s.loc[keep, "PRSTDAT"]
        rec["RSDTC"] = None if preop else hep
        rec["RSTPT"] = "PRE-OPERATIVE" if preop else None
        rec["RSTPTREF"] = "HEPATECTOMY" if preop else None
        rec["RSRFTDTC"] = hep if preop else None
        rec["RSTPTNUM"] = 1.0 if preop else np.nan
        rec["_planned"] = "HEPATECTOMY"  # the surgery form
        rec["_ord"] = order
        carry_lineage(rec, s.loc[keep])
        parts.append(rec)
    return stack(parts), queries


# --- follow-up assessments ---------------------------------------------------------------------


def _assessments(t: pd.DataFrame, hep: pd.Series) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """One OVRLRESP record per tumour assessment; ``hep`` is the hepatectomy date on ``t``'s index."""
    ct = load_ct()
    recur = t["RECUR"]
    result = recur.map({"Y": RELAPSED, "N": NED})
    unmapped = result.isna()
    queries = [
        make_queries(
            t[unmapped], "ta", "RECUR", recur[unmapped], "RECUR_UNMAPPED", "Recurrence is neither Y nor N; assessment held back"
        ),
    ]
    is_rec = recur.eq("Y")
    no_date = is_rec & t["RECURDAT"].isna()
    queries.append(
        make_queries(
            t[no_date],
            "ta",
            "RECURDAT",
            t.loc[no_date, "RECURDAT"],
            "RECURDAT_MISSING",
            "Recurrence = Y without a date of recurrence diagnosis; the assessment date dates the recurrence",
        )
    )
    stray = recur.eq("N") & t["RECURDAT"].notna()
    queries.append(
        make_queries(
            t[stray],
            "ta",
            "RECURDAT",
            t.loc[stray, "RECURDAT"],
            "RECURDAT_WITHOUT_RECURRENCE",
            "Date of recurrence given but Recurrence = N; not submitted (RSDTC = TADAT)",
        )
    )
    # RSDTC is the date of the assessment for NED and RELAPSED DISEASE alike: the recurrence is
    # dated at its first observation; the collected diagnosis date goes to SUPPRS (RECURDTC).
    rsdtc = t["TADAT"]
    _, hi = possible_range(rsdtc)
    early = hi < complete_date(hep)
    queries.append(
        make_queries(
            t[early],
            "ta",
            "TADAT",
            rsdtc[early],
            "BEFORE_HEPATECTOMY",
            "Assessment date before the hepatectomy (" + hep[early].astype(str) + ")",
        )
    )
    visit, _, unreadable = standard_visit(t["VISIT"])
    queries.append(
        make_queries(
            t[unreadable],
            "ta",
            "VISIT",
            t.loc[unreadable, "VISIT"],
            "VISIT_UNKNOWN",
            "Visit name is not a month after surgery; the assessment is an unscheduled visit by its date",
        )
    )
    keep = ~unmapped
    t = t[keep]
    out = pd.DataFrame(index=t.index)
    out[["USUBJID", "SITEID", "SUBJID"]] = t[["USUBJID", "SITEID", "SUBJID"]]
    out["RSTESTCD"] = "OVRLRESP"
    out["RSTEST"] = paired_value(ct, "ONCRTSCD", "ONCRTS", "OVRLRESP")
    out["RSCAT"] = "PROTOCOL-DEFINED RECURRENCE"
    out["RSORRES"] = result[keep]
    out["RSSTRESC"] = result[keep]
    out["RSSTRESN"] = np.nan
    out["RSEVAL"] = "INVESTIGATOR"
    out["VISIT"] = visit[keep]  # for the duplicate check; VISITNUM/VISIT are assigned after it
    out["_visit"] = t["VISIT"]
    out["RSDTC"] = rsdtc[keep]
    out["_ord"] = len(BASELINE)
    carry_lineage(out, t)
    return out, queries


def _duplicate_keys(out: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold back all but the first record sharing the natural keys (RSCAT, RSTESTCD, VISIT, RSDTC)."""
    keys = ["USUBJID", "RSCAT", "RSTESTCD", "VISIT", "RSDTC"]
    # Only the key columns are put in order ("first" = classification, then raw file and row).
    order = (
        out[["USUBJID", "_ord", "_file", "_row"]]
        .reset_index(drop=True)
        .sort_values(["USUBJID", "_ord", "_file", "_row"], kind="mergesort")
        .index.to_numpy()
    )
    later = out[keys].iloc[order].fillna({"VISIT": "", "RSDTC": ""}).duplicated(keys, keep="first").to_numpy()
    if not later.any():
        return out, empty_queries()
    held = out.iloc[order[later]]
    q = make_queries(
        held,
        "ta",
        "VISIT",
        held["VISIT"],
        "DUPLICATE_ASSESSMENT",
        "Another assessment of the subject has the same visit and date; record held back",
    )
    dup = np.zeros(len(out), dtype=bool)
    dup[order[later]] = True
    return out[~dup], q


def build(surg: FormExtract, ta: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """RS from the surgery form (classifications) and the tumour assessments (OVRLRESP)."""
    s = with_usubjid(surg.data)
    s, q_s = keep_dm_subjects(s, dm, "surg")
    t = with_usubjid(ta.data)
    t, q_t = keep_dm_subjects(t, dm, "ta")
    ref = dm_reference(dm).set_index("USUBJID")

    base, q_base = _baseline(s)
    follow, q_follow = _assessments(t, ref["RFSTDTC"].reindex(t["USUBJID"]).set_axis(t.index))
    out = stack([base, follow], ignore_index=True)
    out, q_dup = _duplicate_keys(out)

    out["STUDYID"] = load_study().studyid
    out["DOMAIN"] = "RS"
    r = ref.reindex(out["USUBJID"]).set_axis(out.index)
    out["RSDY"] = study_day(out["RSDTC"], r["RFSTDTC"])
    out["VISITNUM"], out["VISIT"] = assign_visits(out["USUBJID"], out["RSDTC"], r["RFSTDTC"], out["_visit"], out["_planned"])
    # An undated pre-operative record takes the EPOCH of its reference date, the hepatectomy (SCREENING).
    out["EPOCH"] = epoch_from_se(
        out["RSDTC"].where(out["RSDTC"].notna(), out["RSRFTDTC"]), out["USUBJID"], se.data, before_first=True
    )
    out = derive_seq(out, "RSSEQ", ["_ord", "RSDTC"])
    queries = pd.concat([q_s, q_t, *q_base, *q_follow, q_dup], ignore_index=True)
    return build_result(out, "rs", queries, "RSSEQ")
