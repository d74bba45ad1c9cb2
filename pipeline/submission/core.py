"""The optional CDISC CORE conformance run of the SDTM package (asset ``submission/conformance``).

The open-source CORE rules engine (``cdisc-rules-engine==0.17.1``) needs Python 3.12 and an
offline rules cache, neither of which the project requires: ``make core`` (``tools/core/setup.sh``)
makes ``.core-venv/`` and ``.core-cache/``, and this module runs ``tools/core/run_core.py`` with
that interpreter in a subprocess (the engine is never imported here).

The run is an asset, downstream of ``submission/sdtm`` and upstream of the cSDRG (which prints its
summary from the asset's value) and of the manifest (which publishes the run's staging folder), so
whatever the executor, the reports are written into the folder that is published and the cSDRG
sees the summary of the same build. Without the engine the asset still materializes, as
``not run: <reason>`` (:func:`skip_reason`), the cSDRG says so, its check is Skipped (not passed)
and a machine without the cache builds everything, no slower.

Configuration (environment, read by :func:`core_config_from_env`):

* ``PIPELINE_CORE_PYTHON``: the 3.12 interpreter with the engine (default ``.core-venv/bin/python``
  of the project, if it exists);
* ``PIPELINE_CORE_CACHE``: the unpacked cache (default ``.core-cache`` of the project, if it exists);
* ``PIPELINE_CORE=0``: switch the run off even where both exist;
* ``PIPELINE_CORE_TIMEOUT`` (seconds, default 900), ``PIPELINE_CORE_WORKERS`` (default: CPU count);
* under pytest CORE is not run unless ``PIPELINE_CORE_TESTS=1``, so test runs of the whole
  study stay fast on a machine that has the engine.

The engine runs once on the XPT files and once on the Dataset-JSON files (it keys datasets by
name, so one folder with both formats would be validated once, in either). Each report
(``<out>/conformance/core_report.json`` and ``core_report_datasetjson.json``, see
``tools/core/run_core.py``) lists one row per (rule, dataset) and the findings. Every finding is
looked up in the sponsor's explanations (``specs/conformance/explanations.yaml``,
:mod:`pipeline.specs.conformance`); ``conformance_summary.json`` lists the explained findings with
their explanation, the unexplained ones, and the engine errors allowed or not. The asset's check
``core_conformance`` shows the counts per rule and dataset, the explained and unexplained tables
and a sample of findings. It is non-blocking with WARN severity: it fails (a warning) when a
finding has no explanation, an engine error is not allowed, or the engine cannot run; never the build.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dagster as dg

from pipeline import io
from pipeline.resources import StudyPaths
from pipeline.specs.conformance import Explanations, load_explanations
from pipeline.submission.conformance import Classification, classify, summary_doc
from pipeline.versions import code_version

# What the code version of the conformance asset hashes (pipeline/versions.py).
CODE_SOURCES = ("pipeline/submission/core.py", "pipeline/submission/conformance.py", "tools/core/*", "specs/conformance/*")

__all__ = [
    "CHECK_NAME",
    "CONFORMANCE_KEY",
    "REPORT_PATH",
    "CoreConfig",
    "CoreResult",
    "check_metadata",
    "conformance_asset",
    "conformance_value",
    "core_assets",
    "core_config_from_env",
    "parse_report",
    "run_core",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RUNNER = PROJECT_ROOT / "tools" / "core" / "run_core.py"
DEFAULT_PYTHON = Path(".core-venv") / "bin" / "python"
DEFAULT_CACHE = Path(".core-cache")
REPORT_PATH = Path("conformance") / "core_report.json"  # under the output folder
CHECK_NAME = "core_conformance"
SDTM_KEY = dg.AssetKey(["submission", "sdtm"])
DEFAULT_TIMEOUT = 900.0
MAX_TABLE_ROWS = 100
MAX_SAMPLE = 30
SETUP_HINT = "run `make core` (tools/core/setup.sh) to set up .core-venv and .core-cache"


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class CoreConfig:
    """Where the engine is; ``reason`` says why the check cannot run (None: it can)."""

    python: Path | None = None
    cache: Path | None = None
    runner: Path = RUNNER
    timeout: float = DEFAULT_TIMEOUT
    workers: int = 0
    reason: str | None = None

    @property
    def enabled(self) -> bool:
        return self.reason is None


def _is_off(value: str | None) -> bool:
    return (value or "").strip().lower() in {"0", "off", "false", "no"}


def core_config_from_env(environ: Mapping[str, str] | None = None, root: Path | None = None) -> CoreConfig:
    """The CORE configuration from the environment (see the module docstring); never raises.

    ``root``: where the defaults ``.core-venv/bin/python`` and ``.core-cache`` are looked for
    (default: the project folder holding ``pipeline/``).
    """
    env = os.environ if environ is None else environ
    root = PROJECT_ROOT if root is None else Path(root)
    runner = RUNNER
    try:
        timeout = float(env.get("PIPELINE_CORE_TIMEOUT") or DEFAULT_TIMEOUT)
        workers = int(env.get("PIPELINE_CORE_WORKERS") or 0)
    except ValueError as e:
        return CoreConfig(reason=f"bad PIPELINE_CORE_TIMEOUT / PIPELINE_CORE_WORKERS: {e}")

    def pick(var: str, default: Path) -> Path | None:
        if env.get(var):
            return Path(env[var])
        return root / default if (root / default).exists() else None

    python, cache = pick("PIPELINE_CORE_PYTHON", DEFAULT_PYTHON), pick("PIPELINE_CORE_CACHE", DEFAULT_CACHE)
    cfg = CoreConfig(python=python, cache=cache, runner=runner, timeout=timeout, workers=workers)
    if _is_off(env.get("PIPELINE_CORE")):
        return replace(cfg, reason="switched off (PIPELINE_CORE=0)")
    if env.get("PYTEST_CURRENT_TEST") and env.get("PIPELINE_CORE_TESTS") != "1":
        return replace(cfg, reason="not run under pytest unless PIPELINE_CORE_TESTS=1")
    if python is None:
        return replace(cfg, reason=f"no CORE interpreter: PIPELINE_CORE_PYTHON unset and no {DEFAULT_PYTHON}; {SETUP_HINT}")
    if not python.exists():
        return replace(cfg, reason=f"CORE interpreter not found: {python}; {SETUP_HINT}")
    if cache is None:
        return replace(cfg, reason=f"no CORE cache: PIPELINE_CORE_CACHE unset and no {DEFAULT_CACHE}; {SETUP_HINT}")
    if not (cache / "rules.pkl").is_file():
        return replace(cfg, reason=f"not a CORE cache (no rules.pkl): {cache}; {SETUP_HINT}")
    if not runner.is_file():
        return replace(cfg, reason=f"runner script not found: {runner}")
    return cfg


# --------------------------------------------------------------------------- running and parsing


@dataclass
class CoreResult:
    """A parsed CORE report, or why there is none (``error``)."""

    summary: dict[str, int] = field(default_factory=dict)
    rules: list[dict] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    engine: str = ""
    standard: str = ""
    ct_packages: list[str] = field(default_factory=list)
    datasets: list[dict] = field(default_factory=list)
    report_path: Path | None = None
    seconds: float = 0.0
    error: str | None = None
    log: str = ""

    @property
    def passed(self) -> bool:
        return self.error is None and not self.summary.get("findings", 0)


def parse_report(doc: Mapping[str, Any]) -> CoreResult:
    """A :class:`CoreResult` from a report of ``tools/core/run_core.py`` (format ``core-report/1``)."""
    fmt = doc.get("format")
    if fmt != "core-report/1":
        raise ValueError(f"not a CORE report of format core-report/1: {fmt!r}")
    engine = doc.get("engine") or {}
    return CoreResult(
        summary={k: int(v) for k, v in (doc.get("summary") or {}).items()},
        rules=list(doc.get("rules") or []),
        results=list(doc.get("results") or []),
        findings=list(doc.get("findings") or []),
        engine=f"{engine.get('name', '?')} {engine.get('version', '?')}",
        standard=f"{doc.get('standard', '?')} {doc.get('standard_version', '?')}",
        ct_packages=list(doc.get("ct_packages") or []),
        datasets=list(doc.get("datasets") or []),
    )


def _tail(text: str, n: int = 2000) -> str:
    text = (text or "").strip()
    return text if len(text) <= n else "..." + text[-n:]


def run_core(sdtm_dir: Path, report_path: Path, config: CoreConfig | None = None, data_format: str = "auto") -> CoreResult | None:
    """Run the engine on ``sdtm_dir`` (with its define.xml) and write the report to ``report_path``.

    ``data_format``: ``xpt`` or ``json`` validates only that format's files (the engine keys
    datasets by name, so a folder with both would otherwise be validated once, in either);
    ``auto``: the runner's choice per dataset (see ``tools/core/run_core.py``).

    None when CORE is not configured (``config.reason`` says why). Otherwise a :class:`CoreResult`;
    one whose ``error`` is set when the engine failed, timed out or wrote no readable report
    (``report_path`` is then left as it was).
    """
    config = core_config_from_env() if config is None else config
    if not config.enabled:
        return None
    sdtm_dir, report_path = Path(sdtm_dir), Path(report_path)
    if not sdtm_dir.is_dir():
        return CoreResult(error=f"SDTM folder not found: {sdtm_dir}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="core-") as tmp:
        out = Path(tmp) / "core_report.json"
        cmd = [
            str(config.python),
            str(config.runner),
            "--data",
            str(sdtm_dir.resolve()),
            "--cache",
            str(Path(str(config.cache)).resolve()),
            "--output",
            str(out),
            "--format",
            data_format,
        ]
        define = sdtm_dir / "define.xml"
        if define.is_file():
            cmd += ["--define", str(define.resolve())]
        if config.workers:
            cmd += ["--workers", str(config.workers)]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        env.pop("PYTHONPATH", None)  # the 3.12 venv must not see this project's 3.11 packages
        # Own session: on a timeout the engine's worker processes go down with it.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=config.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            return CoreResult(
                error=f"CORE did not finish in {config.timeout:g} s (PIPELINE_CORE_TIMEOUT)",
                log=_tail(stderr),
                seconds=time.perf_counter() - t0,
            )
        seconds = time.perf_counter() - t0
        log = _tail("\n".join(x for x in (stdout, stderr) if x))
        if proc.returncode != 0:
            return CoreResult(error=f"CORE exited with status {proc.returncode}", log=log, seconds=seconds)
        try:
            text = out.read_text(encoding="utf-8")
            result = parse_report(json.loads(text))
        except (OSError, ValueError) as e:
            return CoreResult(error=f"no readable CORE report: {e}", log=log, seconds=seconds)
    io.write_text(report_path, text)
    result.report_path, result.seconds, result.log = report_path, seconds, log
    return result


# --------------------------------------------------------------------------- metadata


def _cell(v: Any, width: int = 120) -> str:
    s = "" if v is None else str(v)
    s = " ".join(s.replace("|", "\\|").split())
    return s if len(s) <= width else s[: width - 1] + "…"


def _md_table(header: list[str], rows: list[list[Any]], total: int | None = None) -> str:
    if not rows:
        return "none"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    total = len(rows) if total is None else total
    if total > len(rows):
        lines.append(f"\n_{total - len(rows)} more rows in the report._")
    return "\n".join(lines)


def _values(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={'' if v is None else v}" for k, v in values.items())


def check_metadata(result: CoreResult) -> dict[str, Any]:
    """The check's metadata for a run: counts, the (rule, dataset) table, errors, a sample of findings."""
    if result.error:
        return {
            "status": "error",
            "reason": result.error,
            "log": dg.MetadataValue.md(f"```\n{result.log or '(empty)'}\n```"),
            "seconds": round(result.seconds, 1),
        }
    s = result.summary
    rules = {r["rule_id"]: r for r in result.rules}
    issues = sorted(
        (r for r in result.results if r.get("status") == "issues"),
        key=lambda r: (-int(r.get("findings", 0)), r["rule_id"], r["dataset"]),
    )
    errors = sorted((r for r in result.results if r.get("status") == "error"), key=lambda r: (r["rule_id"], r["dataset"]))
    issue_rows = [
        [
            r["rule_id"],
            rules.get(r["rule_id"], {}).get("cdisc_ids", ""),
            r["dataset"],
            r["findings"],
            rules.get(r["rule_id"], {}).get("message", "") or r.get("message", ""),
        ]
        for r in issues[:MAX_TABLE_ROWS]
    ]
    error_rows = [[r["rule_id"], r["dataset"], r.get("message", "")] for r in errors[:MAX_TABLE_ROWS]]
    # The sample: the first findings of each (rule, dataset) in turn, so every failing pair shows.
    firsts: dict[tuple[str, str], list[dict]] = {}
    for f in result.findings:
        firsts.setdefault((f["rule_id"], f["dataset"]), []).append(f)
    sample: list[dict] = []
    depth = 0
    while len(sample) < MAX_SAMPLE and any(len(v) > depth for v in firsts.values()):
        sample += [v[depth] for _, v in sorted(firsts.items()) if len(v) > depth][: MAX_SAMPLE - len(sample)]
        depth += 1
    sample.sort(key=lambda f: (f["rule_id"], f["dataset"], f.get("row") is None, f.get("row") or 0))
    sample_rows = [
        [
            f["rule_id"],
            f["dataset"],
            f.get("row"),
            f.get("usubjid"),
            ", ".join(f.get("variables") or []),
            _values(f.get("values") or {}),
            f.get("message"),
        ]
        for f in sample
    ]
    per_dataset: dict[str, int] = {}
    for r in issues:
        per_dataset[r["dataset"]] = per_dataset.get(r["dataset"], 0) + int(r["findings"])
    return {
        "status": "ran",
        "engine": result.engine,
        "standard": result.standard,
        "ct_packages": ", ".join(result.ct_packages),
        "datasets": s.get("datasets", len(result.datasets)),
        "rules_total": s.get("rules_total", 0),
        "rules_run": s.get("rules_run", 0),
        "rules_failed": s.get("rules_failed", 0),
        "rules_passed": s.get("rules_passed", 0),
        "rules_skipped": s.get("rules_skipped", 0),
        "rules_errored": s.get("rules_errored", 0),
        "rules_with_errors": s.get("rules_with_errors", 0),
        "findings": s.get("findings", 0),
        "findings per dataset": dg.MetadataValue.json(dict(sorted(per_dataset.items()))),
        "by rule and dataset": dg.MetadataValue.md(
            _md_table(["rule", "CDISC ids", "dataset", "findings", "message"], issue_rows, len(issues))
        ),
        "engine errors": dg.MetadataValue.md(_md_table(["rule", "dataset", "error"], error_rows, len(errors))),
        "sample findings": dg.MetadataValue.md(
            _md_table(
                ["rule", "dataset", "row", "USUBJID", "variables", "values", "message"],
                sample_rows,
                s.get("findings", len(result.findings)),
            )
        ),
        "report": dg.MetadataValue.path(str(result.report_path)) if result.report_path else "",
        "seconds": round(result.seconds, 1),
    }


def skip_reason(config: CoreConfig | None = None) -> str | None:
    """Why the check will be skipped (None: it runs)."""
    config = core_config_from_env() if config is None else config
    return config.reason


# --------------------------------------------------------------------------- the check


# The two passes: the engine keys datasets by name, so each data format is validated on its own.
PASSES: tuple[tuple[str, str, Path], ...] = (
    ("xpt", ".xpt", REPORT_PATH),
    ("json", ".json", Path("conformance") / "core_report_datasetjson.json"),
)
SUMMARY_PATH = Path("conformance") / "conformance_summary.json"


def explanation_metadata(passes: list[tuple[str, CoreResult, Classification]]) -> dict[str, Any]:
    """The check's explained / unexplained tables over every pass (format, rule, dataset, count)."""
    unexplained, explained, errors = [], [], []
    for fmt, _, cls in passes:
        unexplained += [[fmt, r.rule, r.dataset, r.findings, r.message] for r in cls.unexplained]
        explained += [[fmt, r.rule, r.dataset, r.findings, r.kind, r.explanation] for r in cls.explained]
        errors += [[fmt, r.rule, r.dataset, r.message] for r in cls.errors_unexplained]
    return {
        "findings unexplained": sum(cls.unexplained_findings for _, _, cls in passes),
        "findings explained": sum(cls.explained_findings for _, _, cls in passes),
        "unexplained findings": dg.MetadataValue.md(
            _md_table(["format", "rule", "dataset", "findings", "message"], unexplained[:MAX_TABLE_ROWS], len(unexplained))
        ),
        "explained findings": dg.MetadataValue.md(
            _md_table(
                ["format", "rule", "dataset", "findings", "kind", "explanation"], explained[:MAX_TABLE_ROWS], len(explained)
            )
        ),
        "engine errors not explained": dg.MetadataValue.md(
            _md_table(["format", "rule", "dataset", "error"], errors[:MAX_TABLE_ROWS], len(errors))
        ),
    }


def run_passes(
    sdtm_dir: Path, out_dir: Path, config: CoreConfig, explanations: Explanations
) -> tuple[list[tuple[str, CoreResult, Classification]], CoreResult | None]:
    """Run the engine once per data format present in ``sdtm_dir``; write each report and the summary.

    Returns the classified passes and the first failed run (None when every pass ran).
    """
    passes: list[tuple[str, CoreResult, Classification]] = []
    files = {p.suffix.lower() for p in Path(sdtm_dir).iterdir() if p.is_file()} if Path(sdtm_dir).is_dir() else set()
    for fmt, ext, report in PASSES:
        if ext not in files:
            continue
        result = run_core(sdtm_dir, out_dir / report, config, data_format=fmt)
        if result is None or result.error:
            return passes, result
        passes.append((fmt, result, classify(result, explanations)))
    if not passes:
        return passes, CoreResult(error=f"no XPT or Dataset-JSON datasets in {sdtm_dir}")
    doc = summary_doc(passes, explanations)
    io.write_text(out_dir / SUMMARY_PATH, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return passes, None


def _remove_reports(out_dir: Path) -> None:
    """Remove the reports and summary a previous build left in ``out_dir`` (a staging folder starts as
    links to the published package), so the package never holds a CORE report of other datasets."""
    for rel in (*(report for _f, _e, report in PASSES), SUMMARY_PATH):
        (out_dir / rel).unlink(missing_ok=True)


def conformance_value(status: str, reason: str | None = None, summary: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The value of the ``submission/conformance`` asset that the cSDRG reads.

    ``status``: ``ran`` (``summary`` is conformance_summary.json), ``not run`` (the engine is not set up
    or is switched off; ``reason`` says why) or ``failed`` (the engine did not complete; ``reason``).
    """
    return {"status": status, "reason": reason, "summary": dict(summary) if summary is not None else None}


CONFORMANCE_KEY = dg.AssetKey(["submission", "conformance"])
CHECK_KEY = dg.AssetCheckKey(CONFORMANCE_KEY, CHECK_NAME)


@dg.multi_asset(
    name="submission_conformance",
    outs={
        "conformance": dg.AssetOut(
            key=CONFORMANCE_KEY,
            group_name="submission",
            code_version=code_version(CODE_SOURCES),
            kinds={"json"},
            description=(
                "The CDISC CORE rules engine (open source, SDTMIG 3.4 published rules, CT 2025-03-28) on the SDTM "
                "package, once on the XPT files and once on Dataset-JSON: `<out>/conformance/core_report.json`, "
                "`core_report_datasetjson.json` and `conformance_summary.json` (each finding looked up in "
                "specs/conformance/explanations.yaml). Runs before the cSDRG, which prints the summary, and before the "
                "manifest, which publishes it. Without .core-venv/.core-cache (or PIPELINE_CORE_PYTHON/"
                "PIPELINE_CORE_CACHE; `make core`) it materializes as `not run: <reason>` and the check is Skipped."
            ),
        )
    },
    deps=[SDTM_KEY],
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=CONFORMANCE_KEY,
            blocking=False,
            description=(
                "Every CORE finding has an explanation in specs/conformance/explanations.yaml and every engine error "
                "is allowed there (WARN otherwise; never stops the build). Skipped when CORE did not run."
            ),
        )
    ],
    # Subsettable, so each output is optional: a check that yields no result is shown as Skipped.
    can_subset=True,
)
def conformance_asset(context, paths: StudyPaths):
    """Run CORE on ``<out>/sdtm``; the asset's value (:func:`conformance_value`) and the findings check."""
    want_asset = CONFORMANCE_KEY in context.selected_asset_keys
    want_check = CHECK_KEY in context.selected_asset_check_keys
    config = core_config_from_env()
    if not config.enabled:
        # Not run: no check evaluation at all, so the UI shows the check as Skipped (a passed result
        # would claim conformance that nobody checked).
        context.log.info(f"CORE conformance skipped: {config.reason}")
        if want_asset:
            _remove_reports(paths.out)
            yield dg.Output(
                conformance_value("not run", config.reason),
                output_name="conformance",
                metadata={"status": "not run", "result": f"not run: {config.reason}"},
            )
        return
    explanations = load_explanations()
    if want_asset:
        _remove_reports(paths.out)  # a pass that fails must not leave the previous build's report behind
    passes, failed = run_passes(paths.out / "sdtm", paths.out, config, explanations)
    if failed is not None:
        context.log.warning(f"CORE conformance: {failed.error}\n{failed.log}")
        if want_asset:
            yield dg.Output(
                conformance_value("failed", failed.error),
                output_name="conformance",
                metadata={"status": "failed", "result": f"not run: {failed.error}"},
            )
        if want_check:
            yield dg.AssetCheckResult(
                asset_key=CONFORMANCE_KEY,
                check_name=CHECK_NAME,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata=check_metadata(failed),
            )
        return
    _fmt, first, _ = passes[0]
    summary_path = paths.out / SUMMARY_PATH
    metadata = {
        **check_metadata(first),
        **explanation_metadata(passes),
        "passes": ", ".join(f for f, _, _ in passes),
        "summary": dg.MetadataValue.path(str(summary_path)),
    }
    passed = all(cls.passed for _, _, cls in passes)
    if want_asset:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        yield dg.Output(
            conformance_value("ran", summary=summary),
            output_name="conformance",
            metadata={
                "status": "ran",
                "result": "ran: " + ("every finding explained" if passed else "findings or engine errors without an explanation"),
                **{k: metadata[k] for k in ("passes", "findings", "findings explained", "findings unexplained", "summary")},
            },
        )
    if want_check:
        yield dg.AssetCheckResult(
            asset_key=CONFORMANCE_KEY,
            check_name=CHECK_NAME,
            passed=passed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=metadata,
        )


core_assets: list[dg.AssetsDefinition] = [conformance_asset]


if __name__ == "__main__":  # python -m pipeline.submission.core <sdtm dir> [report.json]
    cfg = core_config_from_env()
    res = run_core(Path(sys.argv[1]), Path(sys.argv[2] if len(sys.argv) > 2 else "core_report.json"), cfg)
    if res is None:
        print(f"skipped: {cfg.reason}")
    else:
        print(json.dumps({k: v for k, v in check_metadata(res).items() if isinstance(v, (int, float, str))}, indent=1))
