"""LB — Laboratory Test Results: eligibility labs, pre-operative AFP and follow-up AFP.

Sponsor choices (specs/sdtm/lb.yaml):

- Three sources: the eligibility laboratory form (dated with the specimen date), the
  pre-operative AFP of the surgery form and the AFP of each follow-up tumour assessment
  (dated with the assessment; VISIT is the month after surgery in one English name, pipeline/sdtm/visits.py).
- The pre-operative AFP has no date: LBDTC is null and the record is timed by LBTPT =
  PRE-OPERATIVE relative to LBTPTREF = HEPATECTOMY at LBRFTDTC = the hepatectomy date.
- Test codes and units are CDISC terms (PLT -> PLAT, ng/mL -> ug/L through
  specs/ct/raw_to_sdtm.csv). LBSTRESN = LBORRES x the factor of specs/ct/lb_units.csv for
  (LBTESTCD, LBORRESU), in the test's standard unit; a unit the table does not list for the
  test cannot be standardised, so the record is held back as a query.
- Reference ranges are not collected (LBORNRLO/HI, LBSTNRLO/HI, LBNRIND empty).
- LBLOBXFL: per test, the last record with a result on or before the first sorafenib dose
  (the pre-operative AFP counts as before); sorafenib-exposed subjects only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.columns import stack
from pipeline.dates import complete_date, study_day
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import (
    DomainResult,
    build_result,
    carry_lineage,
    derive_seq,
    empty_queries,
    epoch_from_se,
    last_before_exposure,
    make_queries,
)
from pipeline.sdtm.subjects import keep_dm_subjects, with_usubjid
from pipeline.sdtm.visits import assign_visits, standard_visit
from pipeline.specs.ct import load_ct, load_lb_tests, load_lb_units, load_raw_to_sdtm, paired_value

DOMAIN = "LB"
INPUTS = {"lb": ["raw", "lb"], "surg": ["raw", "surg"], "ta": ["raw", "ta"], "dm": ["sdtm", "dm"], "se": ["sdtm", "se"]}

# Digits kept in LBSTRESN: removes binary noise of the multiplication (14.3 g/dL x 10 = 143.00000000000003).
STRESN_DECIMALS = 6


def number_text(x: pd.Series) -> pd.Series:
    """Numbers as text without a spurious ``.0`` (143.0 -> "143", 7.3 -> "7.3"); None where missing."""
    num = pd.to_numeric(x, errors="coerce").astype("float64")
    # Written once per distinct value (results repeat); distinct by bit pattern, so -0.0 keeps "-0".
    codes, bits = pd.factorize(num.to_numpy().view(np.int64))
    vals = pd.Series(bits.view(np.float64))
    txt = vals.astype(str).str.replace(r"\.0$", "", regex=True).where(vals.notna(), None).astype(object)
    return pd.Series(txt.to_numpy()[codes], index=num.index, name=num.name, dtype=object)


def _standardise(rec: pd.DataFrame, form: str, unit_field: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add LBORRESU (CDISC unit), LBSTRESU and LBSTRESN to ``rec`` (with LBTESTCD, _res, _unit).

    Records whose (test, unit) has no conversion in specs/ct/lb_units.csv, or whose unit is
    blank, are returned as queries instead.
    """
    units = load_lb_units()
    unit = rec["_unit"].map(load_raw_to_sdtm().get(("UNIT", "UNIT"), {})).fillna(rec["_unit"])
    # The conversion of each distinct (test, unit) pair is looked up once (a handful of pairs).
    t_codes, t_uniq = pd.factorize(rec["LBTESTCD"])
    u_codes, u_uniq = pd.factorize(unit)
    n_u = len(u_uniq) + 1
    pair, row_pair = np.unique((t_codes + 1).astype(np.int64) * n_u + (u_codes + 1), return_inverse=True)

    def lookup(p: int):
        ti, ui = divmod(int(p), n_u)  # 0: missing test or unit (never convertible)
        return units.get((t_uniq[ti - 1], u_uniq[ui - 1])) if ti and ui else None

    found = [lookup(p) for p in pair]
    row_pair = row_pair.reshape(-1)
    factor = np.array([np.nan if u is None else u.factor for u in found], dtype="float64")[row_pair]
    std = np.array([None if u is None else u.standard_unit for u in found], dtype=object)[row_pair]
    conv = pd.DataFrame({"std": std, "factor": factor})
    known = conv["factor"].notna().to_numpy()
    bad = rec[~known]
    blank = bad["_unit"].isna()
    message = pd.Series(
        np.where(
            blank,
            "Result " + number_text(bad["_res"]).astype(str) + " has no unit; it cannot be standardised",
            "Unit "
            + bad["_unit"].astype(str)
            + " is not a known unit for "
            + bad["LBTESTCD"].astype(str)
            + " (specs/ct/lb_units.csv); result cannot be standardised",
        ),
        index=bad.index,
    )
    queries = make_queries(bad, form, unit_field, bad["_unit"], "LB_UNIT_UNKNOWN", message + "; record held back")
    out = rec[known].copy()
    out["LBORRESU"] = unit[known].to_numpy()
    out["LBSTRESU"] = conv["std"].to_numpy()[known]
    out["LBSTRESN"] = (out["_res"].astype("float64") * conv["factor"].to_numpy()[known]).round(STRESN_DECIMALS)
    return out, queries


def _records(data: pd.DataFrame, testcd: pd.Series | str, res: str, unit: str, dtc: pd.Series | None) -> pd.DataFrame:
    """The common columns of one source's records."""
    out = carry_lineage(data[["STUDYID", "USUBJID", "SITEID", "SUBJID"]].copy(), data)
    out["LBTESTCD"] = testcd
    out["_res"] = pd.to_numeric(data[res]).astype("float64")
    out["_unit"] = data[unit]
    out["LBDTC"] = dtc if dtc is not None else None
    return out


def build(lb: FormExtract, surg: FormExtract, ta: FormExtract, dm: DomainResult, se: DomainResult) -> DomainResult:
    """LB from the eligibility labs, the surgery form's AFP and the follow-up AFP; --DY from DM.RFSTDTC, EPOCH from SE."""
    ct = load_ct()
    queries = [empty_queries()]
    parts = []

    # Eligibility laboratory form: CRF test codes to CDISC (PLT -> PLAT).
    e = with_usubjid(lb.data)
    e, q = keep_dm_subjects(e, dm, "lb")
    queries.append(q)
    e = e[e["LBORRES"].notna()]
    testcd = e["LBTESTCD"].map(load_raw_to_sdtm().get(("LBTEST", "LBTESTCD"), {})).fillna(e["LBTESTCD"])
    rec = _records(e, testcd, "LBORRES", "LBORRESU", e["LBDAT"])
    rec["_planned"] = "SCREENING"  # the eligibility form is the post-operative screening visit
    rec, q = _standardise(rec, "lb", "LBORRESU")
    queries.append(q)
    parts.append(rec)

    # Pre-operative AFP of the surgery form: no date, timed relative to the hepatectomy.
    s = with_usubjid(surg.data)
    s, q = keep_dm_subjects(s, dm, "surg")
    queries.append(q)
    s = s[s["AFP"].notna()]
    rec = _records(s, "AFP", "AFP", "AFPU", None)
    rec["LBTPT"] = "PRE-OPERATIVE"
    rec["LBTPTREF"] = "HEPATECTOMY"
    rec["LBRFTDTC"] = s["PRSTDAT"]
    rec["_planned"] = "HEPATECTOMY"
    rec, q = _standardise(rec, "surg", "AFPU")
    queries.append(q)
    parts.append(rec)

    # AFP at each follow-up tumour assessment (an assessment without AFP has no LB record).
    t = with_usubjid(ta.data)
    t = t[t["AFP"].notna()]
    t, q = keep_dm_subjects(t, dm, "ta")
    queries.append(q)
    rec = _records(t, "AFP", "AFP", "AFPU", t["TADAT"])
    rec["_visit"] = t["VISIT"]
    _, _, unreadable = standard_visit(t["VISIT"])
    queries.append(
        make_queries(
            t[unreadable],
            "ta",
            "VISIT",
            t.loc[unreadable, "VISIT"],
            "VISIT_UNKNOWN",
            "Visit name is not a month after surgery; the record is an unscheduled visit by its date",
        )
    )
    rec, q = _standardise(rec, "ta", "AFPU")
    queries.append(q)
    parts.append(rec)

    out = stack(parts, ignore_index=True)
    out["DOMAIN"] = "LB"
    names = {c: paired_value(ct, "LBTESTCD", "LBTEST", c) for c in out["LBTESTCD"].unique()}
    out["LBTEST"] = out["LBTESTCD"].map(names)
    tests = load_lb_tests()  # LBCAT and LBSPEC per test: specs/ct/lb_tests.csv
    out["LBCAT"] = out["LBTESTCD"].map({t.testcd: t.category for t in tests.values()})
    out["LBSPEC"] = out["LBTESTCD"].map({t.testcd: t.specimen for t in tests.values()})
    out["LBORRES"] = number_text(out["_res"])
    out["LBSTRESC"] = number_text(out["LBSTRESN"])
    ref = dm.data.set_index("USUBJID")
    rfstdtc = out["USUBJID"].map(ref["RFSTDTC"])
    preop = out["LBTPT"].eq("PRE-OPERATIVE")
    out["LBTPTNUM"] = np.where(preop, 1.0, np.nan)
    out["VISITNUM"], out["VISIT"] = assign_visits(out["USUBJID"], out["LBDTC"], rfstdtc, out["_visit"], out["_planned"])
    # An undated pre-operative record takes the EPOCH of its reference date, the hepatectomy (SCREENING).
    out["EPOCH"] = epoch_from_se(out["LBDTC"].where(~preop, out["LBRFTDTC"]), out["USUBJID"], se.data, before_first=True)
    out["LBDY"] = study_day(out["LBDTC"], rfstdtc)

    # Last observation before exposure: per subject and test, among results on or before RFXSTDTC.
    when = complete_date(out["LBDTC"])
    when[preop] = complete_date(out.loc[preop, "LBRFTDTC"])
    first_dose = out["USUBJID"].map(complete_date(ref["RFXSTDTC"]))
    before = out["LBSTRESN"].notna() & first_dose.notna() & (preop | (when <= first_dose))
    out["_dated"] = (~preop).astype(int)
    out["LBLOBXFL"] = last_before_exposure(out, ["LBTESTCD"], when, before, ["_dated"])

    out = derive_seq(out, "LBSEQ", ["LBTESTCD", "_dated", "LBDTC"])
    return build_result(out, "lb", pd.concat(queries, ignore_index=True), "LBSEQ")
