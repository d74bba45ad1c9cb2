"""Run the CDISC CORE rules engine on a folder of SDTM datasets; write a deterministic JSON report.

Runs INSIDE the Python 3.12 venv made by ``tools/core/setup.sh`` (``cdisc-rules-engine==0.17.1``),
never inside the project's venv: the pipeline calls it in a subprocess
(``pipeline/submission/core.py``).

    .core-venv/bin/python tools/core/run_core.py --data outputs/sdtm --cache .core-cache \\
        --define outputs/sdtm/define.xml --output outputs/conformance/core_report.json

The wheel has no CLI, so this wires the engine's own pieces together (``LibraryMetadataContainer``,
``DataServiceFactory``, ``RulesEngine.validate_single_rule``, ``RuleValidationResult``), loading the
offline cache the way the engine's cache files are laid out (``rules.pkl``, ``rules_dictionary.pkl``,
``standards_details.pkl``, ``standards_models.pkl``, ``variable_codelist_maps.pkl``,
``variables_metadata.pkl``, ``<publishing set>ct-<date>.pkl``). Quirks of 0.17.1 handled here:

* it opens ``resources/schema/dataset.schema.json`` relative to the working directory: we chdir to
  the folder holding the engine's ``resources/`` (its site-packages) after making every path absolute;
* its report factory needs an xlsx template the wheel lacks: the report is written here;
* a rule that raises outside the engine's own error handling is recorded as ``execution error``
  for that rule instead of stopping the run; a rule running longer than ``--rule-timeout`` likewise.

Report (``format: core-report/1``), everything sorted, no timings or absolute paths, so the same
datasets give the same bytes:

* ``results``: one row per (rule, dataset): status (``issues``, ``passed``, ``skipped``,
  ``error``), number of findings, the engine's message/reason;
* ``findings``: one row per finding (rule, dataset, row, USUBJID, SEQ, variables, values, message),
  at most ``--max-findings`` per (rule, dataset) (``results[].findings`` keeps the true count);
* ``rules``: one row per rule (CORE id, CDISC/FDA ids, overall status, message);
* ``summary``: counts.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import multiprocessing as mp
import os
import pickle
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

FORMAT = "core-report/1"
STATUS_ORDER = {"issues": 0, "error": 1, "passed": 2, "skipped": 3}

# Set in the parent before the pool forks; read by the workers.
_STATE: dict[str, Any] = {}


# --------------------------------------------------------------------------- cache


def _load_pickle(path: Path) -> Any:
    with open(path, "rb") as f:
        return pickle.load(f)


def load_rules(cache: Path, standard: str, version: str, only: list[str] | None = None) -> list[dict]:
    """The published rules of ``standard``/``version`` (``rules_dictionary.pkl`` -> ``rules.pkl``), by CORE id."""
    from cdisc_rules_engine.utilities.utils import get_rules_cache_key

    catalog = _load_pickle(cache / "rules_dictionary.pkl")
    key = get_rules_cache_key(standard, version.replace(".", "-"))
    ids = sorted(set(catalog.get(key) or []))
    if not ids:
        raise SystemExit(f"no rules for {key} in {cache / 'rules_dictionary.pkl'}")
    if only:
        unknown = sorted(set(only) - set(ids))
        if unknown:
            raise SystemExit(f"rules not in {key}: {', '.join(unknown)}")
        ids = [i for i in ids if i in set(only)]
    rules = _load_pickle(cache / "rules.pkl")
    missing = [i for i in ids if i not in rules]
    if missing:
        raise SystemExit(f"rules listed for {key} but absent from rules.pkl: {', '.join(missing[:10])}")
    return [rules[i] for i in ids]


def load_library_metadata(cache: Path, standard: str, version: str, ct_packages: list[str], define_xml: Path | None):
    """``LibraryMetadataContainer`` for the standard, with the CT packages asked for and those define.xml names."""
    from cdisc_rules_engine.models.library_metadata_container import (
        LibraryMetadataContainer,
    )
    from cdisc_rules_engine.utilities.utils import (
        get_library_variables_metadata_cache_key,
        get_model_details_cache_key_from_ig,
        get_standard_codelist_cache_key,
        get_standard_details_cache_key,
    )

    dashed = version.replace(".", "-")
    standard_metadata = _load_pickle(cache / "standards_details.pkl").get(get_standard_details_cache_key(standard, dashed), {})
    if not standard_metadata:
        raise SystemExit(f"{standard} {version} is not in {cache / 'standards_details.pkl'}")
    model_metadata = _load_pickle(cache / "standards_models.pkl").get(get_model_details_cache_key_from_ig(standard_metadata), {})
    codelist_map = _load_pickle(cache / "variable_codelist_maps.pkl").get(get_standard_codelist_cache_key(standard, dashed))
    variables = _load_pickle(cache / "variables_metadata.pkl").get(
        get_library_variables_metadata_cache_key(standard, dashed, None)
    )

    available = {p.name.split(".")[0]: p for p in cache.iterdir() if p.suffix == ".pkl" and "ct-" in p.name}
    wanted = list(ct_packages)
    extensible: dict = {}
    if define_xml is not None:
        from cdisc_rules_engine.services.define_xml.define_xml_reader_factory import (
            DefineXMLReaderFactory,
        )

        reader = DefineXMLReaderFactory.from_filename(str(define_xml))
        if reader.class_define_xml_version().model_package == "define_2_1":
            standards, _merged, _ext, _flag = reader.get_ct_standards_metadata()
            wanted += [f"{s.publishing_set.lower()}ct-{s.version}" for s in standards]
        extensible = reader.get_extensible_codelist_mappings()
    missing = sorted({p for p in wanted if p not in available})
    if missing:
        raise SystemExit(f"CT packages not in the cache: {', '.join(missing)} (have {', '.join(sorted(available))})")
    ct_metadata = {p: _load_pickle(available[p]) for p in sorted(set(wanted))}
    if define_xml is not None:
        ct_metadata["extensible"] = extensible
    published = cache / "published_ct_packages.json"
    published_ct = set(json.loads(published.read_text())) if published.exists() else set(available)
    lm = LibraryMetadataContainer(
        standard_metadata=standard_metadata,
        model_metadata=model_metadata,
        ct_package_metadata=ct_metadata,
        variable_codelist_map=codelist_map,
        variables_metadata=variables,
        published_ct_packages=published_ct,
        cache_path=str(cache),
    )
    return lm, sorted(set(wanted))


# --------------------------------------------------------------------------- datasets


def _json_records(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text(encoding="utf-8")).get("records"))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def dataset_files(data: Path, fmt: str, only: list[str] | None) -> list[Path]:
    """The dataset files of ``data`` to validate (optionally only the named datasets), by name.

    ``xpt`` / ``json``: every file with that extension. ``auto``: the XPT file of each dataset, but
    the Dataset-JSON file of a dataset with no records (0.17.1 cannot build a zero-row XPT dataset
    and reports an execution error for every rule on it), and Dataset-JSON where there is no XPT.
    """
    exts = {"xpt": (".xpt",), "json": (".json",), "auto": (".xpt", ".json")}[fmt]
    by_name: dict[str, dict[str, Path]] = {}
    for p in data.iterdir():
        if p.is_file() and p.suffix.lower() in exts and not p.name.startswith("."):
            by_name.setdefault(p.stem.lower(), {})[p.suffix.lower()] = p
    if only:
        names = {n.lower() for n in only}
        by_name = {k: v for k, v in by_name.items() if k in names}
    files = []
    for _name, found in sorted(by_name.items()):
        if fmt != "auto":
            files.append(found[exts[0]])
        elif ".xpt" in found and not (".json" in found and _json_records(found[".json"]) == 0):
            files.append(found[".xpt"])
        else:
            files.append(found[".json"])
    if not files:
        raise SystemExit(f"no {'/'.join(exts)} datasets in {data}" + (f" named {', '.join(only)}" if only else ""))
    return files


# --------------------------------------------------------------------------- workers


class _RuleTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _RuleTimeout()


def _quiet() -> None:
    warnings.simplefilter("ignore")
    from cdisc_rules_engine.services import logger as engine_logger

    engine_logger.disabled = True
    logging.getLogger().setLevel(logging.CRITICAL + 10)


def _engine():
    eng = _STATE.get("engine")
    if eng is None:
        from cdisc_rules_engine.rules_engine import RulesEngine
        from cdisc_rules_engine.services.cache import InMemoryCacheService

        _quiet()
        eng = RulesEngine(
            cache=InMemoryCacheService(),
            standard=_STATE["standard"],
            standard_version=_STATE["version"].replace(".", "-"),
            library_metadata=_STATE["library_metadata"],
            max_dataset_size=_STATE["max_dataset_size"],
            dataset_paths=_STATE["dataset_paths"],
            ct_packages=_STATE["ct_packages"],
            define_xml_path=_STATE["define_xml"],
            validate_xml=False,
        )
        _STATE["engine"] = eng
    return eng


def _validate(rule_id: str) -> dict:
    """Run one rule on every dataset; plain data back (rule id, per-dataset results, crash reason)."""
    from cdisc_rules_engine.models.rule_validation_result import RuleValidationResult

    rule = copy.deepcopy(_STATE["rules"][rule_id])
    ids = RuleValidationResult(rule, [])
    out = {
        "rule_id": rule_id,
        "cdisc_ids": ids.cdisc_rule_id or "",
        "fda_ids": ids.fda_rule_id or "",
        "message": ids.message or "",
        "description": rule.get("description") or "",
        "results": {},
        "crash": None,
    }
    timeout = _STATE["rule_timeout"]
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(timeout)
    try:
        out["results"] = _jsonable(_engine().validate_single_rule(rule))
    except _RuleTimeout:
        out["crash"] = f"rule did not finish in {timeout} s"
    except Exception as e:  # noqa: BLE001 -- the engine lets some errors escape validate_single_dataset
        out["crash"] = f"{type(e).__name__}: {e}"[:500]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return out


def _jsonable(x: Any) -> Any:
    """Plain JSON values: NaN/NaT -> None, numpy scalars -> Python, sets -> sorted lists, other -> str."""
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        return None if math.isnan(x) or math.isinf(x) else x
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (set, frozenset)):
        return sorted((_jsonable(v) for v in x), key=str)
    item = getattr(x, "item", None)
    if callable(item):
        try:
            return _jsonable(item())
        except (TypeError, ValueError):
            return str(x)
    if hasattr(x, "value") and type(x).__module__.startswith("cdisc_rules_engine"):
        return _jsonable(x.value)
    s = str(x)
    return None if s in ("NaT", "nan", "<NA>") else s


# --------------------------------------------------------------------------- report


def _status(engine_status: str | None, n_errors: int) -> str:
    if engine_status in ("success", "issue reported"):
        return "issues" if n_errors else "passed"
    if engine_status == "skipped":
        return "skipped"
    return "error"


_MISSING = "Column not found in data: "


def _clean(text: Any, data: Path) -> str:
    """The text without the data folder's path; a list of missing columns sorted."""
    s = "" if text is None else str(text)
    s = s.replace(str(data) + os.sep, "").replace(str(data), "")
    if _MISSING in s:
        head, _, cols = s.partition(_MISSING)
        s = head + _MISSING + ", ".join(sorted(c.strip() for c in cols.split(",")))
    return s


def _row(row: Any) -> int | None:
    """The engine's 1-based record number; None for a dataset- or study-level finding."""
    if isinstance(row, bool):
        return None
    if isinstance(row, int):
        return row
    return int(row) if isinstance(row, str) and row.strip().isdigit() else None


def _dataset_name(name: Any) -> str:
    s = str(name or "").upper()
    return s.rsplit(".", 1)[0] if s.endswith((".XPT", ".JSON")) else s


def build_report(
    raw: list[dict], *, data: Path, files: list[Path], records: dict[str, int], meta: dict, max_findings: int
) -> dict:
    """The report from the workers' plain results (see the module docstring)."""
    results: list[dict] = []
    findings: list[dict] = []
    rules: list[dict] = []
    for r in sorted(raw, key=lambda r: r["rule_id"]):
        rows: list[dict] = []
        if r["crash"]:
            rows.append(
                {"rule_id": r["rule_id"], "dataset": "*", "status": "error", "findings": 0, "message": _clean(r["crash"], data)}
            )
        for key, items in sorted((r["results"] or {}).items()):
            for item in items or []:
                if not isinstance(item, dict):
                    continue
                dataset = _dataset_name(item.get("dataset") or key)
                status_raw = item.get("executionStatus")
                errs = item.get("errors") or []
                hits = (
                    [e for e in errs if isinstance(e, dict) and "error" not in e]
                    if status_raw in ("success", "issue reported")
                    else []
                )
                status = _status(status_raw, len(hits))
                message = item.get("message") or ""
                if status in ("skipped", "error"):
                    reasons = sorted(
                        {
                            _clean(f"{e.get('error', '')}: {e.get('message', '')}".strip(": "), data)
                            for e in errs
                            if isinstance(e, dict)
                        }
                    )
                    message = "; ".join(x for x in [message, *reasons] if x)
                elif status == "passed":
                    message = ""
                variables = sorted(item.get("variables") or [])
                rows.append(
                    {
                        "rule_id": r["rule_id"],
                        "dataset": dataset,
                        "status": status,
                        "findings": len(hits),
                        "message": _clean(message, data)[:1000],
                    }
                )
                shown = sorted(
                    hits,
                    key=lambda e: (
                        _row(e.get("row")) is None,
                        _row(e.get("row")) or 0,
                        json.dumps(e, sort_keys=True, default=str),
                    ),
                )
                for e in shown[:max_findings]:
                    values = e.get("value") or {}
                    findings.append(
                        {
                            "rule_id": r["rule_id"],
                            "dataset": _dataset_name(e.get("dataset") or dataset),
                            "row": _row(e.get("row")),
                            "usubjid": e.get("USUBJID"),
                            "seq": e.get("SEQ"),
                            "variables": sorted(set(variables) | set(values)),
                            "values": {k: values[k] for k in sorted(values)},
                            "message": _clean(item.get("message") or r["message"], data),
                        }
                    )
        # The same (rule, dataset) may come back twice (split datasets); keep one row each, summed.
        merged: dict[tuple[str, str], dict] = {}
        for row in rows:
            k = (row["rule_id"], row["dataset"])
            if k in merged:
                m = merged[k]
                m["findings"] += row["findings"]
                if STATUS_ORDER[row["status"]] < STATUS_ORDER[m["status"]]:
                    m["status"], m["message"] = row["status"], row["message"]
            else:
                merged[k] = dict(row)
        rows = sorted(merged.values(), key=lambda x: (x["rule_id"], x["dataset"]))
        results += rows
        statuses = {row["status"] for row in rows}
        # A rule counts as run when it was evaluated on at least one dataset; errors are counted apart.
        overall = next((s for s in ("issues", "passed", "error") if s in statuses), "skipped")
        rules.append(
            {
                "rule_id": r["rule_id"],
                "cdisc_ids": r["cdisc_ids"],
                "fda_ids": r["fda_ids"],
                "status": overall,
                "findings": sum(row["findings"] for row in rows),
                "datasets_with_issues": sorted(row["dataset"] for row in rows if row["status"] == "issues"),
                "datasets_with_errors": sorted(row["dataset"] for row in rows if row["status"] == "error"),
                "message": _clean(r["message"], data),
                "description": _clean(r["description"], data)[:1000],
            }
        )
    findings.sort(
        key=lambda f: (
            f["rule_id"],
            f["dataset"],
            f["row"] is None,
            f["row"] or 0,
            json.dumps(f["values"], sort_keys=True, default=str),
        )
    )

    def count(s):
        return sum(1 for r in rules if r["status"] == s)

    summary = {
        "rules_total": len(rules),
        "rules_run": count("issues") + count("passed"),
        "rules_failed": count("issues"),
        "rules_passed": count("passed"),
        "rules_skipped": count("skipped"),
        "rules_errored": count("error"),
        "rules_with_errors": sum(1 for r in rules if r["datasets_with_errors"]),
        "findings": sum(r["findings"] for r in rules),
        "findings_listed": len(findings),
        "datasets": len(files),
    }
    return {
        "format": FORMAT,
        **meta,
        "datasets": [{"name": p.stem.upper(), "file": p.name, "records": records.get(p.stem.upper())} for p in files],
        "summary": summary,
        "rules": rules,
        "results": results,
        "findings": findings,
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, type=Path, help="folder of SDTM datasets")
    ap.add_argument("--cache", required=True, type=Path, help="unpacked CORE cache folder")
    ap.add_argument("--output", required=True, type=Path, help="JSON report to write")
    ap.add_argument("--define", type=Path, help="define.xml (default: <data>/define.xml if it exists)")
    ap.add_argument(
        "--format",
        choices=("auto", "xpt", "json"),
        default="auto",
        help="which files of --data to validate (auto: XPT, Dataset-JSON for empty datasets)",
    )
    ap.add_argument("--standard", default="sdtmig")
    ap.add_argument("--version", default="3.4")
    ap.add_argument("--ct", action="append", default=None, help="CT package (default sdtmct-2025-03-28); repeatable")
    ap.add_argument("--datasets", help="comma-separated dataset names to validate (default: all)")
    ap.add_argument("--rules", help="comma-separated CORE ids to run (default: all published for the standard)")
    ap.add_argument("--workers", type=int, default=0, help="processes (default: CPU count)")
    ap.add_argument("--rule-timeout", type=int, default=300, help="seconds one rule may run")
    ap.add_argument("--max-findings", type=int, default=1000, help="finding rows kept per (rule, dataset)")
    args = ap.parse_args(argv)
    if argv is None and os.environ.get("PYTHONHASHSEED") != "0":
        # The engine builds messages from sets (e.g. missing columns): fix the hash seed so the
        # same datasets give the same report bytes.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})

    data, cache, output = args.data.resolve(), args.cache.resolve(), args.output.resolve()
    define = args.define or (args.data / "define.xml")
    define = define.resolve() if define.exists() else None
    if args.define and define is None:
        raise SystemExit(f"define.xml not found: {args.define}")
    for p, what in ((data, "data folder"), (cache, "cache folder")):
        if not p.is_dir():
            raise SystemExit(f"{what} not found: {p}")

    from importlib.metadata import version as dist_version

    import cdisc_rules_engine

    # The engine reads resources/schema/*.json relative to the working directory.
    site = Path(cdisc_rules_engine.__file__).resolve().parent.parent
    os.chdir(site)
    _quiet()

    only_datasets = [d.strip() for d in args.datasets.split(",")] if args.datasets else None
    only_rules = [r.strip() for r in args.rules.split(",")] if args.rules else None
    files = dataset_files(data, args.format, only_datasets)
    rules = load_rules(cache, args.standard, args.version, only_rules)
    ct = args.ct if args.ct is not None else ["sdtmct-2025-03-28"]
    library_metadata, ct_used = load_library_metadata(cache, args.standard, args.version, ct, define)

    from cdisc_rules_engine.config import config
    from cdisc_rules_engine.services.cache import InMemoryCacheService
    from cdisc_rules_engine.services.data_services import DataServiceFactory

    paths = [str(p) for p in files]
    max_size = max(p.stat().st_size for p in files)
    service = DataServiceFactory(
        config,
        InMemoryCacheService(),
        standard=args.standard,
        standard_version=args.version.replace(".", "-"),
        library_metadata=library_metadata,
        max_dataset_size=max_size,
    ).get_data_service(paths)
    records = {m.name.upper(): m.record_count for m in service.get_datasets()}

    _STATE.update(
        standard=args.standard,
        version=args.version,
        library_metadata=library_metadata,
        max_dataset_size=max_size,
        dataset_paths=paths,
        ct_packages=ct,
        define_xml=str(define) if define else None,
        rules={r["core_id"]: r for r in rules},
        rule_timeout=args.rule_timeout,
    )
    workers = args.workers or os.cpu_count() or 1
    t0 = time.perf_counter()
    ids = [r["core_id"] for r in rules]
    if workers == 1:
        raw = [_validate(i) for i in ids]
    else:
        with mp.get_context("fork").Pool(workers, maxtasksperchild=50) as pool:
            raw = list(pool.imap_unordered(_validate, ids, chunksize=1))
    seconds = time.perf_counter() - t0

    meta = {
        "engine": {"name": "cdisc-rules-engine", "version": dist_version("cdisc-rules-engine")},
        "standard": args.standard.upper(),
        "standard_version": args.version,
        "ct_packages": ct_used,
        "define_xml": define.name if define else None,
        "data_format": args.format,
    }
    report = build_report(raw, data=data, files=files, records=records, meta=meta, max_findings=args.max_findings)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report, indent=1, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, output)
    s = report["summary"]
    print(
        f"CORE {meta['engine']['version']}: {s['rules_total']} rules on {s['datasets']} datasets in {seconds:.1f} s: "
        f"{s['rules_failed']} failed, {s['rules_passed']} passed, {s['rules_skipped']} skipped, "
        f"{s['rules_errored']} errored ({s['rules_with_errors']} with an error on some dataset); "
        f"{s['findings']} findings -> {output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
