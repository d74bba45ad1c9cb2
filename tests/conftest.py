"""Shared test fixtures.

Raw layer: ``raw_export`` is a copy of the hand-written export set in
``tests/fixtures/raw/export`` (sites 101, 102, 104 as CSV in their own encodings) plus
site 103's Excel workbooks, built here with openpyxl because they hold real date cells.

Dagster instance: the whole session runs against a temporary DAGSTER_HOME (with the
project's deploy/dagster.yaml), set before any test module imports the pipeline, so
``make test`` never records runs or materializations in the user's ``.dagster_home``
(the UI would otherwise show pytest temp folders as every asset's latest value).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest

RAW_FIXTURES = Path(__file__).parent / "fixtures" / "raw" / "export"
REPO = Path(__file__).resolve().parents[1]
# The DAGSTER_HOME the session was started with (None: unset); the session's own one replaces it.
USER_HOME_KEY = pytest.StashKey[str | None]()
# The user's DAGSTER_HOME handed to pytest-xdist workers ("" when unset): a worker inherits the environment
# of the controller, whose DAGSTER_HOME is by then the controller's own temporary instance.
USER_HOME_ENV = "PIPELINE_TESTS_USER_DAGSTER_HOME"
_SESSION_HOME: tempfile.TemporaryDirectory | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Point DAGSTER_HOME (and the default work folder under it) at a fresh temporary instance.

    A hook, not a fixture: pipeline.definitions reads DAGSTER_HOME when it is imported,
    which happens while test modules are collected, before any fixture runs.
    """
    global _SESSION_HOME
    if _SESSION_HOME is not None:
        return
    if hasattr(config, "workerinput"):  # a pytest-xdist worker
        user = os.environ.get(USER_HOME_ENV) or None
    else:
        user = os.environ.get("DAGSTER_HOME")
        os.environ[USER_HOME_ENV] = user or ""
    config.stash[USER_HOME_KEY] = user
    # One temporary instance per process: each xdist worker gets its own.
    _SESSION_HOME = tempfile.TemporaryDirectory(prefix="pytest_dagster_home_")
    home = Path(_SESSION_HOME.name)
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _SESSION_HOME
    if _SESSION_HOME is not None:
        _SESSION_HOME.cleanup()
        _SESSION_HOME = None
    user = config.stash.get(USER_HOME_KEY, None)
    if not hasattr(config, "workerinput"):
        os.environ.pop(USER_HOME_ENV, None)
    if user is None:
        os.environ.pop("DAGSTER_HOME", None)
    else:
        os.environ["DAGSTER_HOME"] = user


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before each test's fixtures: no Dagster definitions-state storage left over from an earlier test.

    Entering a DagsterInstance (``with instance:``, ``instance_for_test``) sets a process-wide context
    variable that building Definitions reads; a test whose instance was entered and disposed out of order
    left it pointing at a storage without an instance, and every later build in that worker failed with
    "Attempted to resolve undefined DagsterInstance weakref" (seen with ``--dist loadfile`` ordering).
    Dagster has no public call to clear it.
    """
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)


@pytest.fixture(scope="session")
def user_dagster_home(pytestconfig: pytest.Config) -> Path | None:
    """The DAGSTER_HOME the session was started with (``make test`` sets .dagster_home), or None."""
    user = pytestconfig.stash.get(USER_HOME_KEY, None)
    return Path(user) if user else None


D = dt.datetime  # an Excel date cell

# Site 103: one workbook per form, one sheet named after the form, header in row 1.
SITE103_WORKBOOKS: dict[str, list[list[object]]] = {
    "enrol": [
        ["SITEID", "SUBJID", "SUBJINIT", "RFICDAT", "ENRLDAT", "TRTGRP", "IEYN"],
        [103, "GZ3-7", "ABC", D(2019, 3, 5), "2019年3月12日", "索拉非尼", "是"],
        [103, "GZ3-12", "DEF", "2019年4月", D(2019, 4, 20), "Control group", "Yes"],
        [101, "GZ3-15", "GHI", D(2019, 5, 1), D(2019, 5, 8), "SORAFENIB", "Y"],
    ],
    "ae": [
        ["SITEID", "SUBJID", "AESPID", "AETERM", "AESTDAT", "AEENDAT", "AEONGO", "AETOXGR", "AESER", "AEREL", "AEACN", "AEOUT"],
        [103, "GZ3-7", 1, "高血压", D(2019, 4, 2), "2019年4月30日", "否", "Gr3", "否", "可能相关", "减量", "恢复"],
        [103, "GZ3-12", 1, "Rash", "2019年4月", None, "是", "III", "N", "Related", "None", "Recovering"],
        [103, "GZ3-0012", 2.5, "Fatigue", D(2019, 5, 1), None, "Y", "2", "N", "Not related", "No change", "Resolved"],
    ],
    "dm": [
        ["SITEID", "SUBJID", "PTNAME", "BRTHDAT", "SEX", "ETHNIC", "RACE"],
        [103, "GZ3-7", "孙七", D(1965, 2, 3), "男", None, "黄种人"],
        [103, "GZ3-12", "周八", "1960年2月30日", "女", None, "亚洲人"],
    ],
}


def write_xlsx(path: Path, sheet: str, rows: list[list[object]]) -> Path:
    """Write ``rows`` (header first) to a one-sheet workbook at ``path``."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    # Date cells get a date format, as the site's Excel does.
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = "yyyy-mm-dd"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def build_raw_export(dest: Path) -> Path:
    """Copy the fixture export set to ``dest`` and add site 103's workbooks."""
    shutil.copytree(RAW_FIXTURES, dest)
    for form, rows in SITE103_WORKBOOKS.items():
        write_xlsx(dest / "103" / f"{form}.xlsx", form, rows)
    return dest


@pytest.fixture(scope="session")
def raw_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four-site fixture export (read-only: copy it before changing anything)."""
    return build_raw_export(tmp_path_factory.mktemp("raw") / "raw")


@pytest.fixture()
def raw_copy(tmp_path: Path) -> Path:
    """A private, writable copy of the fixture export for tests that break it."""
    return build_raw_export(tmp_path / "raw")


@pytest.fixture()
def workbook():
    """``write_xlsx(path, sheet, rows)``: build a one-sheet Excel file in a test."""
    return write_xlsx


@pytest.fixture(scope="module", autouse=True)
def _module_transfer_store(tmp_path_factory: pytest.TempPathFactory):
    """A transfer store of its own for each module's shared runs (PIPELINE_HISTORY, inherited by the
    command-line runs a test starts): runs of unrelated studies never chain as transfers of one."""
    old = os.environ.get("PIPELINE_HISTORY")
    os.environ["PIPELINE_HISTORY"] = str(tmp_path_factory.mktemp("history"))
    yield
    if old is None:
        os.environ.pop("PIPELINE_HISTORY", None)
    else:
        os.environ["PIPELINE_HISTORY"] = old


@pytest.fixture(autouse=True)
def _test_transfer_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """And one for each test's own runs (a test that chains transfers names its store with --history)."""
    monkeypatch.setenv("PIPELINE_HISTORY", str(tmp_path_factory.mktemp("history")))


# --- the committed study built once per test process --------------------------------------------

# manifest.json records the commit and every file its commit time: one value of each for every run that
# is compared with the shared build, whatever is committed meanwhile.
_HEAD = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip() or "unknown"
_HEAD_TIME = subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=REPO, capture_output=True, text=True).stdout.strip()
PINNED_ENV = {"PIPELINE_CODE_VERSION": _HEAD, "SOURCE_DATE_EPOCH": _HEAD_TIME or "1672531200"}
# The shared build is the first transfer of its store, received on this day (a run compared with it
# byte for byte passes --received with this date: the transfer id holds it).
EMBEDDED_RECEIVED = dt.date(2026, 1, 5)


@dataclass(frozen=True)
class EmbeddedBuild:
    """raw/ as committed, built in-process into ``out`` (work folder ``work``) as transfer 1 of the
    store ``hist``; ``raw`` is a copy of raw/. Read-only: copy a folder before changing it."""

    root: Path
    raw: Path
    out: Path
    work: Path
    hist: Path


@pytest.fixture(scope="session")
def embedded_build(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedBuild:
    """The committed 154-subject study built once (tests/test_e2e_study.py reads it, tests/test_transfers_e2e.py
    starts its second transfer from a copy of it), with PINNED_ENV; every check must pass."""
    from pipeline.runner import run_study
    from pipeline.transfers import TransferOptions

    root = tmp_path_factory.mktemp("embedded")
    b = EmbeddedBuild(root, root / "raw", root / "out", root / "work", root / "hist")
    shutil.copytree(REPO / "raw", b.raw)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in PINNED_ENV.items():
            mp.setenv(k, v)
        report = run_study(b.raw, b.out, b.work, transfer=TransferOptions(history=b.hist, received=EMBEDDED_RECEIVED))
    assert report.success, report.summary()
    assert not report.failed_checks, report.failed_checks
    return b
