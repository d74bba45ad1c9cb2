"""CORE findings sorted into explained and unexplained, by the sponsor's explanations file.

Pure functions: a parsed CORE report (:class:`pipeline.submission.core.CoreResult`) and the
:class:`pipeline.specs.conformance.Explanations` in, a :class:`Classification` out, and the
deterministic conformance summary (``conformance/conformance_summary.json``) that the CORE asset
writes and the reviewer's guide prints (:func:`csdrg_inputs`: the summary and the sentence on how CORE ran).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.specs.conformance import Explanation, Explanations

SUMMARY_FORMAT = "conformance-summary/1"


@dataclass(frozen=True)
class Row:
    """Findings of one rule on one dataset: explained (``kind``/``explanation`` set) or not."""

    rule: str
    dataset: str
    findings: int
    message: str
    cdisc_ids: str = ""
    kind: str | None = None
    explanation: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = {
            "rule": self.rule,
            "cdisc_ids": self.cdisc_ids,
            "dataset": self.dataset,
            "findings": self.findings,
            "message": self.message,
        }
        if self.kind is not None:
            d |= {"kind": self.kind, "explanation": self.explanation}
        return d


@dataclass(frozen=True)
class ErrorRow:
    rule: str
    dataset: str
    message: str
    reason: str | None = None  # the explanations file's reason; None: not explained

    def as_dict(self) -> dict[str, Any]:
        d = {"rule": self.rule, "dataset": self.dataset, "message": self.message}
        return d | ({"reason": self.reason} if self.reason is not None else {})


@dataclass
class Classification:
    explained: list[Row] = field(default_factory=list)
    unexplained: list[Row] = field(default_factory=list)
    errors_explained: list[ErrorRow] = field(default_factory=list)
    errors_unexplained: list[ErrorRow] = field(default_factory=list)
    stale: list[tuple[str, str]] = field(default_factory=list)  # (rule, dataset) explained but not found

    @property
    def unexplained_findings(self) -> int:
        return sum(r.findings for r in self.unexplained)

    @property
    def explained_findings(self) -> int:
        return sum(r.findings for r in self.explained)

    @property
    def passed(self) -> bool:
        """No finding without an explanation and no engine error the file does not allow."""
        return not self.unexplained and not self.errors_unexplained


def classify(result: Any, explanations: Explanations) -> Classification:
    """Sort ``result``'s (rule, dataset) findings and errors by ``explanations``.

    A (rule, dataset) pair is explained wholly by an entry without ``where``; entries with ``where``
    explain the listed findings whose values match, and the rest (including findings beyond the
    report's per-pair listing cap) stay unexplained. Explanations of pairs the engine no longer
    reports are returned as ``stale``.
    """
    rules = {r["rule_id"]: r for r in result.rules}
    listed: dict[tuple[str, str], list[dict]] = {}
    for f in result.findings:
        listed.setdefault((f["rule_id"], f["dataset"]), []).append(f)
    out = Classification()
    used: set[tuple[str, str]] = set()
    for res in sorted(result.results, key=lambda r: (r["rule_id"], r["dataset"])):
        rule, ds, status = res["rule_id"], res["dataset"], res.get("status")
        meta = rules.get(rule, {})
        message = meta.get("message") or res.get("message") or ""
        if status == "error":
            allowed = next((e for e in explanations.engine_errors if e.covers(rule, ds, res.get("message", ""))), None)
            row = ErrorRow(rule, ds, res.get("message", ""), allowed.reason if allowed else None)
            (out.errors_explained if allowed else out.errors_unexplained).append(row)
            continue
        if status != "issues":
            continue
        n = int(res.get("findings", 0))
        entries = [e for e in explanations.findings if e.covers(rule, ds)]
        whole = next((e for e in entries if not e.where), None)
        counts: dict[int, int] = {}
        if whole is not None:
            counts[entries.index(whole)] = n
        else:
            for f in listed.get((rule, ds), []):
                hit = next((i for i, e in enumerate(entries) if e.matches(f.get("values") or {})), None)
                if hit is not None:
                    counts[hit] = counts.get(hit, 0) + 1
        rest = n - sum(counts.values())
        cdisc = meta.get("cdisc_ids", "") or ""
        for i, k in sorted(counts.items()):
            e: Explanation = entries[i]
            out.explained.append(Row(rule, ds, k, message, cdisc, e.kind, e.explanation))
            used.add((rule, ds))
        if rest > 0:
            out.unexplained.append(Row(rule, ds, rest, message, cdisc))
    for e in explanations.findings:
        for ds in e.datasets:
            if (e.rule, ds) not in used and (e.rule, ds) not in out.stale:
                out.stale.append((e.rule, ds))
    out.stale.sort()
    return out


def summary_doc(passes: list[tuple[str, Any, Classification]], explanations: Explanations) -> dict[str, Any]:
    """The conformance summary: per CORE pass (data format), its counts and the sorted findings.

    ``passes``: (data format, CoreResult, Classification) for each run of the engine. A stale
    explanation is one that no pass needed.
    """
    docs = []
    stale: set[tuple[str, str]] | None = None
    for fmt, result, cls in passes:
        docs.append(
            {
                "data_format": fmt,
                "engine": result.engine,
                "standard": result.standard,
                "ct_packages": list(result.ct_packages),
                "summary": dict(result.summary),
                "findings_explained": cls.explained_findings,
                "findings_unexplained": cls.unexplained_findings,
                "explained": [r.as_dict() for r in cls.explained],
                "unexplained": [r.as_dict() for r in cls.unexplained],
                "engine_errors_explained": [r.as_dict() for r in cls.errors_explained],
                "engine_errors_unexplained": [r.as_dict() for r in cls.errors_unexplained],
            }
        )
        stale = set(cls.stale) if stale is None else stale & set(cls.stale)
    return {
        "format": SUMMARY_FORMAT,
        "explanations_file": explanations.source,
        "passes": docs,
        "stale_explanations": [{"rule": r, "dataset": d} for r, d in sorted(stale or ())],
    }


def csdrg_inputs(run: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The conformance summary the cSDRG prints and its sentence on whether and how CORE ran.

    ``run``: the value of the ``submission/conformance`` asset (``status`` ``ran`` with ``summary``,
    ``not run`` or ``failed`` with ``reason``; :func:`pipeline.submission.core.conformance_value`).
    """
    status, reason, summary = run.get("status"), run.get("reason"), run.get("summary")
    if status == "ran" and summary is not None:
        fmts = ", ".join(p.get("data_format", "") for p in summary.get("passes", []))
        return dict(summary), (
            f"The CDISC CORE rules engine ran on the SDTM datasets of this package, once per data format "
            f"({fmts}); its findings were sorted by the sponsor's explanations ({summary.get('explanations_file', '')})."
        )
    if status == "failed":
        return None, (
            f"The CDISC CORE rules engine is set up on the machine that built this package but did not complete "
            f"(not run: {reason}); no CORE report is part of this package. Section 4.2 lists the sponsor's "
            "explanations of the findings expected by design."
        )
    return None, (
        f"The CDISC CORE rules engine was not run on this package (not run: {reason}); no CORE report was "
        "produced for it. Section 4.2 lists the sponsor's explanations of the findings expected by design; the "
        "findings themselves come with the next build where the engine is set up."
    )
