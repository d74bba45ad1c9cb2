"""Build each CRF form of one site from the canonical study tables, in the site's style.

``site_forms`` returns {form: DataFrame of cells (header = dictionary field order)} and the
list of injected problems; the writers then serialise the frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.synth._util import NA, categorical
from pipeline.synth.adverse_events import CRITERIA
from pipeline.synth.cohort import LAB_TESTS
from pipeline.synth.messiness import (
    AFP_UNITS,
    LAB_UNITS,
    LANG,
    LESION_IDS,
    ROMAN,
    UNKNOWN_UNITS,
    UNKNOWN_VERBATIMS,
    VISIT_LABELS,
    SiteStyle,
    impossible_date_text,
)

PROBLEM_KINDS = ("impossible_date", "unknown_verbatim", "invalid_grade", "unknown_unit")


@dataclass
class ProblemPlan:
    """Records chosen (globally, before rendering) to carry an injected problem.

    Each attribute maps a canonical row index to the field to corrupt:
    ae: {ae row: (field, kind)}, lb: {(subj, test): (field, kind)}, cm: {cm row: (field, kind)}.
    """

    ae: dict
    lb: dict
    cm: dict


def plan_problems(study, rng: np.random.Generator, rate: float, min_per_kind: int) -> ProblemPlan:
    """Choose which records get an injected problem: ``rate`` of eligible records (ae, lb, cm), >= min per kind."""
    ae, cm = study.ae, study.cm
    n_lb = len(study.cohort) * len(LAB_TESTS)
    eligible = len(ae) + n_lb + len(cm)
    total = max(round(rate * eligible), min_per_kind * len(PROBLEM_KINDS))
    per = {k: total // len(PROBLEM_KINDS) + (1 if i < total % len(PROBLEM_KINDS) else 0) for i, k in enumerate(PROBLEM_KINDS)}
    # AEs that changed the dose are never corrupted, so dose-modification truth stays derivable.
    ok_ae = np.nonzero(~ae["fatal"].to_numpy() & ae["action"].isin(["DOSE NOT CHANGED", "NOT APPLICABLE"]).to_numpy())[0]
    pick = rng.permutation(ok_ae)
    n_v, n_g = per["unknown_verbatim"], per["invalid_grade"]
    # Impossible dates: split between AE dates, lab dates and antiviral start dates.
    n_d = per["impossible_date"]
    n_dae, n_dlb = (n_d + 2) // 3, (n_d + 1) // 3
    n_dcm = n_d - n_dae - n_dlb
    has_end = ae["aeendat"].to_numpy() != NA
    full_start = ae["start_prec"].to_numpy() == 3
    plan_ae: dict = {}
    for r in pick[:n_v]:
        plan_ae[int(r)] = ("AETERM", "unknown_verbatim")
    for r in pick[n_v : n_v + n_g]:
        plan_ae[int(r)] = ("AETOXGR", "invalid_grade")
    rest = [int(r) for r in pick[n_v + n_g :] if full_start[r]]
    for r in rest[:n_dae]:
        plan_ae[r] = (
            ("AEENDAT", "impossible_date")
            if has_end[r] and ae["end_prec"].to_numpy()[r] == 3 and rng.random() < 0.5
            else ("AESTDAT", "impossible_date")
        )
    subj_lb = rng.choice(
        len(study.cohort), size=per["unknown_unit"] + n_dlb, replace=len(study.cohort) < per["unknown_unit"] + n_dlb
    )
    tests = rng.integers(0, len(LAB_TESTS), len(subj_lb))
    plan_lb: dict = {}
    for i, (s, t) in enumerate(zip(subj_lb, tests)):
        key = (int(s), LAB_TESTS[int(t)])
        if key in plan_lb:
            continue
        plan_lb[key] = ("LBORRESU", "unknown_unit") if i < per["unknown_unit"] else ("LBDAT", "impossible_date")
    full_cm = np.nonzero(cm["start_prec"].to_numpy() == 3)[0]
    plan_cm = {int(r): ("CMSTDAT", "impossible_date") for r in rng.permutation(full_cm)[:n_dcm]}
    return ProblemPlan(plan_ae, plan_lb, plan_cm)


def _const(value, k: int) -> np.ndarray:
    return np.full(k, value, dtype=object)


def _frame(spec_form, cols: dict) -> pd.DataFrame:
    names = spec_form.field_names
    missing = set(names) ^ set(cols)
    if missing:
        raise AssertionError(f"form {spec_form.name}: fields do not match the dictionary: {sorted(missing)}")
    return pd.DataFrame({k: cols[k] for k in names})


def site_forms(study, site: str, style: SiteStyle, spec, plan: ProblemPlan, mcal: dict, bcal: dict, *, crit_style: SiteStyle):
    """Render every form of ``site``.

    Returns (forms, problems, subjids): forms = {form: DataFrame}, problems = list of dicts
    (siteid, subjid, form, field, value, kind, record_key), subjids = written subject id
    per cohort row of this site (Series indexed by cohort row).
    """
    c = study.cohort
    rows = np.nonzero(c["siteid"].to_numpy() == site)[0]
    sc = c.iloc[rows]
    ids = pd.Series(style.subjid(sc["site_seq"].to_numpy()), index=rows)
    n = len(rows)
    forms: dict[str, pd.DataFrame] = {}
    problems: list[dict] = []
    rng = style.rng
    T = style.trailing_spaces

    def sid(subj):
        return ids.loc[np.asarray(subj)].to_numpy()

    # enrol
    forms["enrol"] = _frame(
        spec.forms["enrol"],
        {
            "SITEID": _const(site, n),
            "SUBJID": ids.to_numpy(),
            "SUBJINIT": sc["initials"].to_numpy(),
            "RFICDAT": style.dates(sc["consent"].to_numpy()),
            "ENRLDAT": style.dates(sc["enrol"].to_numpy()),
            "TRTGRP": T(style.codes(sc["arm"].to_numpy(), "TRTGRP")),
            "IEYN": T(style.yes_no(np.ones(n, bool))),
        },
    )
    # ie: every criterion, Y = inclusion met / exclusion absent (all enrolled subjects are eligible).
    crit = list(spec.codelists["IETESTCD"].values)
    k = len(crit)
    forms["ie"] = _frame(
        spec.forms["ie"],
        {
            "SITEID": _const(site, n * k),
            "SUBJID": np.repeat(ids.to_numpy(), k),
            "IETESTCD": np.tile(np.array(crit, dtype=object), n),
            "IEORRES": T(style.yes_no(np.ones(n * k, bool))),
        },
    )
    # dm
    name = sc["name_han"].to_numpy() if LANG[site] == "zh" else sc["name_pinyin"].to_numpy()
    if site == "104":
        name = np.array([x.upper() for x in name], dtype=object)
    ethnic = categorical(rng, bcal["ethnic_probs"], n)
    race = categorical(rng, bcal["race_probs"], n)
    forms["dm"] = _frame(
        spec.forms["dm"],
        {
            "SITEID": _const(site, n),
            "SUBJID": ids.to_numpy(),
            "PTNAME": name,
            "BRTHDAT": style.dates(sc["birth"].to_numpy()),
            "SEX": T(style.codes(sc["sex"].to_numpy(), "SEX")),
            "ETHNIC": T(style.codes(ethnic, "ETHNIC")),
            "RACE": T(style.codes(race, "RACE")),
        },
    )
    # surg
    afp_factor = mcal["afp_iu_per_ngml"] if site == "104" else 1.0
    forms["surg"] = _frame(
        spec.forms["surg"],
        {
            "SITEID": _const(site, n),
            "SUBJID": ids.to_numpy(),
            "PRSTDAT": style.dates(sc["surg"].to_numpy()),
            "PRTRT": T(
                style.codes(np.where(sc["anatomical"], "ANATOMICAL HEPATECTOMY", "NON-ANATOMICAL HEPATECTOMY"), "HEPTYPE")
            ),
            "RESECT": T(style.codes(np.full(n, "R0", dtype=object), "RESECT")),
            "MVI": T(style.yes_no(np.ones(n, bool))),
            "TUMSZ": style.numbers(sc["tumsz"].to_numpy(), 1),
            "TUMNUM": style.numbers(sc["tumnum"].to_numpy(), 0),
            "EDMGRD": T(style.codes(sc["edmgrd"].to_numpy(), "EDMGRD")),
            "BCLC": T(style.codes(sc["bclc"].to_numpy(), "BCLC")),
            "TNMT": T(style.codes(sc["tnmt"].to_numpy(), "TNMT")),
            "TNMN": T(style.codes(np.full(n, "N0", dtype=object), "TNMN")),
            "TNMM": T(style.codes(np.full(n, "M0", dtype=object), "TNMM")),
            "CIRRH": T(style.yes_no(sc["cirrhosis"].to_numpy())),
            "HBSAG": T(style.codes(np.where(sc["hbsag"], "POSITIVE", "NEGATIVE"), "POSNEG")),
            "ANTIHCV": T(style.codes(np.where(sc["antihcv"], "POSITIVE", "NEGATIVE"), "POSNEG")),
            "AFP": style.numbers(sc["afp"].to_numpy() * afp_factor, 1),
            "AFPU": T(np.full(n, AFP_UNITS[site], dtype=object)),
            "CHILDPGH": style.numbers(sc["childpugh"].to_numpy(), 0),
            "ECOG": style.numbers(sc["ecog"].to_numpy(), 0),
        },
    )
    # lb: one row per test at the eligibility date, in the site's units.
    nt = len(LAB_TESTS)
    lsubj = np.repeat(rows, nt)
    ltest = np.tile(np.array(LAB_TESTS, dtype=object), n)
    units = LAB_UNITS[site]
    vals = np.empty(n * nt, dtype=object)
    unit = np.empty(n * nt, dtype=object)
    for j, t in enumerate(LAB_TESTS):
        u_, f_, d_ = units[t]
        sel = slice(j, None, nt)
        vals[sel] = style.numbers(sc[f"lab_{t}"].to_numpy() * f_, d_)
        unit[sel] = u_
    lbdat = style.dates(np.repeat(sc["lbdat"].to_numpy(), nt))
    lb_cols = {
        "SITEID": _const(site, n * nt),
        "SUBJID": sid(lsubj),
        "LBDAT": lbdat,
        "LBTESTCD": T(style.codes(ltest, "LBTEST")),
        "LBORRES": vals,
        "LBORRESU": T(unit),
    }
    local = {int(r): i for i, r in enumerate(rows)}
    for (s, t), (fld, kind) in plan.lb.items():
        if s not in local:
            continue
        p = local[s] * nt + LAB_TESTS.index(t)
        value = UNKNOWN_UNITS[t] if kind == "unknown_unit" else impossible_date_text(site, int(c["lbdat"].iat[s]))
        lb_cols[fld][p] = value
        problems.append(
            {
                "siteid": site,
                "subjid": lb_cols["SUBJID"][p],
                "form": "lb",
                "field": fld,
                "value": value,
                "kind": kind,
                "record_key": f"LBTESTCD={lb_cols['LBTESTCD'][p].strip()}",
                "_row": p,
            }
        )
    forms["lb"] = _frame(spec.forms["lb"], lb_cols)

    # ex
    ex = study.ex[np.isin(study.ex["subj"].to_numpy(), rows)]
    m = len(ex)
    forms["ex"] = _frame(
        spec.forms["ex"],
        {
            "SITEID": _const(site, m),
            "SUBJID": sid(ex["subj"]),
            "EXTRT": T(style.codes(np.full(m, "SORAFENIB", dtype=object), "DRUG")),
            "EXSTDAT": style.dates(ex["exstdat"].to_numpy()),
            "EXENDAT": style.dates(ex["exendat"].to_numpy()),
            "EXDOSE": style.numbers(ex["dose"].to_numpy(), 0),
            "EXDOSU": T(style.codes(np.full(m, "mg", dtype=object), "UNIT")),
            "EXDOSFRQ": T(style.codes(ex["freq"].to_numpy(), "FREQ")),
            "EXADJ": T(style.codes(ex["exadj"].to_numpy(), "DOSADJ")),
        },
    )

    # ae
    ae = study.ae[np.isin(study.ae["subj"].to_numpy(), rows)]
    m = len(ae)
    grade = style.codes(ae["grade"].astype(str).to_numpy(), "GRADE")
    ongo = style.yes_no(ae["ongoing"].to_numpy())
    if site == "103":  # site 103 ticks "ongoing" only when it is
        ongo = np.where(ae["ongoing"].to_numpy(), ongo, "").astype(object)
    ae_cols = {
        "SITEID": _const(site, m),
        "SUBJID": sid(ae["subj"]),
        "AESPID": style.numbers(ae["aespid"].to_numpy(), 0),
        "AETERM": T(style.ae_terms(ae["term"].to_numpy())),
        "AESTDAT": style.dates(ae["start"].to_numpy(), ae["start_prec"].to_numpy()),
        "AEENDAT": style.dates(ae["aeendat"].to_numpy(), ae["end_prec"].to_numpy()),
        "AEONGO": T(ongo),
        "AETOXGR": T(grade),
        "AESER": T(style.yes_no(ae["serious"].to_numpy())),
        "AEREL": T(style.codes(ae["rel"].to_numpy(), "AEREL")),
        "AEACN": T(style.codes(ae["action"].to_numpy(), "ACN")),
        "AEOUT": T(style.codes(ae["outcome"].to_numpy(), "OUT")),
    }
    # Seriousness criteria: asked only for a serious AE; spelled with a stream of their own.
    serious = ae["serious"].to_numpy(dtype=bool)
    for fld in CRITERIA:
        cells = np.full(m, "", dtype=object)
        cells[serious] = crit_style.yes_no(ae[fld].to_numpy()[serious].astype(bool))
        ae_cols[fld] = crit_style.trailing_spaces(cells)
    ae_rows = ae.index.to_numpy()
    for p, r in enumerate(ae_rows):
        if int(r) not in plan.ae:
            continue
        fld, kind = plan.ae[int(r)]
        if kind == "unknown_verbatim":
            pool = UNKNOWN_VERBATIMS[LANG[site]]
            value = pool[int(rng.random() * len(pool))]
        elif kind == "invalid_grade":
            value = {"101": "6", "102": "6级", "103": "6级", "104": ROMAN["6"]}[site]
        else:
            src = ae["start"].iat[p] if fld == "AESTDAT" else ae["aeendat"].iat[p]
            value = impossible_date_text(site, int(src))
        ae_cols[fld][p] = value
        problems.append(
            {
                "siteid": site,
                "subjid": ae_cols["SUBJID"][p],
                "form": "ae",
                "field": fld,
                "value": value,
                "kind": kind,
                "record_key": f"AESPID={int(ae['aespid'].iat[p])}",
                "_row": p,
            }
        )
    forms["ae"] = _frame(spec.forms["ae"], ae_cols)
    study.ae.loc[ae_rows, "verbatim"] = ae_cols["AETERM"]
    study.ae.loc[ae_rows, "aetoxgr_written"] = ae_cols["AETOXGR"]

    # ta
    ta = study.ta[np.isin(study.ta["subj"].to_numpy(), rows)]
    m = len(ta)
    vl = VISIT_LABELS[site]
    measured = ~np.isnan(ta["afp"].to_numpy())
    forms["ta"] = _frame(
        spec.forms["ta"],
        {
            "SITEID": _const(site, m),
            "SUBJID": sid(ta["subj"]),
            "VISIT": T(np.array([vl(int(x)) for x in ta["visit_month"]], dtype=object)),
            "TADAT": style.dates(ta["tadat"].to_numpy()),
            "TAMETHOD": T(style.codes(ta["method"].to_numpy(), "METHOD")),
            "AFP": style.numbers(ta["afp"].to_numpy() * afp_factor, 1),
            "AFPU": np.where(measured, AFP_UNITS[site], "").astype(object),
            "RECUR": T(style.yes_no(ta["recur"].to_numpy())),
            "RECURDAT": style.dates(ta["recurdat"].to_numpy(), ta["recurdat_prec"].to_numpy()),
        },
    )
    # nl
    nl = study.nl[np.isin(study.nl["subj"].to_numpy(), rows)]
    m = len(nl)
    li = LESION_IDS[site]
    forms["nl"] = _frame(
        spec.forms["nl"],
        {
            "SITEID": _const(site, m),
            "SUBJID": sid(nl["subj"]),
            "TADAT": style.dates(nl["tadat"].to_numpy()),
            "LESID": np.array([li(int(x)) for x in nl["lesno"]], dtype=object),
            "LESLOC": T(style.codes(nl["loc"].to_numpy(), "LOC")),
            "LIVSEG": T(style.codes(nl["livseg"].to_numpy(), "LIVSEG")),
            "LESSZ": style.numbers(nl["size_mm"].to_numpy(), 0),
            "LESSITE": T(style.codes(nl["lessite"].to_numpy(), "LESSITE")),
            "DIAGBAS": T(style.codes(nl["diagbas"].to_numpy(), "DIAGBAS")),
        },
    )
    # surv
    sv = study.surv[np.isin(study.surv["subj"].to_numpy(), rows)]
    m = len(sv)
    forms["surv"] = _frame(
        spec.forms["surv"],
        {
            "SITEID": _const(site, m),
            "SUBJID": sid(sv["subj"]),
            "CONTDAT": style.dates(sv["contdat"].to_numpy()),
            "SURVSTAT": T(style.codes(sv["status"].to_numpy(), "SURVSTAT")),
            "DTHDAT": style.dates(sv["dthdat"].to_numpy()),
            "DTHCAUS": T(style.codes(sv["dthcaus"].to_numpy(), "DTHCAUS")),
        },
    )
    # ds
    ds = study.ds[np.isin(study.ds["subj"].to_numpy(), rows)]
    m = len(ds)
    forms["ds"] = _frame(
        spec.forms["ds"],
        {
            "SITEID": _const(site, m),
            "SUBJID": sid(ds["subj"]),
            "DSCAT": T(style.codes(ds["dscat"].to_numpy(), "DSCAT")),
            "DSSTDAT": style.dates(ds["date"].to_numpy()),
            "DSDECOD": T(style.codes(ds["reason"].to_numpy(), "DSREAS")),
        },
    )
    # cm
    cm = study.cm[np.isin(study.cm["subj"].to_numpy(), rows)]
    m = len(cm)
    cmongo = style.yes_no(cm["ongoing"].to_numpy())
    cm_cols = {
        "SITEID": _const(site, m),
        "SUBJID": sid(cm["subj"]),
        "CMSPID": style.numbers(cm["cmspid"].to_numpy(), 0),
        "CMTRT": T(style.codes(cm["drug"].to_numpy(), "ANTIVIR")),
        "CMDOSE": style.numbers(cm["dose"].to_numpy(), 1)
        if site != "103"
        else np.array([float(x) for x in cm["dose"]], dtype=object),
        "CMDOSU": T(style.codes(np.full(m, "mg", dtype=object), "UNIT")),
        "CMDOSFRQ": T(style.codes(np.full(m, "QD", dtype=object), "FREQ")),
        "CMSTDAT": style.dates(cm["start"].to_numpy(), cm["start_prec"].to_numpy()),
        "CMENDAT": style.dates(cm["end"].to_numpy()),
        "CMONGO": T(cmongo),
    }
    for p, r in enumerate(cm.index.to_numpy()):
        if int(r) in plan.cm:
            fld, kind = plan.cm[int(r)]
            value = impossible_date_text(site, int(cm["start"].iat[p]))
            cm_cols[fld][p] = value
            problems.append(
                {
                    "siteid": site,
                    "subjid": cm_cols["SUBJID"][p],
                    "form": "cm",
                    "field": fld,
                    "value": value,
                    "kind": kind,
                    "record_key": f"CMSPID={int(cm['cmspid'].iat[p])}",
                    "_row": p,
                }
            )
    forms["cm"] = _frame(spec.forms["cm"], cm_cols)

    # Re-export duplicates: a few exact copies, placed right after their original.
    bad = {(p["form"], p["_row"]) for p in problems}
    for form in mcal["duplicate_forms"].get(site, []):
        df = forms[form]
        if not len(df):
            continue
        dup = rng.random(len(df)) < mcal["p_duplicate_row"]
        dup &= np.array([(form, i) not in bad for i in range(len(df))])
        if dup.any():
            order = np.concatenate([np.arange(len(df)), np.nonzero(dup)[0]])
            forms[form] = df.iloc[np.sort(order, kind="stable")].reset_index(drop=True)
    for prob in problems:
        del prob["_row"]
    return forms, problems, ids
