"""Beyond one machine, for real: the nightly build on two Celery workers with Postgres instance storage.

Starts Debian's PostgreSQL (initdb into a temp folder, 127.0.0.1, a free port; as the ``postgres``
user when run as root, which postgres refuses) and redis-server on 127.0.0.1, then two Celery
workers with the shipped deploy/celery/worker.sh and the shipped deploy/celery/dagster.yaml as
the instance. Runs ``nightly_build`` with PIPELINE_EXECUTOR=celery and checks it against the
in-process run (``python -m pipeline run``) byte for byte, with the faults a cluster meets: the worker
process running the SDTM package step is killed mid-step in that same run (the step is retried), and
Postgres is not there at a worker's start; reads run history and asset checks back from Postgres.
Skips with the reason when the servers or the [distributed] extra are missing
(``.ci/install-services.sh`` installs the servers).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.distributed

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent  # the venv's bin, not resolved: dagster, dagster-celery, celery
KILLED_STEP = "submission__sdtm"  # the longest step that writes deliverables (XPT, Dataset-JSON, define.xml)


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _missing() -> str | None:
    for mod in ("dagster_celery", "dagster_postgres", "psycopg2", "redis"):
        try:
            __import__(mod)
        except ImportError:
            return f"{mod} not installed (pip install -c constraints.txt -e '.[distributed]')"
    if _pg_bin() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found: .ci/install-services.sh installs postgresql"
    if shutil.which("redis-server") is None:
        return "redis-server not found: .ci/install-services.sh installs it"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _has_user("postgres")):
        return "running as root without runuser or a postgres user: postgres refuses to run as root"
    return None


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(pred, what: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None, every: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(every)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"{what} not ready within {timeout:.0f} s\n{tail}")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root: Path) -> dict[str, str]:
    """Every visible file under ``root`` (relative posix path -> sha256); hidden temp files apart."""
    return {
        p.relative_to(root).as_posix(): _sha(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


class Postgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (trust auth, no fsync)."""

    def __init__(self, base: Path):
        self.bin = _pg_bin()
        self.data = base / "pgdata"
        self.port = _free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str, timeout: float = 120) -> None:
        res = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{res.stdout[-2000:]}{res.stderr[-2000:]}")

    def start(self) -> None:
        self.data.mkdir(mode=0o700)
        if self.as_user:
            pw = pwd.getpwnam("postgres")
            os.chown(self.data, pw.pw_uid, pw.pw_gid)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "dagster",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.data} -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.data / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            opts,
            "start",
        )
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="dagster", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE dagster")
        conn.close()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://dagster@127.0.0.1:{self.port}/dagster"

    def query(self, sql: str, *params) -> list[tuple]:
        import psycopg2

        with psycopg2.connect(host="127.0.0.1", port=self.port, user="dagster", dbname="dagster") as conn:
            cur = conn.cursor()
            cur.execute(sql, params)
            return cur.fetchall()

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
            )


class Cluster:
    """Postgres, Redis and two Celery workers (one step at a time each), and the environment they share."""

    def __init__(self, base: Path):
        self.base = base
        self.pg = Postgres(base)
        self.redis_port = _free_port()
        self.home = base / "home"
        self.procs: list[subprocess.Popen] = []
        self.workers: dict[str, subprocess.Popen] = {}

    def env(self, raw: Path, out: Path, work: Path, **extra: str) -> dict[str, str]:
        redis = f"redis://127.0.0.1:{self.redis_port}"
        return {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "PYTHON": sys.executable,
            "DAGSTER_HOME": str(self.home),
            "DAGSTER_PG_URL": self.pg.url,
            "DAGSTER_CELERY_BROKER_URL": f"{redis}/0",
            "DAGSTER_CELERY_BACKEND_URL": f"{redis}/1",
            "PIPELINE_EXECUTOR": "celery",
            "PIPELINE_RAW_DIR": str(raw),
            "PIPELINE_OUT_DIR": str(out),
            "PIPELINE_WORK_DIR": str(work),
            **extra,
        }

    def start(self, env: dict[str, str]) -> None:
        self.home.mkdir()
        shutil.copy(DEPLOY / "celery" / "dagster.yaml", self.home / "dagster.yaml")  # the shipped instance config
        self.pg.start()
        log = (self.base / "redis.log").open("w")
        self.procs.append(
            subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.base),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.redis_port)
        _wait(lambda: _ping(client), "redis-server", 30, self.procs[-1], self.base / "redis.log")
        # PATH without the venv: worker.sh must put it there itself (dagster-celery calls `celery` by name).
        wenv = {**env, "PATH": "/usr/local/bin:/usr/bin:/bin"}
        for name in ("w1", "w2"):
            wlog = (self.base / f"{name}.log").open("w")
            self.workers[name] = subprocess.Popen(
                ["bash", str(DEPLOY / "celery" / "worker.sh"), name, "1"],
                env=wenv,
                cwd=REPO,
                stdout=wlog,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        from dagster_celery.make_app import make_app

        app = make_app({"broker": env["DAGSTER_CELERY_BROKER_URL"], "backend": env["DAGSTER_CELERY_BACKEND_URL"]})
        _wait(lambda: len(app.control.ping(timeout=1.0)) >= 2, "two Celery workers", 180, None, self.base / "w1.log")

    def pool_children(self, name: str) -> list[int]:
        """Pids of the processes that run worker ``name``'s tasks: worker.sh execs dagster-celery,
        which starts the celery main process, whose children are the pool."""
        mains = [c for c in _children(self.workers[name].pid) if b"celery" in _cmdline(c)]
        return [c for m in mains for c in _children(m)]

    def stop(self) -> None:
        for proc in self.workers.values():
            with _suppress():
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with _suppress():
                    os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            proc.terminate()
            with _suppress():
                proc.wait(timeout=10)
        self.pg.stop()


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(
            exc[0], (ProcessLookupError, PermissionError, subprocess.TimeoutExpired, OSError)
        )


def _ping(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.fixture(scope="module")
def cluster():
    reason = _missing()
    if reason:
        pytest.skip(reason)
    base = Path(tempfile.mkdtemp(prefix="distributed-"))
    os.chmod(base, 0o755)  # the postgres user must reach its data folder
    c = Cluster(base)
    raw, out, work = base / "raw", base / "out", base / "work"
    shutil.copytree(REPO / "raw", raw)
    # manifest.json records the commit: one value for every run, whatever is committed meanwhile
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip() or "unknown"
    env = c.env(raw, out, work, PIPELINE_CODE_VERSION=head)
    # The in-process reference run works while the services and workers start.
    ref_env = {k: v for k, v in env.items() if not k.startswith(("DAGSTER_", "PIPELINE_"))}
    ref_env["PIPELINE_CODE_VERSION"] = head
    ref = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--raw",
            str(raw),
            "--out",
            str(base / "ref"),
            "--work",
            str(base / "ref_work"),
        ],
        env=ref_env,
        cwd=REPO,
        stdout=(base / "ref.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        c.start(env)
        assert ref.wait(timeout=600) == 0, (base / "ref.log").read_text()[-3000:]
        c.env_run, c.raw, c.out, c.work = env, raw, out, work
        yield c
    finally:
        if ref.poll() is None:
            ref.kill()
        c.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class CeleryRun:
    """The module's one ``nightly_build`` on the two Celery workers, during which the pool process
    running KILLED_STEP was killed: its log, wall time, the worker and the pids killed."""

    log: Path
    returncode: int
    elapsed: float
    worker: str
    killed: list[int]


@pytest.fixture(scope="module")
def celery_run(cluster):
    """Run ``nightly_build`` on the cluster and SIGKILL (as the OOM killer would) the pool process
    running ``submission/sdtm`` while it writes the SDTM package. One run serves every test: the
    byte comparison with the in-process run then also shows that the retried step wrote the same bytes."""
    # its output goes to a file: a pipe nobody reads while the test waits could fill and block the run
    log = cluster.base / "run1.log"
    t = time.monotonic()
    proc = subprocess.Popen(
        [str(BIN / "dagster"), "job", "execute", "-m", "pipeline.definitions", "-j", "nightly_build"],
        env=cluster.env_run,
        cwd=REPO,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    killed: list[int] = []
    try:

        def started():
            rows = cluster.pg.query(
                "SELECT event FROM event_logs WHERE step_key = %s AND dagster_event_type = 'ENGINE_EVENT'", KILLED_STEP
            )
            return next((name for (ev,) in rows for name in ("w1", "w2") if f'"{name}@' in ev and "in celery worker" in ev), None)

        worker = _wait(started, f"{KILLED_STEP} running on a worker", 600, proc, every=0.05)
        for pid in cluster.pool_children(worker):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    elapsed = time.monotonic() - t
    assert proc.returncode == 0, log.read_text(errors="replace")[-4000:]
    print(f"\nnightly_build on two Celery workers, one step killed and retried: {elapsed:.1f} s")
    return CeleryRun(log, proc.returncode, elapsed, worker, killed)


def test_celery_run_is_byte_identical_to_in_process(cluster, celery_run):
    ref, out = _tree(cluster.base / "ref"), _tree(cluster.out)
    # nightly_build on Celery runs without a transfer partition (its transfer assets record "skipped"); the
    # command-line reference runs its drop as a transfer: the transfer files are compared by their own tests.
    ref = {p: h for p, h in ref.items() if not p.startswith("transfers/")}
    assert len(ref) > 100  # SDTM, ADaM, analysis, queries, define.xml, manifest
    assert sorted(out) == sorted(ref)
    # manifest.json also lists the transfer files: every other entry and field is the same.
    assert [p for p in ref if ref[p] != out[p]] in ([], ["manifest.json"])
    manifests = [json.loads((root / "manifest.json").read_text()) for root in (cluster.base / "ref", cluster.out)]
    for m in manifests:
        m["outputs"] = [o for o in m["outputs"] if not str(o.get("path", "")).startswith("transfers/")]
        m.pop("tree_sha256", None)
    assert manifests[0] == manifests[1]


def test_steps_ran_on_both_workers_and_history_reads_back_from_postgres(cluster, celery_run, monkeypatch):
    import dagster as dg

    for k in ("DAGSTER_PG_URL",):
        monkeypatch.setenv(k, cluster.env_run[k])
    with dg.DagsterInstance.from_config(str(cluster.home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        runs = instance.get_runs(dg.RunsFilter(job_name="nightly_build"))
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
        run = runs[0]
        assert run.tags.get("pipeline/study") == "NCT02867280"
        records = instance.get_records_for_run(run.run_id, limit=100000).records
        events = [r.event_log_entry for r in records if r.event_log_entry.dagster_event]
        # every step as a Celery task, spread over the two workers
        hosts = {
            str(e.dagster_event.engine_event_data.metadata["Celery worker"].value).split("@")[0]
            for e in events
            if e.dagster_event.event_type_value == "ENGINE_EVENT"
            and e.dagster_event.engine_event_data
            and "Celery worker" in (e.dagster_event.engine_event_data.metadata or {})
        }
        assert hosts == {"w1", "w2"}
        steps = {e.step_key for e in events if e.dagster_event.event_type_value == "STEP_SUCCESS"}
        assert {"raw__dm", "sdtm__dm", "adam__adsl", KILLED_STEP, "submission__manifest"} <= steps
        materialized = {
            tuple(e.dagster_event.asset_key.path) for e in events if e.dagster_event.event_type_value == "ASSET_MATERIALIZATION"
        }
        assert {("sdtm", "dm"), ("adam", "adtte"), ("submission", "manifest")} <= materialized
        assert instance.get_latest_materialization_event(dg.AssetKey(["adam", "adsl"])).run_id == run.run_id
        # asset checks: each evaluation of the run is in Postgres's check history
        evaluations = [
            e.dagster_event.event_specific_data for e in events if e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
        assert len(evaluations) >= 3
        for ev in evaluations:
            history = instance.event_log_storage.get_asset_check_execution_history(ev.asset_check_key, limit=5)
            assert history and history[0].run_id == run.run_id
            assert history[0].status.value == ("SUCCEEDED" if ev.passed else "FAILED")
        assert any(ev.asset_check_key.name == "subjects_accounted_for" and ev.passed for ev in evaluations)


def test_worker_killed_mid_step_is_retried_on_another_process(cluster, celery_run):
    """The pool process running ``submission/sdtm`` was killed mid-step (``celery_run``). With
    task_acks_late + task_reject_on_worker_lost (deploy/celery/worker.yaml) the task goes back on the
    queue, a worker runs the step again, and the run completes; the worker log names the loss. (Without
    them dagster-celery 0.29.27 got a WorkerLostError and then spun forever when other steps were still
    to be submitted.) That the retried run wrote the in-process run's bytes, with no visible half-file
    left by the killed attempt, is test_celery_run_is_byte_identical_to_in_process."""
    assert celery_run.killed, "no pool process found for the worker"
    assert "WorkerLostError" in (cluster.base / f"{celery_run.worker}.log").read_text(errors="replace")
    executions = cluster.pg.query(
        "SELECT count(*) FROM event_logs WHERE step_key = %s AND dagster_event_type = 'ENGINE_EVENT' AND event LIKE %s",
        KILLED_STEP,
        "%in celery worker%",
    )[0][0]
    assert executions == 2  # the killed attempt and the retry
    successes = cluster.pg.query(
        "SELECT count(*) FROM event_logs WHERE step_key = %s AND dagster_event_type = 'STEP_SUCCESS'", KILLED_STEP
    )[0][0]
    assert successes == 1
    assert cluster.pg.query("SELECT status FROM runs ORDER BY create_timestamp DESC LIMIT 1") == [("SUCCESS",)]


def test_postgres_unavailable_at_start_names_the_setting(cluster, tmp_path):
    """A worker (or daemon) started while the instance's Postgres does not answer stops at once,
    naming the file, the setting and the variable, not after 13 s of dagster-postgres retries."""
    dead = f"postgresql+psycopg2://dagster:secret@127.0.0.1:{_free_port()}/dagster"
    env = {**cluster.env_run, "DAGSTER_PG_URL": dead, "PATH": "/usr/bin:/bin"}
    t = time.monotonic()
    res = subprocess.run(
        ["bash", str(DEPLOY / "celery" / "worker.sh"), "w9", "1"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert res.returncode != 0
    assert "storage.postgres.postgres_url ($DAGSTER_PG_URL)" in res.stderr, res.stderr
    assert str(cluster.home / "dagster.yaml") in res.stderr
    assert "does not answer" in res.stderr and "secret" not in res.stderr
    assert time.monotonic() - t < 60
