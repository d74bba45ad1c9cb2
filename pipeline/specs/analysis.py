"""The report's analyses, methods and displays (``specs/analysis/analyses.yaml``, ``displays.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.specs.paths import SPECS_DIR, read_mapping

KINDS = (
    "subjects",
    "continuous",
    "categorical",
    "ae_overview",
    "ae_soc_pt",
    "ae_worst_grade",
    "exposure",
    "deaths",
    "tte_events",
    "survival",
)
SETS = {"FAS": ("FASFL", "Full analysis set"), "SAF": ("SAFFL", "Safety set")}
GROUPINGS = {"TRT01P": "Planned treatment", "TRT01A": "Actual treatment", "TRTA": "Actual treatment"}


@dataclass(frozen=True)
class Operation:
    id: str
    label: str
    pattern: str


@dataclass(frozen=True)
class Method:
    id: str
    label: str
    description: str
    operations: tuple[Operation, ...]


@dataclass(frozen=True)
class Category:
    label: str
    where: str | None = None


@dataclass(frozen=True)
class Analysis:
    id: str
    label: str
    kind: str
    analysis_set: str
    grouping: str
    method: str
    subset: str = ""
    variable: str | None = None
    levels: tuple[str, ...] = ()
    categories: tuple[Category, ...] = ()
    where: str | None = None
    paramcd: str | None = None
    statistic: str | None = None
    omit_missing: bool = False


@dataclass(frozen=True)
class Display:
    """One output of the report (table, listing or figure): ICH E3 number, titles and notes."""

    id: str
    number: str
    kind: str
    title: str
    population: str
    analyses: tuple[str, ...]
    footnotes: tuple[str, ...]
    source: str
    orientation: str = "landscape"
    arm: bool = False  # described in the ADaM define.xml's Analysis Results Metadata


class AnalysisSpecError(ValueError):
    pass


def _need(doc: dict, key: str, where: str) -> Any:
    if key not in doc or doc[key] in (None, ""):
        raise AnalysisSpecError(f"{where}: '{key}' is required")
    return doc[key]


@lru_cache(maxsize=2)
def load_methods(root: Path = SPECS_DIR) -> dict[str, Method]:
    doc = read_mapping(root / "analysis" / "analyses.yaml")
    out = {}
    for m in doc["methods"]:
        ops = tuple(Operation(o["id"], o["label"], o["pattern"]) for o in m["operations"])
        out[m["id"]] = Method(m["id"], m["label"], " ".join(m["description"].split()), ops)
    return out


@lru_cache(maxsize=2)
def load_analyses(root: Path = SPECS_DIR) -> tuple[Analysis, ...]:
    """The analyses in declared order; unknown kinds, sets, groupings and methods are refused."""
    doc = read_mapping(root / "analysis" / "analyses.yaml")
    methods = load_methods(root)
    out, seen = [], set()
    for i, a in enumerate(doc["analyses"], start=1):
        where = f"analyses.yaml: analysis {i} ({a.get('id', '?')})"
        aid = _need(a, "id", where)
        if aid in seen:
            raise AnalysisSpecError(f"{where}: duplicate id")
        seen.add(aid)
        kind = _need(a, "kind", where)
        if kind not in KINDS:
            raise AnalysisSpecError(f"{where}: kind {kind!r} is not one of {list(KINDS)}")
        if a.get("analysis_set") not in SETS:
            raise AnalysisSpecError(f"{where}: analysis_set must be one of {list(SETS)}")
        if a.get("grouping") not in GROUPINGS:
            raise AnalysisSpecError(f"{where}: grouping must be one of {list(GROUPINGS)}")
        if a.get("method") not in methods:
            raise AnalysisSpecError(f"{where}: method {a.get('method')!r} is not declared under methods")
        if kind in ("continuous", "categorical"):
            _need(a, "variable", where)
        if kind in ("survival", "exposure", "tte_events"):
            _need(a, "paramcd", where)
        if kind == "survival":
            _need(a, "statistic", where)
        cats = tuple(Category(c["label"], c.get("where")) for c in a.get("categories") or [])
        out.append(
            Analysis(
                aid,
                a["label"],
                kind,
                a["analysis_set"],
                a["grouping"],
                a["method"],
                a.get("subset", ""),
                a.get("variable"),
                tuple(str(x) for x in a.get("levels") or ()),
                cats,
                a.get("where"),
                a.get("paramcd"),
                a.get("statistic"),
                bool(a.get("omit_missing", False)),
            )
        )
    return tuple(out)


@lru_cache(maxsize=2)
def load_displays(root: Path = SPECS_DIR) -> tuple[Display, ...]:
    """The report's displays in ICH E3 order; each names analyses declared in analyses.yaml."""
    doc = read_mapping(root / "analysis" / "displays.yaml")
    known = {a.id for a in load_analyses(root)}
    out = []
    for i, d in enumerate(doc["displays"], start=1):
        where = f"displays.yaml: display {i} ({d.get('id', '?')})"
        for key in ("id", "number", "kind", "title", "population", "source"):
            _need(d, key, where)
        if d["kind"] not in ("table", "listing", "figure"):
            raise AnalysisSpecError(f"{where}: kind must be table, listing or figure")
        missing = [x for x in d.get("analyses") or [] if x not in known]
        if missing:
            raise AnalysisSpecError(f"{where}: analyses not declared in analyses.yaml: {missing}")
        out.append(
            Display(
                d["id"],
                str(d["number"]),
                d["kind"],
                d["title"],
                d["population"],
                tuple(d.get("analyses") or ()),
                tuple(" ".join(f.split()) for f in d.get("footnotes") or ()),
                d["source"],
                d.get("orientation", "landscape"),
                bool(d.get("arm", False)),
            )
        )
    return tuple(out)
