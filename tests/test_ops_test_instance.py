"""Tests run against their own temporary Dagster instance, never the user's .dagster_home."""

import hashlib
import os
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[1]


def _tree(root: Path) -> dict[str, str]:
    if not root.is_dir():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_session_instance_is_temporary(user_dagster_home):
    home = Path(os.environ["DAGSTER_HOME"]).resolve()
    assert home.name.startswith("pytest_dagster_home_")
    assert REPO.resolve() not in home.parents
    if user_dagster_home is not None:
        assert home != user_dagster_home.resolve()
    assert (home / "dagster.yaml").read_text() == (REPO / "deploy" / "dagster.yaml").read_text()


def test_pipeline_definitions_work_folder_under_session_instance():
    # pipeline.definitions reads DAGSTER_HOME at import: it must already be the session's one.
    from pipeline.definitions import defs

    work = Path(defs.resources["io_manager"].base_dir).resolve()
    assert work == Path(os.environ["DAGSTER_HOME"]).resolve() / "storage"


def test_run_recorded_in_session_instance_not_repo(user_dagster_home):
    repo_home = REPO / ".dagster_home"
    user_home = user_dagster_home or repo_home
    before = _tree(repo_home), _tree(user_home)

    @dg.asset(key=["probe", "instance"])
    def probe() -> int:
        return 1

    with dg.DagsterInstance.get() as instance:
        assert Path(instance.root_directory).resolve() == Path(os.environ["DAGSTER_HOME"]).resolve()
        result = dg.materialize([probe], instance=instance)
        assert result.success
        assert instance.get_latest_materialization_event(dg.AssetKey(["probe", "instance"])) is not None
    assert (_tree(repo_home), _tree(user_home)) == before
