"""The sponsor's explanations of conformance findings (``specs/conformance/explanations.yaml``).

A finding of the CDISC CORE engine that remains by design is explained once, here, and the
explanation reaches the CORE check's metadata, the conformance summary written beside the CORE
report and the reviewer's guide. Two lists:

* ``findings``: one entry per rule and the datasets it explains, with ``kind`` (``sponsor choice``:
  a defensible design decision; ``engine false positive``: the rule or the engine is wrong about
  these data), the ``explanation`` a reviewer reads, and optionally ``where``: values a finding must
  have to be explained (``{VAR: value}``; ``null`` matches an empty value; a list matches any of
  its values), for rules whose findings are only partly by design;
* ``engine_errors``: rules allowed to end in EXECUTION ERROR, with the engine's ``message`` (a
  substring of what the engine reports) and the reason the error is unrelated to the data.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.specs.paths import SPECS_DIR, read_yaml

KINDS = ("sponsor choice", "engine false positive")
RULE_ID = re.compile(r"^CORE-\d{6}$")
DEFAULT_PATH = SPECS_DIR / "conformance" / "explanations.yaml"


class ExplanationsError(ValueError):
    """A malformed explanations file: the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Explanation:
    """Why the findings of ``rule`` on ``datasets`` (those matching ``where``) are by design."""

    rule: str
    datasets: tuple[str, ...]
    kind: str
    explanation: str
    where: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def covers(self, rule: str, dataset: str) -> bool:
        return rule == self.rule and dataset in self.datasets

    def matches(self, values: dict[str, Any]) -> bool:
        """True when a finding with these variable values is explained (always, without ``where``)."""
        return all(_norm(values.get(var)) in allowed for var, allowed in self.where)


@dataclass(frozen=True)
class EngineError:
    """A rule allowed to end in EXECUTION ERROR on ``datasets`` (``*``: any), when the engine says ``message``."""

    rule: str
    datasets: tuple[str, ...]
    message: str
    reason: str

    def covers(self, rule: str, dataset: str, message: str) -> bool:
        return rule == self.rule and ("*" in self.datasets or dataset in self.datasets) and self.message in (message or "")


@dataclass(frozen=True)
class Explanations:
    findings: tuple[Explanation, ...]
    engine_errors: tuple[EngineError, ...]
    source: str = ""


def _norm(v: Any) -> Any:
    """Empty values compare as None; numbers as their text (the engine reports both forms)."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    return str(v)


def _fail(path: Path, where: str, msg: str) -> ExplanationsError:
    return ExplanationsError(f"{path.name}: {where}: {msg}")


def _text(path: Path, where: str, entry: dict, key: str) -> str:
    v = entry.get(key)
    if not isinstance(v, str) or not v.strip():
        raise _fail(path, where, f"'{key}' must be a non-empty text, got {v!r}")
    return " ".join(v.split())


def _datasets(path: Path, where: str, entry: dict, allow_any: bool = False) -> tuple[str, ...]:
    v = entry.get("datasets")
    names = [v] if isinstance(v, str) else v
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise _fail(path, where, f"'datasets' must be a dataset name or a non-empty list of them, got {v!r}")
    out = tuple(sorted({n.strip().upper() for n in names}))
    if "*" in out and not allow_any:
        raise _fail(path, where, "'datasets' may not be '*' for a finding: name the datasets")
    return out


def _rule(path: Path, where: str, entry: dict) -> str:
    rule = _text(path, where, entry, "rule")
    if not RULE_ID.match(rule):
        raise _fail(path, where, f"'rule' must look like CORE-000123, got {rule!r}")
    return rule


def parse_explanations(doc: Any, path: Path = DEFAULT_PATH) -> Explanations:
    """:class:`Explanations` from the parsed YAML document; :class:`ExplanationsError` names what is wrong."""
    if not isinstance(doc, dict):
        raise _fail(path, "top level", "expected a mapping with 'findings' and 'engine_errors'")
    unknown = set(doc) - {"findings", "engine_errors"}
    if unknown:
        raise _fail(path, "top level", f"unknown keys {sorted(unknown)}")
    findings: list[Explanation] = []
    seen: dict[tuple[str, str, tuple], int] = {}
    for i, e in enumerate(doc.get("findings") or [], start=1):
        where = f"findings entry {i}"
        if not isinstance(e, dict):
            raise _fail(path, where, "expected a mapping")
        extra = set(e) - {"rule", "datasets", "kind", "explanation", "where"}
        if extra:
            raise _fail(path, where, f"unknown keys {sorted(extra)}")
        rule, datasets = _rule(path, where, e), _datasets(path, where, e)
        kind = _text(path, where, e, "kind")
        if kind not in KINDS:
            raise _fail(path, where, f"'kind' must be one of {list(KINDS)}, got {kind!r}")
        cond = e.get("where") or {}
        if not isinstance(cond, dict) or not all(isinstance(k, str) for k in cond):
            raise _fail(path, where, f"'where' must map variable names to values, got {cond!r}")
        cond_t = tuple(sorted((k.upper(), tuple(_norm(x) for x in (v if isinstance(v, list) else [v]))) for k, v in cond.items()))
        for ds in datasets:
            key = (rule, ds, cond_t)
            if key in seen:
                raise _fail(path, where, f"{rule} on {ds} is already explained by findings entry {seen[key]}")
            seen[key] = i
        findings.append(Explanation(rule, datasets, kind, _text(path, where, e, "explanation"), cond_t))
    errors: list[EngineError] = []
    for i, e in enumerate(doc.get("engine_errors") or [], start=1):
        where = f"engine_errors entry {i}"
        if not isinstance(e, dict):
            raise _fail(path, where, "expected a mapping")
        extra = set(e) - {"rule", "datasets", "message", "reason"}
        if extra:
            raise _fail(path, where, f"unknown keys {sorted(extra)}")
        errors.append(
            EngineError(
                _rule(path, where, e),
                _datasets(path, where, e, allow_any=True),
                _text(path, where, e, "message"),
                _text(path, where, e, "reason"),
            )
        )
    return Explanations(tuple(findings), tuple(errors), source=path.name)


@lru_cache(maxsize=4)
def load_explanations(path: Path = DEFAULT_PATH) -> Explanations:
    """The explanations file (default ``specs/conformance/explanations.yaml``; none there: no explanations)."""
    path = Path(path)
    if not path.is_file():
        return Explanations((), (), source="")
    return parse_explanations(read_yaml(path), path)
