"""Which executor runs the steps of a run, picked by the deployment, not by a code edit.

PIPELINE_EXECUTOR (set in the deployment's environment: Helm values, systemd unit, CI):
  unset          in_process: what the UI's "Materialize all", the schedule and the sensors get
                 (deploy/README.md gives the figures: a process per step cost 3-15x the steps' work)
  in_process     every step in the run's own process
  multiprocess   one process per step on the run's machine (forkserver; PIPELINE_MAX_CONCURRENT
                 steps at once, default 0 = one per CPU)
  k8s            one Kubernetes Job per step (dagster-k8s; with K8sRunLauncher)
  celery         steps as Celery tasks on a worker pool (dagster-celery); broker and result
                 backend from DAGSTER_CELERY_BROKER_URL / DAGSTER_CELERY_BACKEND_URL, the same
                 variables the workers' deploy/celery/worker.yaml reads
  celery_k8s     Celery queues, each step a Kubernetes Job (dagster-celery-k8s; with CeleryK8sRunLauncher)

The integration libraries are imported only when asked for, so a local install needs none
of them. Step limits and pod sizes stay in run config / instance config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

EXECUTORS = ("in_process", "multiprocess", "k8s", "celery", "celery_k8s")
# Celery executor config read from the environment of the run's process; the workers read the
# same variables through deploy/celery/worker.yaml, so both sides name one broker.
CELERY_CONFIG = {
    "broker": {"env": "DAGSTER_CELERY_BROKER_URL"},
    "backend": {"env": "DAGSTER_CELERY_BACKEND_URL"},
    # as deploy/celery/worker.yaml: a step whose worker process dies goes back on the queue
    "config_source": {"worker_prefetch_multiplier": 1, "task_acks_late": True, "task_reject_on_worker_lost": True},
}


def executor_from_env(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """Take the environment; return the executor it names (in-process when PIPELINE_EXECUTOR is unset)."""
    env = env if env is not None else os.environ
    kind = env.get("PIPELINE_EXECUTOR", "").strip().lower() or "in_process"
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "multiprocess":
        # forkserver: each step forks from a warm server instead of re-importing dagster and pandas (~2 s a step).
        start = env.get("PIPELINE_START_METHOD", "forkserver").strip().lower()
        if start not in ("forkserver", "spawn"):
            raise ValueError(f"PIPELINE_START_METHOD={start!r}: expected forkserver or spawn")
        config = {"max_concurrent": int(env.get("PIPELINE_MAX_CONCURRENT", "0")), "start_method": {start: {}}}
        return dg.multiprocess_executor.configured(config, name="multiprocess")
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if kind == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(CELERY_CONFIG, name="celery")
    if kind == "celery_k8s":
        from dagster_celery_k8s import celery_k8s_job_executor

        return celery_k8s_job_executor
    raise ValueError(f"PIPELINE_EXECUTOR={kind!r}: expected one of {', '.join(EXECUTORS)} (or unset: in_process)")
