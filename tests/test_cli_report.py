"""The end-of-run summary read from a run's events: a failed schema check is one problem with its failing values."""

import io

import dagster as dg
import pandas as pd
from rich.console import Console

from pipeline import report
from pipeline.dataset_assets import dataset_asset
from pipeline.resources import StudyPaths
from pipeline.sdtm.common import DomainResult
from pipeline.specs.datasets import load_dataset_spec
from tests.test_schemas import STUDY, ae_frame


def _failed_ae_run(tmp_path) -> dg.ExecuteInProcessResult:
    data = ae_frame()
    data.loc[1, "AETOXGR"] = "6"
    lineage = pd.DataFrame(
        {"DOMAIN": "AE", "USUBJID": data["USUBJID"], "RECORD": data["AESEQ"], "RAWFILE": "101/ae.csv", "RAWROW": [4, 7]}
    )
    result = DomainResult("AE", data, lineage, pd.DataFrame())
    asset = dataset_asset(load_dataset_spec("sdtm", "ae"), {}, lambda: result, lambda r: r.data, lambda r, p: None, lambda r: {})
    return dg.materialize([asset], resources={"paths": StudyPaths(out_dir=str(tmp_path))}, raise_on_error=False)


def test_failed_schema_check_is_one_problem_with_subject_seq_and_raw_row(tmp_path):
    run = _failed_ae_run(tmp_path)
    assert not run.success  # the blocking check fails the step
    probs = report.problems(run.all_events)
    assert len(probs) == 1  # the step failure it causes is not a second problem
    p = probs[0]
    assert p.where == "sdtm/ae check schema" and p.what == "1 value(s) fail"
    assert p.details == [
        f"USUBJID {STUDY}-101-101-007, AESEQ 2; 101/ae.csv row 7: AETOXGR = '6' breaks the rule: "
        "must be a term of codelist AETOXGR: 1, 2, 3, 4, 5"
    ]
    assert p.todo.startswith("The dataset does not conform to its spec")


def test_summary_first_line_says_failed_and_why(tmp_path):
    run = _failed_ae_run(tmp_path)

    class Report:
        success = run.success
        events = run.all_events

    buf = io.StringIO()
    report.render(Report(), tmp_path / "raw", tmp_path / "out", None, 1.0, Console(file=buf, width=200), not_built=["adam/adae"])
    lines = buf.getvalue().splitlines()
    assert lines[0] == "FAILED: sdtm/ae check schema: 1 value(s) fail; 1 asset(s) not built."
    assert sum("AETOXGR = '6'" in line for line in lines) == 1
    assert any(line.startswith("Failed checks") and line.endswith("sdtm/ae check schema") for line in lines)


def test_instance_without_dagster_yaml_gets_the_project_one_with_a_note(tmp_path, monkeypatch, capsys):
    from pipeline import cli

    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    cli._instance_config_note()
    assert "telemetry:\n  enabled: false" in (home / "dagster.yaml").read_text()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "had no dagster.yaml" in err
    cli._instance_config_note()  # present now: nothing to say
    assert capsys.readouterr().err == ""


def test_warning_line_counts_by_kind():
    import warnings as w

    with w.catch_warnings(record=True) as caught:
        w.simplefilter("always")
        w.warn("a", FutureWarning)
        w.warn("b", FutureWarning)
        w.warn("c", UserWarning)
    assert (
        report.warning_line(caught)
        == "3 Python warning(s) (builtins FutureWarning 2, builtins UserWarning 1): run with --verbose to see them"
    )
    assert report.warning_line([]) == ""
