"""The optional CDISC CORE conformance check (pipeline/submission/core.py, tools/core/run_core.py).

Always run (fast, no engine): the report fixture ``tests/data/core/report_small.json`` parsed into
the check's metadata tables; the configuration from the environment; "skipped, with the reason"
when not configured (also through Dagster); the subprocess's failure and timeout paths (a stand-in
runner script); ``run_core.py``'s report building from plain engine results.

Marked ``core`` (the real engine on ``tests/data/core/sdtm``: DM and AE of the committed study,
6 subjects, Dataset-JSON, about 10 s): run when ``.core-venv`` and ``.core-cache`` exist (``make
core``), skipped otherwise; with ``PIPELINE_CORE_TESTS=1`` they must exist (the tests fail instead).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from pipeline.resources import StudyPaths
from pipeline.submission import core
from pipeline.submission.core import (
    CoreConfig,
    CoreResult,
    check_metadata,
    conformance_asset,
    core_config_from_env,
    parse_report,
    run_core,
)

DATA = Path(__file__).parent / "data" / "core"
ROOT = Path(__file__).resolve().parents[1]
VENV_PY = ROOT / ".core-venv" / "bin" / "python"
CACHE = ROOT / ".core-cache"
FORCED = os.environ.get("PIPELINE_CORE_TESTS") == "1"
HAVE_CORE = VENV_PY.exists() and (CACHE / "rules.pkl").is_file()

needs_core = pytest.mark.skipif(not (HAVE_CORE or FORCED), reason="no .core-venv/.core-cache (make core)")


def _md(v) -> str:
    return v.md_str if hasattr(v, "md_str") else str(v)


# --------------------------------------------------------------------------- report -> metadata


def test_report_fixture_parses_into_counts_and_tables():
    res = parse_report(json.loads((DATA / "report_small.json").read_text()))
    assert res.engine == "cdisc-rules-engine 0.17.1" and res.standard == "SDTMIG 3.4"
    assert res.summary["rules_failed"] == 2 and res.summary["findings"] == 4
    assert not res.passed

    md = check_metadata(res)
    assert md["status"] == "ran"
    assert (md["rules_total"], md["rules_run"], md["rules_failed"], md["rules_errored"], md["findings"]) == (4, 3, 2, 1, 4)
    assert md["findings per dataset"].value == {"AE": 2, "DM": 2}

    table = _md(md["by rule and dataset"]).splitlines()
    assert table[0] == "| rule | CDISC ids | dataset | findings | message |"
    # most findings first, then by rule: only the (rule, dataset) pairs with issues
    assert table[2].startswith("| CORE-000024 | CG0082 | AE | 2 |")
    assert table[3].startswith("| CORE-000191 | CG0529 | DM | 2 |")
    assert len(table) == 4

    errors = _md(md["engine errors"])
    assert "| CORE-000929 | AE | rule evaluation error" in errors

    sample = _md(md["sample findings"]).splitlines()
    assert len(sample) == 2 + 4
    assert "| CORE-000024 | AE | 1 | S-001 | AEBDSYCD, AEBODSYS | AEBDSYCD=, AEBODSYS=Investigations |" in sample[2]
    assert "Skin \\| subcutaneous" in _md(md["sample findings"])  # a pipe in a value does not break the table


def test_sample_shows_every_failing_pair_and_is_capped(monkeypatch):
    monkeypatch.setattr(core, "MAX_SAMPLE", 3)
    findings = [
        {"rule_id": "CORE-1", "dataset": "LB", "row": i, "variables": ["X"], "values": {"X": i}, "message": "m"}
        for i in range(1, 50)
    ]
    findings.append({"rule_id": "CORE-2", "dataset": "AE", "row": 7, "variables": ["Y"], "values": {}, "message": "n"})
    res = CoreResult(
        summary={"findings": 50},
        findings=findings,
        results=[
            {"rule_id": "CORE-1", "dataset": "LB", "status": "issues", "findings": 49},
            {"rule_id": "CORE-2", "dataset": "AE", "status": "issues", "findings": 1},
        ],
    )
    sample = _md(check_metadata(res)["sample findings"])
    rows = [line for line in sample.splitlines() if line.startswith("| CORE-")]
    assert [r.split(" | ")[0:3] for r in rows] == [["| CORE-1", "LB", "1"], ["| CORE-1", "LB", "2"], ["| CORE-2", "AE", "7"]]
    assert "47 more rows in the report" in sample


def test_parse_rejects_other_documents():
    with pytest.raises(ValueError):
        parse_report({"format": "something else"})


def test_error_result_metadata():
    md = check_metadata(CoreResult(error="CORE exited with status 1", log="Traceback ..."))
    assert md["status"] == "error" and md["reason"] == "CORE exited with status 1"
    assert "Traceback" in _md(md["log"])


# --------------------------------------------------------------------------- configuration


def _fake_setup(root: Path) -> Path:
    (root / ".core-venv" / "bin").mkdir(parents=True)
    py = root / ".core-venv" / "bin" / "python"
    py.write_text("")
    (root / ".core-cache").mkdir()
    (root / ".core-cache" / "rules.pkl").write_bytes(b"")
    return py


def test_config_defaults_to_the_project_folders_when_they_exist(tmp_path):
    assert core_config_from_env({}, root=tmp_path).reason.startswith("no CORE interpreter")
    py = _fake_setup(tmp_path)
    cfg = core_config_from_env({}, root=tmp_path)
    assert cfg.enabled, cfg.reason
    assert (cfg.python, cfg.cache, cfg.timeout) == (py, tmp_path / ".core-cache", core.DEFAULT_TIMEOUT)


def test_config_reasons(tmp_path):
    _fake_setup(tmp_path)

    def env(**kw):
        return core_config_from_env(kw, root=tmp_path)

    assert env(PIPELINE_CORE="0").reason == "switched off (PIPELINE_CORE=0)"
    assert "pytest" in env(PYTEST_CURRENT_TEST="t").reason
    assert env(PYTEST_CURRENT_TEST="t", PIPELINE_CORE_TESTS="1").enabled
    assert env(PIPELINE_CORE_PYTHON=str(tmp_path / "nope")).reason.startswith("CORE interpreter not found")
    assert env(PIPELINE_CORE_CACHE=str(tmp_path)).reason.startswith("not a CORE cache")
    assert "make core" in env(PIPELINE_CORE_CACHE=str(tmp_path)).reason
    assert env(PIPELINE_CORE_TIMEOUT="x").reason.startswith("bad PIPELINE_CORE_TIMEOUT")
    assert env(PIPELINE_CORE_TIMEOUT="30", PIPELINE_CORE_WORKERS="1").timeout == 30.0


def test_run_core_returns_none_when_not_configured(tmp_path):
    cfg = CoreConfig(reason="no CORE interpreter")
    assert run_core(tmp_path, tmp_path / "r.json", cfg) is None
    assert not (tmp_path / "r.json").exists()


# --------------------------------------------------------------------------- subprocess handling (stand-in runner)


def _stand_in(tmp_path: Path, body: str) -> CoreConfig:
    runner = tmp_path / "runner.py"
    runner.write_text("import sys, json, time\nargs = sys.argv[1:]\nout = args[args.index('--output') + 1]\n" + body)
    return CoreConfig(python=Path(sys.executable), cache=tmp_path, runner=runner, timeout=20)


def test_run_core_writes_the_report_atomically_and_parses_it(tmp_path):
    fixture = (DATA / "report_small.json").read_text()
    cfg = _stand_in(tmp_path, f"open(out, 'w').write({fixture!r})\nassert '--define' in args\n")
    (tmp_path / "sdtm").mkdir()
    (tmp_path / "sdtm" / "define.xml").write_text("<ODM/>")
    report = tmp_path / "out" / "conformance" / "core_report.json"
    res = run_core(tmp_path / "sdtm", report, cfg)
    assert res is not None and res.error is None, res and (res.error, res.log)
    assert res.report_path == report and report.read_text() == fixture
    assert res.summary["rules_failed"] == 2


def test_run_core_reports_a_crash_and_keeps_the_old_report(tmp_path):
    cfg = _stand_in(tmp_path, "print('engine exploded', file=sys.stderr)\nsys.exit(3)\n")
    (tmp_path / "sdtm").mkdir()
    report = tmp_path / "core_report.json"
    report.write_text("old")
    res = run_core(tmp_path / "sdtm", report, cfg)
    assert res.error == "CORE exited with status 3" and "engine exploded" in res.log
    assert report.read_text() == "old"


def test_run_core_times_out(tmp_path):
    cfg = _stand_in(tmp_path, "time.sleep(60)\n")
    cfg = CoreConfig(python=cfg.python, cache=cfg.cache, runner=cfg.runner, timeout=1)
    (tmp_path / "sdtm").mkdir()
    t0 = time.perf_counter()
    res = run_core(tmp_path / "sdtm", tmp_path / "r.json", cfg)
    assert time.perf_counter() - t0 < 15
    assert "did not finish in 1 s" in res.error


# --------------------------------------------------------------------------- the Dagster check


CONF_KEY = dg.AssetKey(["submission", "conformance"])
CHECK_KEY = dg.AssetCheckKey(CONF_KEY, "core_conformance")


def _materialize(out: Path, instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    @dg.asset(key=["submission", "sdtm"])
    def sdtm_package():
        return None

    res = dg.materialize([sdtm_package, conformance_asset], resources={"paths": StudyPaths(out_dir=str(out))}, instance=instance)
    assert res.success
    return res


def _materialize_check(out: Path) -> dg.AssetCheckEvaluation:
    (ev,) = _materialize(out).get_asset_check_evaluations()
    assert ev.check_name == "core_conformance" and ev.asset_key == CONF_KEY
    return ev


def _skipped(out: Path) -> str:
    """Materialize without the engine; assert the asset says "not run" and Dagster records the check as
    skipped; return the log's reason."""
    with dg.instance_for_test() as instance:
        res = _materialize(out, instance)
        # No evaluation: neither passed nor failed. The check stays "planned" in a successful run,
        # which Dagster resolves (and the UI shows) as Skipped.
        assert res.get_asset_check_evaluations() == []
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([CHECK_KEY])[CHECK_KEY]
        assert record.status.value == "PLANNED" and record.run_id == res.run_id
        assert instance.get_run_by_id(res.run_id).status == dg.DagsterRunStatus.SUCCESS
        # The asset itself materializes, saying why CORE did not run; its value tells the cSDRG.
        (mat,) = [m for m in res.get_asset_materialization_events() if m.asset_key == CONF_KEY]
        md = mat.materialization.metadata
        value = res.output_for_node("submission_conformance", "conformance")
        assert md["status"].value == "not run" and md["result"].value == f"not run: {value['reason']}"
        assert value["status"] == "not run" and value["summary"] is None
        logs = [e.user_message for e in instance.all_logs(res.run_id) if "CORE conformance skipped" in (e.user_message or "")]
    assert len(logs) == 1
    return logs[0]


def test_check_is_skipped_with_the_reason_and_fast_when_not_configured(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_CORE_TESTS", "1")
    monkeypatch.setenv("PIPELINE_CORE_PYTHON", str(tmp_path / "no-such-python"))
    t0 = time.perf_counter()
    reason = _skipped(tmp_path / "out")
    assert "CORE conformance skipped: CORE interpreter not found" in reason
    assert not (tmp_path / "out" / "conformance").exists()
    assert time.perf_counter() - t0 < 30


def test_check_is_off_under_pytest_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("PIPELINE_CORE_TESTS", raising=False)
    monkeypatch.delenv("PIPELINE_CORE", raising=False)
    assert "PIPELINE_CORE_TESTS" in _skipped(tmp_path / "out")


def test_check_is_non_blocking():
    (spec,) = conformance_asset.check_specs
    assert spec.name == "core_conformance" and spec.asset_key == CONF_KEY
    assert not spec.blocking


def test_not_run_removes_the_reports_of_an_earlier_build(tmp_path, monkeypatch):
    # a staging folder starts as links to the published package: its CORE files are of other datasets
    monkeypatch.setenv("PIPELINE_CORE", "0")
    conf = tmp_path / "out" / "conformance"
    conf.mkdir(parents=True)
    for name in ("core_report.json", "core_report_datasetjson.json", "conformance_summary.json", "notes.txt"):
        (conf / name).write_text("old")
    assert "switched off (PIPELINE_CORE=0)" in _skipped(tmp_path / "out")
    assert sorted(p.name for p in conf.iterdir()) == ["notes.txt"]


# --------------------------------------------------------------------------- run_core.py report building (no engine)


def _run_core_module():
    spec = importlib.util.spec_from_file_location("run_core_tool", ROOT / "tools" / "core" / "run_core.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_build_report_maps_statuses_merges_and_sorts(tmp_path):
    rc = _run_core_module()
    data = tmp_path / "sdtm"

    def err(row, v):
        return {"value": {"AEBDSYCD": None, "AEBODSYS": v}, "dataset": "ae.xpt", "row": row, "USUBJID": "S", "SEQ": row}

    raw = [
        {
            "rule_id": "CORE-2",
            "cdisc_ids": "CG2",
            "fda_ids": "",
            "message": "m2",
            "description": "",
            "crash": None,
            "results": {
                "AE": [
                    {
                        "executionStatus": "success",
                        "dataset": "ae.xpt",
                        "variables": ["AEBODSYS", "AEBDSYCD"],
                        "message": "AEBODSYS set",
                        "errors": [err(5, "b"), err(2, "a")],
                    }
                ],
                "DM": [
                    {
                        "executionStatus": "skipped",
                        "dataset": "dm.xpt",
                        "message": "rule execution error",
                        "errors": [{"error": "Column not found in data", "message": "DMZ, DMA"}],
                    }
                ],
            },
        },
        {
            "rule_id": "CORE-1",
            "cdisc_ids": "",
            "fda_ids": "",
            "message": "m1",
            "description": "",
            "crash": None,
            "results": {
                "AE": [{"executionStatus": "success", "dataset": "AE", "errors": []}],
                "DM": [
                    {
                        "executionStatus": "execution error",
                        "dataset": "DM",
                        "message": "rule execution error",
                        "errors": [{"error": "An unknown exception", "message": f"boom in {data}/dm.xpt"}],
                    }
                ],
            },
        },
        {
            "rule_id": "CORE-3",
            "cdisc_ids": "",
            "fda_ids": "",
            "message": "",
            "description": "",
            "crash": "TypeError: x",
            "results": {},
        },
    ]
    rep = rc.build_report(
        raw,
        data=data,
        files=[data / "ae.xpt", data / "dm.xpt"],
        records={"AE": 3, "DM": 2},
        meta={"engine": {"name": "cdisc-rules-engine", "version": "0.17.1"}},
        max_findings=1,
    )
    assert [(r["rule_id"], r["dataset"], r["status"], r["findings"]) for r in rep["results"]] == [
        ("CORE-1", "AE", "passed", 0),
        ("CORE-1", "DM", "error", 0),
        ("CORE-2", "AE", "issues", 2),
        ("CORE-2", "DM", "skipped", 0),
        ("CORE-3", "*", "error", 0),
    ]
    assert [(r["rule_id"], r["status"]) for r in rep["rules"]] == [
        ("CORE-1", "passed"),
        ("CORE-2", "issues"),
        ("CORE-3", "error"),
    ]
    dm_error = rep["results"][1]["message"]
    assert str(data) not in dm_error and "boom in dm.xpt" in dm_error
    assert rep["results"][3]["message"].endswith("Column not found in data: DMA, DMZ")
    # max_findings=1 keeps the first row of the pair; the count stays true
    assert [(f["dataset"], f["row"], f["variables"]) for f in rep["findings"]] == [("AE", 2, ["AEBDSYCD", "AEBODSYS"])]
    s = rep["summary"]
    assert (
        s["rules_total"],
        s["rules_run"],
        s["rules_failed"],
        s["rules_errored"],
        s["rules_with_errors"],
        s["findings"],
        s["findings_listed"],
    ) == (3, 2, 1, 1, 2, 2, 1)
    assert json.loads(json.dumps(rep)) == rep


# --------------------------------------------------------------------------- the real engine


@pytest.mark.core
@needs_core
def test_real_engine_on_dm_and_ae(tmp_path):
    cfg = core_config_from_env({"PIPELINE_CORE_TESTS": "1"}, root=ROOT)
    assert cfg.enabled, cfg.reason
    report = tmp_path / "conformance" / "core_report.json"
    res = run_core(DATA / "sdtm", report, cfg)
    assert res is not None and res.error is None, (res.error, res.log)
    s = res.summary
    assert s["rules_total"] == 430 and s["datasets"] == 2
    assert s["rules_run"] > 100 and s["rules_failed"] >= 2
    failed = {r["rule_id"]: r for r in res.rules if r["status"] == "issues"}
    # known in the committed study: AEBODSYS without AEBDSYCD; RFENDTC missing for subjects still on study
    assert failed["CORE-000024"]["datasets_with_issues"] == ["AE"]
    assert failed["CORE-000191"]["datasets_with_issues"] == ["DM"]
    assert all(f["dataset"] in {"AE", "DM", "STUDY"} for f in res.findings)
    doc = json.loads(report.read_text())
    assert doc["datasets"] == [{"name": "AE", "file": "ae.json", "records": 11}, {"name": "DM", "file": "dm.json", "records": 6}]
    assert doc["findings"] == sorted(
        doc["findings"],
        key=lambda f: (f["rule_id"], f["dataset"], f["row"] is None, f["row"] or 0, json.dumps(f["values"], sort_keys=True)),
    )
    assert res.seconds < 180


@pytest.mark.core
@needs_core
def test_real_engine_through_the_dagster_asset_and_check(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_CORE_TESTS", "1")
    for var in ("PIPELINE_CORE", "PIPELINE_CORE_PYTHON", "PIPELINE_CORE_CACHE"):
        monkeypatch.delenv(var, raising=False)
    out = tmp_path / "out"
    shutil.copytree(DATA / "sdtm", out / "sdtm")
    ev = _materialize_check(out)
    md = ev.metadata
    assert md["status"].value == "ran", md.get("reason")
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN  # findings: a warning, not a failed build
    assert md["rules_total"].value == 430 and md["rules_failed"].value >= 2
    assert "| CORE-000024 |" in _md(md["by rule and dataset"])
    # the fixture has Dataset-JSON only: one pass, in that format
    assert md["passes"].value == "json"
    assert not (out / "conformance" / "core_report.json").exists()
    assert json.loads((out / "conformance" / "core_report_datasetjson.json").read_text())["format"] == "core-report/1"
    summary = json.loads((out / "conformance" / "conformance_summary.json").read_text())
    assert [p["data_format"] for p in summary["passes"]] == ["json"]
    assert md["findings unexplained"].value + md["findings explained"].value == md["findings"].value
