"""The analysis results dataset (ARD): every number a report display shows, one row per statistic.

Built once from ADaM (ADSL, ADTTE, ADAE, ADEX); the displays (``pipeline/tlf/t*.py``,
``l*.py``), the CDISC ARS reporting event and the endpoint table read it and compute nothing.
Each row names its analysis (``ANALYSIS_ID``, declared in ``specs/analysis/analyses.yaml``), the
operation that gave the number (``OPERATION_ID``: ``n``, ``pct``, ``mean``, ``est``, ``lcl``, ...),
the analysis set, the grouping and group, the data subset, up to two categories (a baseline
characteristic's value, a SOC and a PT), a time point, the value at full precision and its
denominator (``DENOM``: the subjects analysed in the group).

Percentages are of the group's subjects in the analysis set; continuous statistics ignore missing
values (``n`` says how many were used).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from pipeline.analysis.endpoints import efficacy_results
from pipeline.columns import isin
from pipeline.specs.analysis import Analysis, load_analyses

ARD_COLS = [
    "ANALYSIS_ID",
    "OPERATION_ID",
    "ANALYSIS_SET",
    "GROUPING_ID",
    "GROUP",
    "SUBSET",
    "CAT1",
    "CAT2",
    "TIMEPOINT",
    "VALUE",
    "DENOM",
]
KEY_COLS = [c for c in ARD_COLS if c not in ("VALUE", "DENOM")]
TOTAL = "TOTAL"  # a statistic over every subject of the analysis set (no grouping)
MISSING = "Missing"


def _rows(
    a: Analysis, group: str, values: dict[str, float], denom: float, cat1="", cat2="", timepoint="", subset: str | None = None
) -> list[dict]:
    return [
        {
            "ANALYSIS_ID": a.id,
            "OPERATION_ID": op,
            "ANALYSIS_SET": a.analysis_set,
            "GROUPING_ID": a.grouping,
            "GROUP": group,
            "SUBSET": a.subset if subset is None else subset,
            "CAT1": cat1,
            "CAT2": cat2,
            "TIMEPOINT": timepoint,
            "VALUE": float(v) if v is not None else np.nan,
            "DENOM": float(denom),
        }
        for op, v in values.items()
    ]


def _pct(n: float, d: float) -> float:
    return 100.0 * n / d if d else np.nan


def population(adsl: pd.DataFrame, a: Analysis) -> pd.DataFrame:
    """The analysis set's subjects (ADSL rows with FASFL/SAFFL = Y) with their group in ``_GROUP``."""
    flag = {"FAS": "FASFL", "SAF": "SAFFL"}[a.analysis_set]
    s = adsl[adsl[flag].eq("Y")].copy()
    grouping = {"TRT01P": "TRT01P", "TRT01A": "TRT01A", "TRTA": "TRT01A"}[a.grouping]
    s["_GROUP"] = s[grouping]
    return s


def _groups(pop: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return [(str(g), d) for g, d in pop.groupby("_GROUP", sort=True)]


def continuous(a: Analysis, pop: pd.DataFrame) -> list[dict]:
    """n, mean, SD, median, min, max of ``a.variable`` per group."""
    rows = []
    for g, d in _groups(pop):
        v = pd.to_numeric(d[a.variable], errors="coerce").dropna()
        stats = {
            "n": len(v),
            "mean": v.mean() if len(v) else np.nan,
            "sd": v.std() if len(v) > 1 else np.nan,
            "median": v.median() if len(v) else np.nan,
            "min": v.min() if len(v) else np.nan,
            "max": v.max() if len(v) else np.nan,
        }
        rows += _rows(a, g, stats, len(d))
    return rows


def categorical(a: Analysis, pop: pd.DataFrame) -> list[dict]:
    """n and % of subjects per value of ``a.variable`` (declared order; missing values as "Missing")."""
    rows = []
    for g, d in _groups(pop):
        v = d[a.variable].astype("object").where(d[a.variable].notna(), MISSING).astype(str)
        levels = list(a.levels) or sorted(set(v) - {MISSING})
        if (v == MISSING).any() and not a.omit_missing:
            levels.append(MISSING)
        for lev in levels:
            k = int((v == lev).sum())
            rows += _rows(a, g, {"n": k, "pct": _pct(k, len(d))}, len(d), cat1=lev)
    return rows


def subjects(a: Analysis, pop: pd.DataFrame) -> list[dict]:
    """The number of subjects per group (the N of the column headers)."""
    return [r for g, d in _groups(pop) for r in _rows(a, g, {"n": len(d)}, len(d))]


def _te(adae: pd.DataFrame, pop: pd.DataFrame, where: str | None) -> pd.DataFrame:
    """Treatment-emergent AEs of the population's subjects, optionally filtered by a pandas query."""
    te = adae[adae["TRTEMFL"].eq("Y") & isin(adae["USUBJID"], pop["USUBJID"])]
    te = te.merge(pop[["USUBJID", "_GROUP"]], on="USUBJID", how="inner")
    return te.query(where, engine="python") if where else te


def ae_overview(a: Analysis, pop: pd.DataFrame, adae: pd.DataFrame) -> list[dict]:
    """Subjects with at least one TEAE of each category of the overview (n, %)."""
    rows = []
    for g, d in _groups(pop):
        for cat in a.categories:
            te = _te(adae, d, cat.where)
            k = te["USUBJID"].nunique()
            rows += _rows(a, g, {"n": k, "pct": _pct(k, len(d))}, len(d), cat1=cat.label)
    return rows


def ae_soc_pt(a: Analysis, pop: pd.DataFrame, adae: pd.DataFrame) -> list[dict]:
    """Subjects with a TEAE (of the subset) by SOC and PT (n, %); CAT1 = SOC, CAT2 = PT ("" = any PT)."""
    rows = []
    for g, d in _groups(pop):
        te = _te(adae, d, a.where)
        k = te["USUBJID"].nunique()
        rows += _rows(a, g, {"n": k, "pct": _pct(k, len(d))}, len(d), cat1="ANY")
        for soc, s in te.groupby("AEBODSYS", sort=True):
            k = s["USUBJID"].nunique()
            rows += _rows(a, g, {"n": k, "pct": _pct(k, len(d))}, len(d), cat1=soc)
            for pt, p in s.groupby("AEDECOD", sort=True):
                k = p["USUBJID"].nunique()
                rows += _rows(a, g, {"n": k, "pct": _pct(k, len(d))}, len(d), cat1=soc, cat2=pt)
    return rows


def ae_worst_grade(a: Analysis, pop: pd.DataFrame, adae: pd.DataFrame) -> list[dict]:
    """Subjects by their worst CTCAE grade of each PT (n, %): CAT1 = PT ("ANY" = any TEAE), CAT2 = grade."""
    rows = []
    for g, d in _groups(pop):
        te = _te(adae, d, a.where)
        parts = [("ANY", te), *((pt, p) for pt, p in te.groupby("AEDECOD", sort=True))]
        for pt, p in parts:
            worst = p.groupby("USUBJID")["ATOXGRN"].max()
            for grade in range(1, 6):
                k = int(worst.eq(grade).sum())
                rows += _rows(a, g, {"n": k, "pct": _pct(k, len(d))}, len(d), cat1=pt, cat2=f"Grade {grade}")
    return rows


def exposure(a: Analysis, pop: pd.DataFrame, adex: pd.DataFrame) -> list[dict]:
    """n, mean, SD, median, min, max of ADEX.AVAL for the parameter ``a.paramcd`` per group."""
    rows = []
    ex = adex[adex["PARAMCD"].eq(a.paramcd) & isin(adex["USUBJID"], pop["USUBJID"])]
    ex = ex.merge(pop[["USUBJID", "_GROUP"]], on="USUBJID")
    for g, d in _groups(pop):
        v = ex.loc[ex["_GROUP"].eq(g), "AVAL"].dropna()
        if not len(v):
            continue
        stats = {
            "n": len(v),
            "mean": v.mean(),
            "sd": v.std() if len(v) > 1 else np.nan,
            "median": v.median(),
            "min": v.min(),
            "max": v.max(),
        }
        rows += _rows(a, g, stats, len(d))
    return rows


def tte_events(a: Analysis, pop: pd.DataFrame, adtte: pd.DataFrame) -> list[dict]:
    """Subjects by outcome of ``a.paramcd``: any event (CNSR = 0), each event or competing-event kind (its
    EVNTDESC), and censored, n (%)."""
    t = adtte[adtte["PARAMCD"].eq(a.paramcd) & isin(adtte["USUBJID"], pop["USUBJID"])]
    t = t.merge(pop[["USUBJID", "_GROUP"]], on="USUBJID")
    # CNSR 0: the event, named by EVNTDESC; a censoring with an EVNTDESC is a competing event (TTR: death
    # without recurrence, CNSR 4); any other censoring is "Censored".
    desc = t["EVNTDESC"].astype("object")
    outcome = desc.where(t["CNSR"].eq(0) | desc.notna(), "Censored").fillna("Event")
    t = t.assign(_OUT=outcome.astype(str).str.capitalize())
    kinds = sorted(set(t["_OUT"]) - {"Censored"}) + ["Censored"]
    rows = []
    for g, d in _groups(pop):
        tg = t[t["_GROUP"].eq(g)]
        ev = int(tg["CNSR"].eq(0).sum())
        rows += _rows(a, g, {"n": ev, "pct": _pct(ev, len(d))}, len(d), cat1="Any event")
        for k in kinds:
            n = int(tg["_OUT"].eq(k).sum())
            rows += _rows(a, g, {"n": n, "pct": _pct(n, len(d))}, len(d), cat1=k)
    return rows


def deaths(a: Analysis, pop: pd.DataFrame) -> list[dict]:
    """Subjects who died (ADSL.DTHFL = Y), n and %, per group."""
    rows = []
    for g, d in _groups(pop):
        k = int(d["DTHFL"].eq("Y").sum())
        rows += _rows(a, g, {"n": k, "pct": _pct(k, len(d))}, len(d))
    return rows


# The efficacy analyses: which rows of the endpoint engine (pipeline/analysis/endpoints.py) they are.
_EFFICACY_STATS = {
    "KM rate": ("est", "lcl", "ucl"),
    "Median (months)": ("est", "lcl", "ucl"),
    "Cumulative incidence": ("est", "lcl", "ucl"),
    "Log-rank p-value": ("p",),
    "Hazard ratio (unadjusted)": ("est", "lcl", "ucl"),
    "Hazard ratio (adjusted)": ("est", "lcl", "ucl"),
}


class ArdMappingError(ValueError):
    """The endpoint engine's statistics and the survival analyses of analyses.yaml do not match by name."""


def check_efficacy_mapping(analyses: Iterable[Analysis], results: pd.DataFrame) -> None:
    """Raise :class:`ArdMappingError` unless every engine row and every survival analysis meet by statistic name.

    The engine's rows (``STATISTIC`` of pipeline/analysis/survival.py) and the analyses' ``statistic:``
    (specs/analysis/analyses.yaml) meet in ``_EFFICACY_STATS``; a name renamed on one side would drop
    ARD rows silently. Errors, each naming both sides:

    - an engine row whose statistic ``_EFFICACY_STATS`` does not map, or that no survival analysis declares;
    - an analysis whose statistic ``_EFFICACY_STATS`` does not map;
    - an analysis whose statistic no engine row has, although the engine analysed its PARAMCD (a
      statistic not estimable on a small study, e.g. a log-rank test without events, is left out by
      the engine for that PARAMCD only, so it still occurs for another).
    """
    analyses = list(analyses)
    declared = sorted({str(a.statistic) for a in analyses})
    produced = sorted(set(results["STATISTIC"].astype(str))) if len(results) else []
    problems: list[str] = []
    for stat in produced:
        if stat not in _EFFICACY_STATS or stat not in declared:
            params = sorted(set(results.loc[results["STATISTIC"].astype(str).eq(stat), "PARAMCD"].astype(str)))
            side = (
                "has no mapping in pipeline/tlf/ard.py _EFFICACY_STATS"
                if stat not in _EFFICACY_STATS
                else ("is declared by no survival analysis")
            )
            problems.append(
                f"endpoint engine statistic {stat!r} (PARAMCD {', '.join(params)}) {side}; "
                f"specs/analysis/analyses.yaml declares statistic: {declared}"
            )
    params_done = set(results["PARAMCD"].astype(str)) if len(results) else set()
    for a in analyses:
        if a.statistic not in _EFFICACY_STATS:
            problems.append(
                f"analysis {a.id} (specs/analysis/analyses.yaml) statistic {a.statistic!r} has no mapping in "
                f"pipeline/tlf/ard.py _EFFICACY_STATS; the endpoint engine produces: {produced}"
            )
        elif a.paramcd in params_done and a.statistic not in produced:
            problems.append(
                f"analysis {a.id} (specs/analysis/analyses.yaml) statistic {a.statistic!r}: the endpoint engine "
                f"(pipeline/analysis/endpoints.py) produced no such row for any PARAMCD; it produces: {produced}"
            )
    if problems:
        raise ArdMappingError("ARD efficacy rows do not match the endpoint engine:\n- " + "\n- ".join(problems))


def efficacy(analyses: Iterable[Analysis], results: pd.DataFrame, adsl: pd.DataFrame) -> list[dict]:
    """The survival analyses' rows: KM landmarks, medians, cumulative incidence, log-rank, Cox HRs.

    ``results``: the endpoint engine's rows (pipeline/analysis/endpoints.py, one run for the study),
    each mapped to the analysis declaring its PARAMCD and statistic. Group = the arm (TRT01P), or
    ``SORAFENIB vs CONTROL`` for comparisons. Statistic names that do not meet raise
    :class:`ArdMappingError` (:func:`check_efficacy_mapping`); an engine row of a mapped statistic
    whose PARAMCD no analysis declares (the adjusted TTR hazard ratio) is in endpoints.csv only.
    """
    analyses = list(analyses)
    check_efficacy_mapping(analyses, results)
    by_key = {(a.paramcd, a.statistic): a for a in analyses}
    fas = adsl[adsl["FASFL"].eq("Y")]
    n_by_arm = fas.groupby("TRT01P")["USUBJID"].nunique()
    at_risk = "N_AT_RISK" if "N_AT_RISK" in results.columns else "N"
    rows = []
    for r in results.to_dict("records"):
        a = by_key.get((r["PARAMCD"], r["STATISTIC"]))
        if a is None:
            continue
        ops = _EFFICACY_STATS[r["STATISTIC"]]
        vals = dict(zip(ops, (r["VALUE"], r["LCL"], r["UCL"]), strict=False))
        denom = float(n_by_arm.get(r["ARM"], len(fas)))
        if r["STATISTIC"] == "KM rate":
            vals["n_at_risk"] = r[at_risk]
        tp = r["TIMEPOINT"]
        rows += _rows(a, str(r["ARM"]), vals, denom, timepoint="" if pd.isna(tp) else str(tp))
    return rows


def build_ard(
    adsl: pd.DataFrame, adtte: pd.DataFrame, adae: pd.DataFrame, adex: pd.DataFrame, endpoint_results: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The ARD of the study: every analysis of ``specs/analysis/analyses.yaml`` on the ADaM datasets.

    ``endpoint_results``: the endpoint engine's rows when already computed (the ``tlf/ard`` asset
    computes them once and publishes endpoints.csv from the same frame); else computed here. Its
    time-to-event rows (PARAMCD of ADTTE) must meet the survival analyses by statistic name
    (:func:`check_efficacy_mapping`).

    Rows in analysis order (as declared), then in the order each analysis produces them (groups
    sorted, categories in their declared or sorted order), so the bytes are stable.
    """
    analyses = load_analyses()
    rows: list[dict] = []
    eff = [a for a in analyses if a.kind == "survival"]
    for a in analyses:
        if a.kind == "survival":
            continue
        pop = population(adsl, a)
        if a.kind == "subjects":
            rows += subjects(a, pop)
        elif a.kind == "continuous":
            rows += continuous(a, pop)
        elif a.kind == "categorical":
            rows += categorical(a, pop)
        elif a.kind == "ae_overview":
            rows += ae_overview(a, pop, adae)
        elif a.kind == "ae_soc_pt":
            rows += ae_soc_pt(a, pop, adae)
        elif a.kind == "ae_worst_grade":
            rows += ae_worst_grade(a, pop, adae)
        elif a.kind == "exposure":
            rows += exposure(a, pop, adex)
        elif a.kind == "deaths":
            rows += deaths(a, pop)
        elif a.kind == "tte_events":
            rows += tte_events(a, pop, adtte)
        else:  # pragma: no cover - the spec loader refuses unknown kinds
            raise ValueError(f"analysis {a.id}: unknown kind {a.kind!r}")
    if endpoint_results is None:
        endpoint_results = efficacy_results(adtte, adsl)
    # The time-to-event rows (PARAMCD of ADTTE); the safety rows beside them are computed here from ADaM.
    tte = endpoint_results[isin(endpoint_results["PARAMCD"], adtte["PARAMCD"].dropna().unique())]
    rows += efficacy(eff, tte, adsl)
    ard = pd.DataFrame(rows, columns=ARD_COLS)
    order = {a.id: i for i, a in enumerate(analyses)}
    ard["_o"] = ard["ANALYSIS_ID"].map(order)
    ard = ard.sort_values("_o", kind="mergesort").drop(columns="_o")
    return ard.reset_index(drop=True)


def lookup(ard: pd.DataFrame) -> dict[tuple, float]:
    """(ANALYSIS_ID, OPERATION_ID, GROUP, CAT1, CAT2, TIMEPOINT) -> VALUE, for the displays."""
    keys = zip(ard["ANALYSIS_ID"], ard["OPERATION_ID"], ard["GROUP"], ard["CAT1"], ard["CAT2"], ard["TIMEPOINT"], strict=True)
    return dict(zip(keys, ard["VALUE"], strict=True))
