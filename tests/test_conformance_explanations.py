"""The sponsor's explanations of CORE findings (pipeline/specs/conformance.py) and the sorting of a
CORE report into explained and unexplained findings (pipeline/submission/conformance.py).

Hand-made reports with known counts; no engine needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from pipeline.resources import StudyPaths
from pipeline.specs.conformance import (
    DEFAULT_PATH,
    ExplanationsError,
    load_explanations,
    parse_explanations,
)
from pipeline.submission import core
from pipeline.submission.conformance import classify, summary_doc
from pipeline.submission.core import CoreConfig, CoreResult

DATA = Path(__file__).parent / "data" / "core"


def _result(results, findings=(), rules=()) -> CoreResult:
    return CoreResult(
        summary={"findings": sum(r.get("findings", 0) for r in results)},
        results=list(results),
        findings=list(findings),
        rules=list(rules),
        engine="cdisc-rules-engine 0.17.1",
        standard="SDTMIG 3.4",
    )


def _expl(findings=(), engine_errors=()):
    return parse_explanations({"findings": list(findings), "engine_errors": list(engine_errors)}, Path("x.yaml"))


DM_CHOICE = {
    "rule": "CORE-000713",
    "datasets": ["DM"],
    "kind": "sponsor choice",
    "explanation": "RFSTDTC is the hepatectomy, which precedes consent by design.",
}


# --------------------------------------------------------------------------- the file


def test_the_project_file_loads_and_every_entry_is_complete():
    ex = load_explanations(DEFAULT_PATH)
    assert ex.source == "explanations.yaml"
    assert ex.findings, "the project's explanations file lists no finding"
    for e in ex.findings:
        assert e.rule.startswith("CORE-") and e.datasets and len(e.explanation) > 20
    for e in ex.engine_errors:
        assert e.message and len(e.reason) > 20


def test_no_file_means_no_explanations(tmp_path):
    ex = load_explanations(tmp_path / "none.yaml")
    assert ex.findings == () and ex.engine_errors == ()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**DM_CHOICE, "rule": "CORE-713"}, "findings entry 1: 'rule' must look like CORE-000123, got 'CORE-713'"),
        ({**DM_CHOICE, "kind": "defect"}, "findings entry 1: 'kind' must be one of"),
        ({**DM_CHOICE, "explanation": "  "}, "findings entry 1: 'explanation' must be a non-empty text"),
        ({**DM_CHOICE, "datasets": []}, "findings entry 1: 'datasets' must be a dataset name or a non-empty list"),
        ({**DM_CHOICE, "datasets": "*"}, "findings entry 1: 'datasets' may not be '*'"),
        ({**DM_CHOICE, "varibles": ["X"]}, "findings entry 1: unknown keys ['varibles']"),
        ({**DM_CHOICE, "where": ["X"]}, "findings entry 1: 'where' must map variable names to values"),
    ],
)
def test_a_malformed_entry_is_named(entry, message):
    with pytest.raises(ExplanationsError) as e:
        _expl([entry])
    assert str(e.value).startswith("x.yaml: ") and message in str(e.value)


def test_the_same_rule_and_dataset_explained_twice_is_refused():
    with pytest.raises(ExplanationsError, match="CORE-000713 on DM is already explained by findings entry 1"):
        _expl([DM_CHOICE, {**DM_CHOICE, "explanation": "another text for the same finding"}])


def test_dataset_names_are_upper_cased_and_one_name_may_be_given_as_text():
    (e,) = _expl([{**DM_CHOICE, "datasets": "dm"}]).findings
    assert e.datasets == ("DM",)


# --------------------------------------------------------------------------- sorting a report


def test_a_whole_pair_is_explained_and_another_is_not():
    res = _result(
        [
            {"rule_id": "CORE-000713", "dataset": "DM", "status": "issues", "findings": 154},
            {"rule_id": "CORE-000553", "dataset": "SE", "status": "issues", "findings": 387},
            {"rule_id": "CORE-000713", "dataset": "AE", "status": "passed", "findings": 0},
        ],
        rules=[{"rule_id": "CORE-000553", "cdisc_ids": "CG0222", "message": "SEENDY missing"}],
    )
    cls = classify(res, _expl([DM_CHOICE]))
    assert [(r.rule, r.dataset, r.findings, r.kind) for r in cls.explained] == [("CORE-000713", "DM", 154, "sponsor choice")]
    assert [(r.rule, r.dataset, r.findings, r.cdisc_ids, r.message) for r in cls.unexplained] == [
        ("CORE-000553", "SE", 387, "CG0222", "SEENDY missing")
    ]
    assert (cls.explained_findings, cls.unexplained_findings, cls.passed) == (154, 387, False)


def test_where_explains_only_the_matching_listed_findings():
    # EPOCH missing: by design on undated pre-operative records (RSDTC empty), a defect otherwise
    findings = [
        {"rule_id": "CORE-000701", "dataset": "RS", "row": 1, "values": {"EPOCH": None, "RSDTC": None}},
        {"rule_id": "CORE-000701", "dataset": "RS", "row": 2, "values": {"EPOCH": "", "RSDTC": ""}},
        {"rule_id": "CORE-000701", "dataset": "RS", "row": 3, "values": {"EPOCH": None, "RSDTC": "2019-03-05"}},
    ]
    res = _result([{"rule_id": "CORE-000701", "dataset": "RS", "status": "issues", "findings": 4}], findings)
    ex = _expl(
        [
            {
                "rule": "CORE-000701",
                "datasets": ["RS"],
                "kind": "sponsor choice",
                "explanation": "Undated pre-operative assessments have no element.",
                "where": {"RSDTC": None},
            }
        ]
    )
    cls = classify(res, ex)
    assert [(r.dataset, r.findings) for r in cls.explained] == [("RS", 2)]
    # row 3 does not match, and the 4th finding was never listed (report cap): both unexplained
    assert [(r.dataset, r.findings) for r in cls.unexplained] == [("RS", 2)]


def test_where_with_a_list_matches_any_of_its_values():
    findings = [
        {"rule_id": "CORE-000885", "dataset": "DM", "row": i, "values": {"ARMCD": a}}
        for i, a in enumerate(["CONTROL", "SORA", "CONTROL"], start=1)
    ]
    res = _result([{"rule_id": "CORE-000885", "dataset": "DM", "status": "issues", "findings": 3}], findings)
    ex = _expl(
        [
            {
                "rule": "CORE-000885",
                "datasets": "DM",
                "kind": "sponsor choice",
                "explanation": "Control subjects take no study drug, so they have no EX record.",
                "where": {"ARMCD": ["CONTROL", "OBS"]},
            }
        ]
    )
    cls = classify(res, ex)
    assert (cls.explained_findings, cls.unexplained_findings) == (2, 1)


def test_engine_errors_are_allowed_only_with_their_message():
    res = _result(
        [
            {
                "rule_id": "CORE-000685",
                "dataset": "LB",
                "status": "error",
                "message": "rule execution error: No group keys passed!",
            },
            {"rule_id": "CORE-000685", "dataset": "RS", "status": "error", "message": "rule execution error: something else"},
        ]
    )
    ex = _expl(
        engine_errors=[
            {
                "rule": "CORE-000685",
                "datasets": "*",
                "message": "No group keys passed!",
                "reason": "The engine groups by variables that do not exist in these datasets.",
            }
        ]
    )
    cls = classify(res, ex)
    assert [(r.dataset, r.reason is not None) for r in cls.errors_explained] == [("LB", True)]
    assert [r.dataset for r in cls.errors_unexplained] == ["RS"]
    assert not cls.passed


def test_stale_explanations_are_reported_and_a_clean_report_passes():
    res = _result([{"rule_id": "CORE-000713", "dataset": "DM", "status": "issues", "findings": 3}])
    ex = _expl([{**DM_CHOICE, "datasets": ["DM", "SE"]}])
    cls = classify(res, ex)
    assert cls.passed and cls.stale == [("CORE-000713", "SE")]
    doc = summary_doc([("xpt", res, cls)], ex)
    assert doc["format"] == "conformance-summary/1"
    assert doc["stale_explanations"] == [{"rule": "CORE-000713", "dataset": "SE"}]
    (p,) = doc["passes"]
    assert (p["data_format"], p["findings_explained"], p["findings_unexplained"]) == ("xpt", 3, 0)
    assert p["explained"][0]["explanation"].startswith("RFSTDTC is the hepatectomy")
    assert json.loads(json.dumps(doc)) == doc


def test_a_stale_explanation_is_stale_only_if_no_pass_needed_it():
    x = _result([{"rule_id": "CORE-000713", "dataset": "DM", "status": "issues", "findings": 1}])
    j = _result([])
    ex = _expl([DM_CHOICE])
    doc = summary_doc([("xpt", x, classify(x, ex)), ("json", j, classify(j, ex))], ex)
    assert doc["stale_explanations"] == []


# --------------------------------------------------------------------------- the check: one pass per format


def test_the_check_runs_one_pass_per_format_and_warns_on_unexplained(tmp_path, monkeypatch):
    """A stand-in engine: the check asks it for XPT and Dataset-JSON in turn and sorts each report."""
    sdtm = tmp_path / "out" / "sdtm"
    sdtm.mkdir(parents=True)
    for name in ("dm.xpt", "dm.json", "define.xml"):
        (sdtm / name).write_text("x")
    report = json.loads((DATA / "report_small.json").read_text())
    runner = tmp_path / "runner.py"
    runner.write_text(
        "import sys, json\nargs = sys.argv[1:]\nout = args[args.index('--output') + 1]\n"
        "fmt = args[args.index('--format') + 1]\n"
        f"doc = json.loads({json.dumps(report)!r})\n"
        "doc['data_format'] = fmt\n"
        "open(out, 'w').write(json.dumps(doc))\n"
        "open(out + '.' + fmt, 'w').write('called')\n"
    )
    cfg = CoreConfig(python=Path(__import__("sys").executable), cache=tmp_path, runner=runner, timeout=30)
    monkeypatch.setattr(core, "core_config_from_env", lambda: cfg)
    ex = _expl(
        [
            {
                "rule": "CORE-000024",
                "datasets": ["AE"],
                "kind": "engine false positive",
                "explanation": "A stand-in explanation for the test fixture's AE finding.",
            }
        ]
    )
    monkeypatch.setattr(core, "load_explanations", lambda: ex)

    @dg.asset(key=["submission", "sdtm"])
    def sdtm_package():
        return None

    res = dg.materialize([sdtm_package, core.conformance_asset], resources={"paths": StudyPaths(out_dir=str(tmp_path / "out"))})
    (ev,) = res.get_asset_check_evaluations()
    md = ev.metadata
    assert md["passes"].value == "xpt, json"
    conf = tmp_path / "out" / "conformance"
    assert json.loads((conf / "core_report.json").read_text())["data_format"] == "xpt"
    assert json.loads((conf / "core_report_datasetjson.json").read_text())["data_format"] == "json"
    # the fixture: CORE-000024 AE 2 (explained), CORE-000191 DM 2 (not), once per pass
    assert (md["findings explained"].value, md["findings unexplained"].value) == (4, 4)
    assert "| xpt | CORE-000191 | DM | 2 |" in md["unexplained findings"].md_str
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
    summary = json.loads((conf / "conformance_summary.json").read_text())
    assert [p["data_format"] for p in summary["passes"]] == ["xpt", "json"]
    # the asset's value, which the cSDRG prints, is the summary written to the package
    value = res.output_for_node("submission_conformance", "conformance")
    assert value == {"status": "ran", "reason": None, "summary": summary}
