"""The CDISC Analysis Results Standard (ARS v1.0) reporting event of the report, and its checks.

:func:`reporting_event` turns the specs (analyses, methods, displays) and the ARD into a
``ReportingEvent``: analysis sets, grouping factors (treatment; data-driven factors for the
categories an analysis is broken down by: a characteristic's value, SOC, PT, worst grade, outcome,
time point), data subsets, methods with their operations, analyses with every result (raw value
at full precision, formatted value by the operation's pattern), outputs with their files and
display sections, and the main list of contents (each output with its analyses).

:func:`schema_errors` validates against the ARS JSON schema shipped in
``specs/standards/ars/ars_ldm.json``; :func:`reference_errors` checks what the schema does not:
every id referenced resolves, ids are unique, and every analysis is in the list of contents.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import pandas as pd

from pipeline.specs.analysis import GROUPINGS, SETS, Analysis, load_analyses, load_displays, load_methods
from pipeline.specs.paths import SPECS_DIR
from pipeline.specs.study import load_study
from pipeline.tlf import fmt

SCHEMA = SPECS_DIR / "standards" / "ars" / "ars_ldm.json"
DATASET = {
    "subjects": "ADSL",
    "continuous": "ADSL",
    "categorical": "ADSL",
    "deaths": "ADSL",
    "ae_overview": "ADAE",
    "ae_soc_pt": "ADAE",
    "ae_worst_grade": "ADAE",
    "exposure": "ADEX",
    "tte_events": "ADTTE",
    "survival": "ADTTE",
}
# The categories of the ARD (CAT1, CAT2) per kind: the data-driven grouping factor each one is.
CATEGORY_FACTORS = {
    "ae_overview": ("GF_TEAE_CATEGORY", None),
    "ae_soc_pt": ("GF_AEBODSYS", "GF_AEDECOD"),
    "ae_worst_grade": ("GF_AEDECOD", "GF_WORSTGR"),
    "tte_events": ("GF_OUTCOME", None),
}
FACTOR_NAMES = {
    "GF_TEAE_CATEGORY": ("Category of treatment-emergent adverse event", "ADAE", None),
    "GF_AEBODSYS": ("System organ class", "ADAE", "AEBODSYS"),
    "GF_AEDECOD": ("Preferred term", "ADAE", "AEDECOD"),
    "GF_WORSTGR": ("Worst CTCAE grade", "ADAE", "ATOXGRN"),
    "GF_OUTCOME": ("Outcome of the time-to-event parameter", "ADTTE", "EVNTDESC"),
    "GF_TIMEPOINT": ("Analysis time point", "ADTTE", "AVAL"),
}
ANY = "ANY"
COMPARISON = " vs "
PRIMARY = "RFS"  # the protocol's primary endpoint: recurrence-free survival
PROTOCOL_ENDPOINTS = {"RFS", "TTR", "OS"}


def _id(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9]+", "", p).upper() or "X" for p in parts)


def _condition(text: str) -> dict[str, Any]:
    """``ADTTE.PARAMCD = RFS`` -> an ARS WhereClauseCondition."""
    m = re.fullmatch(r"\s*(\w+)\.(\w+)\s*=\s*(.+?)\s*", text)
    if not m:
        raise ValueError(f"data subset {text!r}: expected DATASET.VARIABLE = VALUE")
    return {"dataset": m.group(1), "variable": m.group(2), "comparator": "EQ", "value": [m.group(3)]}


def _subset(i: int, text: str) -> dict[str, Any]:
    parts = [p for p in re.split(r"\s+and\s+", text) if p.strip()]
    base = {"id": f"DS_{i:02d}", "name": text, "level": 1, "order": i}
    if len(parts) == 1:
        return base | {"condition": _condition(parts[0])}
    clauses = [{"level": 2, "order": j, "condition": _condition(p)} for j, p in enumerate(parts, start=1)]
    return base | {"compoundExpression": {"logicalOperator": "AND", "whereClauses": clauses}}


def _decimals(pattern: str) -> int:
    m = re.search(r"\.(X+)", pattern)
    return len(m.group(1)) if m else 0


PERCENT_METHODS = {"MTH_KM_RATE", "MTH_AJ"}  # proportions printed as per cent (pipeline/tlf/fmt.py rate)


def _formatted(method: str, op: str, value: float, pattern: str) -> str:
    """The value as the displays print it: the same fmt functions, the operation's pattern's decimals."""
    if op == "p":
        return fmt.pvalue(value)
    if method in PERCENT_METHODS and op in ("est", "lcl", "ucl"):
        return fmt.rate(value)
    return fmt.rnd(value, _decimals(pattern))


def _is_comparison(group: str) -> bool:
    return COMPARISON in group


def purpose(a: Analysis) -> tuple[str, str]:
    """(reason, purpose): the protocol's endpoints are specified in the protocol, the rest in the SAP."""
    code = a.paramcd if a.kind in ("survival", "tte_events") else None
    reason = "SPECIFIED IN PROTOCOL" if code in PROTOCOL_ENDPOINTS or a.id.startswith("AN_TEAE") else "SPECIFIED IN SAP"
    purpose = "PRIMARY OUTCOME MEASURE" if code == PRIMARY else "SECONDARY OUTCOME MEASURE"
    return reason, purpose


def _analysis_sets() -> list[dict]:
    return [
        {
            "id": f"AS_{k}",
            "name": name,
            "level": 1,
            "order": i,
            "condition": {"dataset": "ADSL", "variable": flag, "comparator": "EQ", "value": ["Y"]},
        }
        for i, (k, (flag, name)) in enumerate(SETS.items(), start=1)
    ]


def _groupings(ard: pd.DataFrame) -> list[dict]:
    arms = load_study().arms
    out = []
    for grouping, name in GROUPINGS.items():
        ds = "ADAE" if grouping == "TRTA" else "ADSL"
        groups = [
            {
                "id": _id("GF", grouping, a.armcd),
                "name": a.arm,
                "level": 1,
                "order": i,
                "condition": {"dataset": ds, "variable": grouping, "comparator": "EQ", "value": [a.armcd]},
            }
            for i, a in enumerate(arms, start=1)
        ]
        out.append(
            {
                "id": f"GF_{grouping}",
                "name": name,
                "groupingDataset": ds,
                "groupingVariable": grouping,
                "dataDriven": False,
                "groups": groups,
            }
        )
    for analysis in load_analyses():
        if analysis.kind == "categorical" and not any(g["id"] == f"GF_{analysis.variable}" for g in out):
            out.append(
                {
                    "id": f"GF_{analysis.variable}",
                    "name": analysis.label,
                    "groupingDataset": "ADSL",
                    "groupingVariable": analysis.variable,
                    "dataDriven": True,
                }
            )
    for gid, (name, ds, var) in FACTOR_NAMES.items():
        g = {"id": gid, "name": name, "groupingDataset": ds, "dataDriven": True}
        out.append(g | ({"groupingVariable": var} if var else {}))
    return out


def _methods() -> list[dict]:
    return [
        {
            "id": m.id,
            "name": m.label,
            "description": m.description,
            "operations": [
                {"id": f"{m.id}_{o.id}", "name": o.label, "order": i, "resultPattern": o.pattern}
                for i, o in enumerate(m.operations, start=1)
            ],
        }
        for m in load_methods().values()
    ]


def _result_groups(a: Analysis, r: Any) -> list[dict]:
    groups = []
    if not _is_comparison(r.GROUP):
        groups.append({"groupingId": f"GF_{a.grouping}", "groupId": _id("GF", a.grouping, r.GROUP)})
    if a.kind == "categorical" and r.CAT1:
        groups.append({"groupingId": f"GF_{a.variable}", "groupValue": r.CAT1})
    first, second = CATEGORY_FACTORS.get(a.kind, (None, None))
    if first and r.CAT1 and r.CAT1 != ANY:
        groups.append({"groupingId": first, "groupValue": r.CAT1})
    if second and r.CAT2:
        groups.append({"groupingId": second, "groupValue": r.CAT2})
    if r.TIMEPOINT:
        groups.append({"groupingId": "GF_TIMEPOINT", "groupValue": r.TIMEPOINT})
    return groups


def _analyses(ard: pd.DataFrame, subsets: dict[str, str]) -> list[dict]:
    methods = load_methods()
    out = []
    for a in load_analyses():
        rows = ard[ard["ANALYSIS_ID"].eq(a.id)]
        ops = {o.id: o for o in methods[a.method].operations}
        by_group = not (len(rows) and rows["GROUP"].map(_is_comparison).all())
        ordered = [{"order": 1, "groupingId": f"GF_{a.grouping}", "resultsByGroup": by_group}]
        results = []
        for r in rows.itertuples(index=False):
            if pd.isna(r.VALUE) or r.OPERATION_ID not in ops:
                continue
            results.append(
                {
                    "operationId": f"{a.method}_{r.OPERATION_ID}",
                    "resultGroups": _result_groups(a, r),
                    "rawValue": repr(float(r.VALUE)),
                    "formattedValue": _formatted(a.method, r.OPERATION_ID, r.VALUE, ops[r.OPERATION_ID].pattern),
                }
            )
        reason, purp = purpose(a)
        doc = {
            "id": a.id,
            "name": a.label,
            "reason": {"controlledTerm": reason},
            "purpose": {"controlledTerm": purp},
            "dataset": DATASET[a.kind],
            "analysisSetId": f"AS_{a.analysis_set}",
            "orderedGroupings": ordered,
            "methodId": a.method,
            "results": results,
        }
        variable = a.variable or ("AVAL" if a.kind in ("survival", "exposure") else None)
        if variable:
            doc["variable"] = variable
        if a.subset:
            doc["dataSubsetId"] = subsets[a.subset]
        out.append(doc)
    return out


def _outputs() -> tuple[list[dict], dict]:
    outputs, items = [], []
    analyses = {a.id: a for a in load_analyses()}
    for i, d in enumerate(load_displays(), start=1):
        files = [
            {"name": f"{d.id}.{ext}", "fileType": {"controlledTerm": ext}, "location": f"tlf/{d.id}.{ext}"}
            for ext in ("rtf", "pdf")
        ]
        sections = [
            {
                "sectionType": "Title",
                "orderedSubSections": [
                    {"order": j, "subSection": {"id": f"{d.id}_T{j}", "text": t}}
                    for j, t in enumerate([f"{d.kind.capitalize()} {d.number}", d.title, d.population], start=1)
                ],
            }
        ]
        if d.footnotes:
            sections.append(
                {
                    "sectionType": "Footnote",
                    "orderedSubSections": [
                        {"order": j, "subSection": {"id": f"{d.id}_F{j}", "text": t}} for j, t in enumerate(d.footnotes, start=1)
                    ],
                }
            )
        sections.append(
            {"sectionType": "Footer", "orderedSubSections": [{"order": 1, "subSection": {"id": f"{d.id}_S1", "text": d.source}}]}
        )
        outputs.append(
            {
                "id": d.id,
                "name": f"{d.kind.capitalize()} {d.number} {d.title}",
                "fileSpecifications": files,
                "displays": [
                    {
                        "order": 1,
                        "display": {
                            "id": f"{d.id}_DISPLAY",
                            "name": d.title,
                            "displayTitle": d.title,
                            "displaySections": sections,
                        },
                    }
                ],
            }
        )
        sub = [{"name": analyses[x].label, "level": 2, "order": j, "analysisId": x} for j, x in enumerate(d.analyses, start=1)]
        item = {"name": f"{d.kind.capitalize()} {d.number} {d.title}", "level": 1, "order": i, "outputId": d.id}
        items.append(item | ({"sublist": {"listItems": sub}} if sub else {}))
    loc = {"name": "Clinical study report, section 14 and 16.2 displays", "contentsList": {"listItems": items}}
    return outputs, loc


def reporting_event(ard: pd.DataFrame) -> dict[str, Any]:
    """The ARS ReportingEvent of the study's report, with every ARD number as a result."""
    texts = list(dict.fromkeys(a.subset for a in load_analyses() if a.subset))
    subsets = {t: f"DS_{i:02d}" for i, t in enumerate(texts, start=1)}
    outputs, loc = _outputs()
    study = load_study()
    return {
        "id": f"RE_{study.studyid}",
        "name": f"{study.studyid} clinical study report",
        "description": study.title.strip(),
        "version": 1,
        "analysisSets": _analysis_sets(),
        "analysisGroupings": _groupings(ard),
        "dataSubsets": [_subset(i, t) for i, t in enumerate(texts, start=1)],
        "methods": _methods(),
        "analyses": _analyses(ard, subsets),
        "outputs": outputs,
        "mainListOfContents": loc,
    }


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def schema_errors(doc: dict[str, Any]) -> list[str]:
    """Violations of the ARS v1.0 JSON schema, each as ``path: message`` (none: valid)."""
    errs = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errs]


def _items(nested: dict | None):
    for it in (nested or {}).get("listItems", []):
        yield it
        yield from _items(it.get("sublist"))


def reference_errors(doc: dict[str, Any]) -> list[str]:
    """Ids that do not resolve, duplicate ids, and analyses or outputs in no list of contents."""
    errs: list[str] = []

    def ids(items: list[dict], what: str) -> set[str]:
        seen: set[str] = set()
        for x in items:
            if x["id"] in seen:
                errs.append(f"duplicate {what} id {x['id']}")
            seen.add(x["id"])
        return seen

    sets = ids(doc.get("analysisSets", []), "analysis set")
    subsets = ids(doc.get("dataSubsets", []), "data subset")
    factors = {g["id"]: {x["id"] for x in g.get("groups", [])} for g in doc.get("analysisGroupings", [])}
    ids(doc.get("analysisGroupings", []), "grouping factor")
    methods = {m["id"]: {o["id"] for o in m["operations"]} for m in doc.get("methods", [])}
    ids(doc.get("methods", []), "method")
    outputs = ids(doc.get("outputs", []), "output")
    analyses = ids(doc.get("analyses", []), "analysis")
    for a in doc.get("analyses", []):
        where = f"analysis {a['id']}"
        if a.get("analysisSetId") and a["analysisSetId"] not in sets:
            errs.append(f"{where}: analysisSetId {a['analysisSetId']} is not an analysis set")
        if a.get("dataSubsetId") and a["dataSubsetId"] not in subsets:
            errs.append(f"{where}: dataSubsetId {a['dataSubsetId']} is not a data subset")
        if a["methodId"] not in methods:
            errs.append(f"{where}: methodId {a['methodId']} is not a method")
        for og in a.get("orderedGroupings", []):
            if og["groupingId"] not in factors:
                errs.append(f"{where}: groupingId {og['groupingId']} is not a grouping factor")
        for k, r in enumerate(a.get("results", []), start=1):
            if r["operationId"] not in methods.get(a["methodId"], set()):
                errs.append(f"{where}, result {k}: operationId {r['operationId']} is not an operation of {a['methodId']}")
            for rg in r.get("resultGroups", []):
                if rg["groupingId"] not in factors:
                    errs.append(f"{where}, result {k}: groupingId {rg['groupingId']} is not a grouping factor")
                elif "groupId" in rg and rg["groupId"] not in factors[rg["groupingId"]]:
                    errs.append(f"{where}, result {k}: groupId {rg['groupId']} is not a group of {rg['groupingId']}")
    listed_a, listed_o = set(), set()
    lists = [doc.get("mainListOfContents", {})] + list(doc.get("otherListsOfContents", []))
    for loc in lists:
        for it in _items(loc.get("contentsList")):
            if "analysisId" in it:
                listed_a.add(it["analysisId"])
                if it["analysisId"] not in analyses:
                    errs.append(f"list of contents: analysisId {it['analysisId']} is not an analysis")
            if "outputId" in it:
                listed_o.add(it["outputId"])
                if it["outputId"] not in outputs:
                    errs.append(f"list of contents: outputId {it['outputId']} is not an output")
    errs += [f"analysis {a} is in no list of contents" for a in sorted(analyses - listed_a)]
    errs += [f"output {o} is in no list of contents" for o in sorted(outputs - listed_o)]
    return errs
