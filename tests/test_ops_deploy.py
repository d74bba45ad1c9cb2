"""Deployment: the project's definitions load (alone and with the ops objects), example instance configs are valid."""

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config

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
    if graph.has(KEY):  # definitions.py already wires them
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

    defs = _with_ops(
        build_definitions(raw_dir=str(tmp_path / "raw"), out_dir=str(tmp_path / "out"), work_dir=str(tmp_path / "work"))
    )
    dg.Definitions.validate_loadable(defs)
    nightly = defs.resolve_job_def("nightly_build")
    assert KEY in nightly.asset_layer.executable_asset_keys
    assert defs.resolve_job_def("query_listing_only").asset_layer.executable_asset_keys == {
        KEY,
        dg.AssetKey(["submission", "manifest"]),
    }
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
    res = subprocess.run(
        [str(exe), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]


# --- example instance configs -------------------------------------------------------------


def _load(kind: str) -> dict:
    return yaml.safe_load((DEPLOY / kind / "dagster.yaml").read_text())


@pytest.mark.parametrize("kind", ["k8s", "celery", "celery-k8s"])
def test_instance_yaml_valid_for_dagster(kind):
    # Dagster's own loader: schema of every top-level section and the concurrency rules.
    config, _ = dagster_instance_config(str(DEPLOY / kind))
    # The Postgres URL names its driver (psycopg2): a postgres_db: block means psycopg 3 under
    # SQLAlchemy 2.1, which fails at the first run (deploy/README.md).
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert importlib.util.find_spec(config["run_coordinator"]["module"])
    assert validate_config(dg.QueuedRunCoordinator.config_type(), config["run_coordinator"].get("config", {})).success
    runs = config["concurrency"]["runs"]
    assert runs["max_concurrent_runs"] > 0
    study_limit = [t for t in runs["tag_concurrency_limits"] if t["key"] == next(iter(automation.STUDY_TAG))]
    assert study_limit and study_limit[0]["limit"] == 1
    assert config["run_retries"]["retry_on_asset_or_op_failure"] is False
    assert config["nux"] == {"enabled": False} and config["telemetry"] == {"enabled": False}


@pytest.mark.parametrize("kind", ["k8s", "celery", "celery-k8s"])
def test_instance_classes_and_their_config(kind, monkeypatch):
    """The storage and launcher classes the shipped file names import, and their config passes
    their own schema (connecting is tests/test_distributed.py's part)."""
    pytest.importorskip("dagster_postgres")
    from dagster._core.instance.ref import InstanceRef

    if kind != "celery":
        pytest.importorskip("dagster_k8s")
    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql+psycopg2://dagster@127.0.0.1:9/dagster")
    monkeypatch.setenv("DAGSTER_K8S_JOB_NAMESPACE", "nct02867280")
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "redis://127.0.0.1:9/0")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://127.0.0.1:9/1")
    ref = InstanceRef.from_dir(str(DEPLOY / kind))
    assert ref.storage_data.class_name == "DagsterPostgresStorage"
    assert (
        ref.run_launcher_data.class_name
        == {"k8s": "K8sRunLauncher", "celery": "DefaultRunLauncher", "celery-k8s": "CeleryK8sRunLauncher"}[kind]
    )
    for data in (ref.storage_data, ref.run_launcher_data):
        cls = getattr(importlib.import_module(data.module_name), data.class_name)
        result = validate_config(cls.config_type(), yaml.safe_load(data.config_yaml))
        assert result.success, (data.class_name, result.errors)


def test_k8s_run_launcher_config():
    launcher = _load("k8s")["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    if importlib.util.find_spec("dagster_k8s") is None:
        pytest.skip("dagster-k8s not installed: launcher config checked by key only")
    from dagster_k8s import K8sRunLauncher

    result = validate_config(K8sRunLauncher.config_type(), launcher["config"])
    assert result.success, result.errors


def test_celery_k8s_run_launcher_config():
    launcher = _load("celery-k8s")["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_celery_k8s", "CeleryK8sRunLauncher")
    cfg = launcher["config"]
    for key in ("instance_config_map", "dagster_home", "broker", "backend"):
        assert key in cfg, key
    pytest.importorskip("dagster_celery_k8s")
    from dagster_celery_k8s import CeleryK8sRunLauncher

    result = validate_config(CeleryK8sRunLauncher.config_type(), cfg)
    assert result.success, result.errors


def test_celery_plain_machines_config():
    """deploy/celery: runs as local processes, steps on Celery workers; the workers' file names the
    same broker variables as the executor (pipeline/ops/executors.py)."""
    from pipeline.ops.executors import CELERY_CONFIG

    launcher = _load("celery")["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster._core.launcher", "DefaultRunLauncher")
    worker = yaml.safe_load((DEPLOY / "celery" / "worker.yaml").read_text())["execution"]["config"]
    assert worker == CELERY_CONFIG
    pytest.importorskip("dagster_celery")
    from dagster_celery import celery_executor

    assert validate_config(celery_executor.config_schema.config_type, worker).success
    script = (DEPLOY / "celery" / "worker.sh").read_text()
    assert 'export PATH="$bin:$PATH"' in script and "pipeline.ops.instance check" in script


# --- executor chosen by the deployment -----------------------------------------------------


def test_executor_from_env():
    # unset: in-process, the UI's and the daemon's default (deploy/README.md: a process per step cost more than the steps)
    assert executor_from_env({}) is dg.in_process_executor
    assert executor_from_env({"PIPELINE_EXECUTOR": " "}) is dg.in_process_executor
    assert executor_from_env({"PIPELINE_EXECUTOR": "in_process"}) is dg.in_process_executor
    multi = executor_from_env({"PIPELINE_EXECUTOR": "multiprocess", "PIPELINE_MAX_CONCURRENT": "2"})
    assert multi.name == "multiprocess"
    with pytest.raises(ValueError, match="PIPELINE_EXECUTOR"):
        executor_from_env({"PIPELINE_EXECUTOR": "spark"})
    spawn = executor_from_env({"PIPELINE_EXECUTOR": "multiprocess", "PIPELINE_START_METHOD": "spawn"})
    assert spawn.name == "multiprocess"
    with pytest.raises(ValueError, match="PIPELINE_START_METHOD"):
        executor_from_env({"PIPELINE_EXECUTOR": "multiprocess", "PIPELINE_START_METHOD": "fork"})
    if importlib.util.find_spec("dagster_k8s") is not None:
        assert executor_from_env({"PIPELINE_EXECUTOR": "k8s"}).name == "k8s"
    if importlib.util.find_spec("dagster_celery") is not None:
        assert executor_from_env({"PIPELINE_EXECUTOR": "celery"}).name == "celery"


def test_project_jobs_default_to_in_process(monkeypatch):
    from pipeline.definitions import build_definitions

    monkeypatch.delenv("PIPELINE_EXECUTOR", raising=False)
    defs = build_definitions()
    assert defs.resolve_job_def("nightly_build").executor_def is dg.in_process_executor
    assert defs.resolve_implicit_global_asset_job_def().executor_def is dg.in_process_executor  # "Materialize all"


def test_executor_runs_a_job():
    @dg.asset
    def one() -> int:
        return 1

    defs = dg.Definitions(assets=[one], executor=executor_from_env({"PIPELINE_EXECUTOR": "in_process"}))
    assert defs.resolve_implicit_global_asset_job_def().execute_in_process().success


# --- Kubernetes Job specs rendered from the shipped config (no cluster: nothing is created) ---

_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
users: [{name: none, user: {token: unused}}]
"""
IMAGE = "registry.example/clinical-pipeline:0123abc"


class _FakeBatchApi:
    """Stands in for the Kubernetes batch API: keeps the Job bodies it is asked to create."""

    def __init__(self):
        self.created: list[tuple[str, object]] = []

    def create_namespaced_job(self, body, namespace, **_):
        self.created.append((namespace, body))


@pytest.fixture
def k8s_render(tmp_path, monkeypatch):
    """The shipped deploy/k8s launcher (its config through Dagster's own processing, env resolved),
    pointed at a kubeconfig that is never contacted and a batch API that only records; a run of
    nightly_build whose code location names IMAGE."""
    pytest.importorskip("dagster_k8s")
    from dagster._config import process_config
    from dagster._core.code_pointer import ModuleCodePointer
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
    from dagster_k8s import K8sRunLauncher

    monkeypatch.setenv("DAGSTER_K8S_JOB_NAMESPACE", "nct02867280")
    processed = process_config(K8sRunLauncher.config_type(), _load("k8s")["run_launcher"]["config"])
    assert processed.success, processed.errors
    (tmp_path / "kubeconfig").write_text(_KUBECONFIG)
    config = {**processed.value, "load_incluster_config": False, "kubeconfig_file": str(tmp_path / "kubeconfig")}
    fake = _FakeBatchApi()
    launcher = K8sRunLauncher(**config, k8s_client_batch_api=fake)
    origin = JobPythonOrigin(
        "nightly_build",
        RepositoryPythonOrigin(
            executable_path="/usr/local/bin/python",
            code_pointer=ModuleCodePointer("pipeline.definitions", "defs", "/app"),
            container_image=IMAGE,
        ),
    )
    with dg.instance_for_test() as instance:
        launcher.register_instance(instance)
        run = instance.add_run(dg.DagsterRun(job_name="nightly_build", job_code_origin=origin, tags=dict(automation.STUDY_TAG)))
        yield launcher, fake, run, instance


def _pod(job: dict) -> tuple[dict, dict]:
    spec = job["spec"]["template"]["spec"]
    assert len(spec["containers"]) == 1
    return spec, spec["containers"][0]


def _check_common(spec: dict, container: dict) -> None:
    assert container["image"] == IMAGE and container["imagePullPolicy"] == "IfNotPresent"
    assert spec["serviceAccountName"] == "dagster"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
    assert env["DAGSTER_RUN_JOB_NAME"] == "nightly_build"
    env_from = [next(iter(e)) + ":" + next(iter(e.values()))["name"] for e in container["envFrom"]]
    # the study's folders and executor, and the instance's Postgres URL (deploy/k8s/dagster.yaml)
    assert "configMapRef:nct02867280-pipeline-env" in env_from
    assert "secretRef:dagster-postgres-url" in env_from
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["study-data"] == "/data"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["study-data"]["persistentVolumeClaim"]["claimName"] == "nct02867280-data"
    # the instance itself reaches the pod in the command's instance ref, not as a mounted file
    assert set(volumes) == {"study-data"}


def test_k8s_run_launcher_job_spec(k8s_render):
    from kubernetes.client import ApiClient

    launcher, fake, run, instance = k8s_render
    from dagster._core.launcher import LaunchRunContext

    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    [(namespace, body)] = fake.created
    job = ApiClient().sanitize_for_serialization(body)
    assert namespace == "nct02867280"
    assert job["metadata"]["name"] == f"dagster-run-{run.run_id}"
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "run_worker"
    assert labels["app.kubernetes.io/part-of"] == "clinical-pipelines"
    assert labels["dagster/job"] == "nightly_build" and labels["dagster/run-id"] == run.run_id
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    spec, container = _pod(job)
    _check_common(spec, container)
    assert container["args"][:5] == ["/usr/local/bin/python", "-m", "dagster", "api", "execute_run"]  # the image's Python
    # one pod per nightly build, sized by run_k8s_config
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}
    assert instance.get_run_by_id(run.run_id).tags["dagster/image"] == IMAGE


def test_k8s_step_job_spec(k8s_render, monkeypatch):
    """The executor's step Job (PIPELINE_EXECUTOR=k8s) as K8sStepHandler.launch_step renders it
    for one step of the same run: the run launcher's image, env, secrets and volumes."""
    from types import SimpleNamespace

    from dagster._grpc.types import ExecuteStepArgs
    from dagster_k8s import executor as k8s_executor
    from dagster_k8s.container_context import K8sContainerContext
    from kubernetes.client import ApiClient

    launcher, fake, run, instance = k8s_render
    handler = k8s_executor.K8sStepHandler(
        image=None,
        container_context=K8sContainerContext(),
        load_incluster_config=False,
        kubeconfig_file=launcher.kubeconfig_file,
        k8s_client_batch_api=fake,
    )
    # the STEP_WORKER_STARTING event needs a live step context; the Job body does not
    monkeypatch.setattr(k8s_executor.DagsterEvent, "step_worker_starting", staticmethod(lambda *a, **k: None))
    step = "sdtm__dm"
    context = SimpleNamespace(
        execute_step_args=ExecuteStepArgs(
            job_origin=run.job_code_origin, run_id=run.run_id, step_keys_to_execute=[step], instance_ref=instance.get_ref()
        ),
        dagster_run=run,
        instance=SimpleNamespace(run_launcher=launcher),
        step_tags={step: {}},
        get_step_context=lambda key: SimpleNamespace(step=SimpleNamespace(op_name=key)),
    )
    list(handler.launch_step(context))
    [(namespace, body)] = fake.created
    job = ApiClient().sanitize_for_serialization(body)
    assert namespace == "nct02867280"
    assert job["metadata"]["name"].startswith("dagster-step-")
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "step_worker" and labels["dagster/op"] == step
    spec, container = _pod(job)
    _check_common(spec, container)
    assert container["args"][:5] == ["/usr/local/bin/python", "-m", "dagster", "api", "execute_step"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DAGSTER_RUN_STEP_KEY"] == step
    # step pods take the instance-wide run_k8s_config too (steps of this study are sized alike)
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}


# --- the instance's Postgres URL and the check before a worker/daemon starts ----------------


def test_postgres_url_from_env():
    from pipeline.ops.instance import InstanceStorageError, postgres_url

    env = {"DAGSTER_PG_HOST": "db.internal", "DAGSTER_PG_DB": "dagster", "DAGSTER_PG_USER": "dagster"}
    assert postgres_url(env) == "postgresql+psycopg2://dagster@db.internal:5432/dagster"
    env |= {"DAGSTER_PG_PORT": "6543", "DAGSTER_PG_PASSWORD": "p@ss:w/rd", "DAGSTER_PG_SSLMODE": "require"}
    assert postgres_url(env) == "postgresql+psycopg2://dagster:p%40ss%3Aw%2Frd@db.internal:6543/dagster?sslmode=require"
    with pytest.raises(InstanceStorageError, match="DAGSTER_PG_PORT='5432x'"):
        postgres_url(env | {"DAGSTER_PG_PORT": "5432x"})
    with pytest.raises(InstanceStorageError, match="DAGSTER_PG_HOST not set"):
        postgres_url({k: v for k, v in env.items() if k != "DAGSTER_PG_HOST"})


def test_check_instance_names_the_setting(tmp_path):
    from pipeline.ops.instance import InstanceStorageError, check_instance

    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    assert "not checked" in check_instance(tmp_path, env={})  # sqlite: nothing to reach
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "celery" / "dagster.yaml").read_text())
    with pytest.raises(InstanceStorageError, match=r"storage.postgres.postgres_url reads \$DAGSTER_PG_URL, which is not set"):
        check_instance(tmp_path, env={})
    with pytest.raises(InstanceStorageError, match="expected a postgresql\\+psycopg2:// URL"):
        check_instance(tmp_path, env={"DAGSTER_PG_URL": "postgresql://dagster:pw@127.0.0.1:9/dagster"})
    pytest.importorskip("psycopg2")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InstanceStorageError) as err:
        check_instance(tmp_path, env={"DAGSTER_PG_URL": f"postgresql+psycopg2://dagster:hunter2@127.0.0.1:{port}/dagster"})
    msg = str(err.value)
    assert str(tmp_path / "dagster.yaml") in msg and "storage.postgres.postgres_url ($DAGSTER_PG_URL)" in msg
    assert f"dagster:***@127.0.0.1:{port}" in msg and "hunter2" not in msg and "does not answer" in msg
