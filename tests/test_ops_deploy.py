"""Deployment: the project's definitions load (alone and with the ops objects), example instance configs are valid."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import QueuedRunCoordinator

from pipeline.ops import automation
from pipeline.ops.assets import KEY, build_query_listing_asset
from pipeline.ops.executors import executor_from_env

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"


def test_project_definitions_load():
    from pipeline.definitions import defs

    dg.Definitions.validate_loadable(defs)


def _with_ops(defs: dg.Definitions) -> dg.Definitions:
    """The project's definitions plus the ops objects, wired the way definitions.py should wire them."""
    graph = defs.resolve_asset_graph()
    if graph.has(KEY):  # already wired by the lead
        return defs
    keys = sorted(graph.get_all_asset_keys())
    listing = build_query_listing_asset(
        [k for k in keys if k.path[0] == "raw"],
        [k for k in keys if k.path[0] == "sdtm"],
        [k for k in keys if k.path[0] == "adam"],
    )
    ops = dg.Definitions(assets=[listing], jobs=automation.jobs, schedules=automation.schedules, sensors=automation.sensors)
    return dg.Definitions.merge(defs, ops)


def test_definitions_with_ops_objects_load(tmp_path):
    from pipeline.definitions import build_definitions

    defs = _with_ops(build_definitions(raw_dir=str(tmp_path / "raw"), out_dir=str(tmp_path / "out"), work_dir=str(tmp_path / "work")))
    dg.Definitions.validate_loadable(defs)
    nightly = defs.resolve_job_def("nightly_build")
    assert KEY in nightly.asset_layer.executable_asset_keys
    assert defs.resolve_job_def("query_listing_only").asset_layer.executable_asset_keys == {KEY, dg.AssetKey(["submission", "manifest"])}
    assert defs.resolve_schedule_def("nightly_build_0200_shanghai").execution_timezone == "Asia/Shanghai"
    assert {s.name for s in defs.sensors} >= {"new_export_drop", "query_listing_after_failed_build"}
    listing_deps = defs.resolve_asset_graph().get(KEY).parent_keys
    assert {k.path[0] for k in listing_deps} >= {"raw", "sdtm"}


def test_workspace_loads_with_dagster_cli(tmp_path):
    """`dagster definitions validate -w workspace.yaml`: what dagster dev / the webserver will load."""
    exe = Path(sys.executable).parent / "dagster"
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "PIPELINE_WORK_DIR": str(tmp_path / "work")}
    res = subprocess.run([str(exe), "definitions", "validate", "-w", "workspace.yaml"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]


# --- example instance configs -------------------------------------------------------------


def _load(kind: str) -> dict:
    return yaml.safe_load((DEPLOY / kind / "dagster.yaml").read_text())


@pytest.mark.parametrize("kind", ["k8s", "celery"])
def test_instance_yaml_valid_for_dagster(kind):
    # Dagster's own loader: schema of every top-level section and the concurrency rules.
    config, _ = dagster_instance_config(str(DEPLOY / kind))
    assert set(config["storage"]) == {"postgres"}
    for field in ("hostname", "db_name", "username", "password"):
        assert config["storage"]["postgres"]["postgres_db"][field] is not None
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert importlib.util.find_spec(config["run_coordinator"]["module"])
    assert validate_config(QueuedRunCoordinator.config_type(), config["run_coordinator"].get("config", {})).success
    runs = config["concurrency"]["runs"]
    assert runs["max_concurrent_runs"] > 0
    study_limit = [t for t in runs["tag_concurrency_limits"] if t["key"] == next(iter(automation.STUDY_TAG))]
    assert study_limit and study_limit[0]["limit"] == 1
    assert config["run_retries"]["retry_on_asset_or_op_failure"] is False
    assert config["nux"] == {"enabled": False} and config["telemetry"] == {"enabled": False}


def test_k8s_run_launcher_config():
    launcher = _load("k8s")["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    if importlib.util.find_spec("dagster_k8s") is None:
        pytest.skip("dagster-k8s not installed: launcher config checked by key only")
    from dagster_k8s import K8sRunLauncher

    result = validate_config(K8sRunLauncher.config_type(), launcher["config"])
    assert result.success, result.errors


def test_celery_run_launcher_config():
    launcher = _load("celery")["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_celery_k8s", "CeleryK8sRunLauncher")
    cfg = launcher["config"]
    for key in ("instance_config_map", "postgres_password_secret", "dagster_home", "broker", "backend"):
        assert key in cfg, key
    if importlib.util.find_spec("dagster_celery_k8s") is not None:
        from dagster_celery_k8s import CeleryK8sRunLauncher

        result = validate_config(CeleryK8sRunLauncher.config_type(), cfg)
        assert result.success, result.errors


# --- executor chosen by the deployment -----------------------------------------------------


def test_executor_from_env():
    assert executor_from_env({}) is None
    assert executor_from_env({"PIPELINE_EXECUTOR": "in_process"}) is dg.in_process_executor
    multi = executor_from_env({"PIPELINE_EXECUTOR": "multiprocess", "PIPELINE_MAX_CONCURRENT": "2"})
    assert multi.name == "multiprocess"
    with pytest.raises(ValueError, match="PIPELINE_EXECUTOR"):
        executor_from_env({"PIPELINE_EXECUTOR": "spark"})
    if importlib.util.find_spec("dagster_k8s") is not None:
        assert executor_from_env({"PIPELINE_EXECUTOR": "k8s"}).name == "k8s"


def test_executor_runs_a_job():
    @dg.asset
    def one() -> int:
        return 1

    defs = dg.Definitions(assets=[one], executor=executor_from_env({"PIPELINE_EXECUTOR": "in_process"}))
    assert defs.resolve_implicit_global_asset_job_def().execute_in_process().success
