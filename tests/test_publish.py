"""Publishing the package as one unit, the layout refusals and the run lock (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline import publish
from pipeline.lock import LockHeld, check_unlocked, lock_path, study_lock


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def make(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


# --- staging and publish --------------------------------------------------------------------------


def test_staging_starts_as_the_published_package_and_never_changes_it(tmp_path: Path) -> None:
    out = make(tmp_path / "out", {"sdtm/dm.xpt": "old dm", "manifest.json": "old", "sdtm/.dm.xpt.x.tmp": "half"})
    stage = publish.open_staging(out, "run1")
    assert stage == tmp_path / ".out.staging-run1"
    assert tree(stage) == {"sdtm/dm.xpt": b"old dm", "manifest.json": b"old"}  # temp files are not copied
    # Outputs are replaced by rename (pipeline.io): the linked published file keeps its bytes.
    from pipeline import io

    io.write_text(stage / "sdtm" / "dm.xpt", "new dm")
    assert (out / "sdtm" / "dm.xpt").read_text() == "old dm"
    assert publish.open_staging(out, "run1") == stage  # a second step process of the same run


def test_publish_switches_the_whole_folder(tmp_path: Path) -> None:
    out = make(tmp_path / "out", {"a.txt": "old a", "gone.txt": "old only"})
    stage = publish.open_staging(out, "r")
    (stage / "gone.txt").unlink()
    (stage / "a.txt").unlink()
    (stage / "a.txt").write_text("new a")
    (stage / "b.txt").write_text("new b")
    assert publish.publish(stage, out) == out.resolve()
    assert tree(out) == {"a.txt": b"new a", "b.txt": b"new b"}
    assert not stage.exists() and publish.stale_staging(out) == []


def test_first_publish_without_a_previous_package(tmp_path: Path) -> None:
    stage = publish.open_staging(tmp_path / "out", "r")
    (stage / "x").write_text("1")
    publish.publish(stage, tmp_path / "out")
    assert tree(tmp_path / "out") == {"x": b"1"}


def test_publish_without_exchange_renames_aside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publish, "_exchange", lambda a, b: False)
    out = make(tmp_path / "out", {"a": "old"})
    stage = publish.open_staging(out, "r")
    (stage / "a").unlink()
    (stage / "a").write_text("new")
    publish.publish(stage, out)
    assert tree(out) == {"a": b"new"} and publish.stale_staging(out) == []


def test_stale_staging_of_a_killed_run_is_removed_by_the_next(tmp_path: Path) -> None:
    out = make(tmp_path / "out", {"a": "1"})
    publish.open_staging(out, "killed")
    (tmp_path / ".out.old-x").mkdir()
    (tmp_path / ".other.staging-y").mkdir()  # another output folder's: not ours
    publish.open_staging(out, "next")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.staging-y", ".out.staging-next", "out"]


# --- refusals ------------------------------------------------------------------------------------------


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    return make(tmp_path / "raw", {"101/ae.csv": "SITEID\n"})


def test_empty_raw_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty" / "101").mkdir(parents=True)
    (tmp_path / "empty" / "101" / "notes.txt").write_text("x")
    assert publish.refusal(tmp_path / "empty", tmp_path / "out", tmp_path / "work") == (
        f"the raw folder {tmp_path / 'empty'} holds no export (no <siteid>/<form>.csv|xlsx of a site in specs/raw/sites.yaml); "
        f"nothing was run and {tmp_path / 'out'} is untouched"
    )


def test_missing_raw_folder_is_refused(tmp_path: Path) -> None:
    assert publish.refusal(tmp_path / "no", tmp_path / "out", None) == f"the raw export folder {tmp_path / 'no'} does not exist"


def test_work_inside_out_is_refused(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert publish.refusal(raw, out, out / "work") == (
        f"--work {out / 'work'} lies inside --out {out}: intermediate values hold raw identifiers "
        "(names, initials, birth dates) and must never be part of the deliverables"
    )


def test_out_inside_raw_and_raw_inside_out_are_refused(raw: Path, tmp_path: Path) -> None:
    assert publish.refusal(raw, raw / "out", tmp_path / "w") == (
        f"--out {raw / 'out'} lies inside the raw folder {raw}: deliverables must not be written into the site exports"
    )
    assert publish.refusal(raw, tmp_path, tmp_path.parent / "w").startswith(f"--raw {raw} lies inside --out {tmp_path}")
    assert publish.refusal(raw, tmp_path / "out", raw / "work").startswith(f"--work {raw / 'work'} lies inside the raw folder")


def test_a_good_layout_passes(raw: Path, tmp_path: Path) -> None:
    assert publish.refusal(raw, tmp_path / "out", tmp_path / "work") is None


def test_cli_refuses_before_writing(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--raw",
            str(tmp_path / "raw"),
            "--out",
            str(tmp_path / "out"),
            "--work",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"error: the raw folder {tmp_path / 'raw'} holds no export (no <siteid>/<form>.csv|xlsx of a site in "
        f"specs/raw/sites.yaml); nothing was run and {tmp_path / 'out'} is untouched"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


# --- the run lock --------------------------------------------------------------------------------------------

_HOLD = textwrap.dedent("""
    import sys, time
    from pipeline.lock import study_lock
    with study_lock(sys.argv[1], command="python -m pipeline run --out demo"):
        print("held", flush=True)
        time.sleep(60)
""")


def test_second_run_is_refused_naming_the_holder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld) as err, study_lock(out):
            pass
        msg = str(err.value)
        assert msg.startswith(f"another run is writing {out} (pid {holder.pid} on ")
        assert msg.endswith(
            f": python -m pipeline run --out demo; lock {lock_path(out)}); this run refused before writing anything: wait for it to finish"
        )
        with pytest.raises(LockHeld):
            check_unlocked(out)  # what a Dagster run checks before it writes
    finally:
        holder.kill()
        holder.wait()
    # Killed: the record stays but the kernel dropped the flock, so the lock is taken over.
    assert json.loads(lock_path(out).read_text())["pid"] == holder.pid
    with study_lock(out) as stale:
        assert stale.pid == holder.pid
        assert json.loads(lock_path(out).read_text())["pid"] == os.getpid()
        check_unlocked(out)  # this process's own lock
    assert lock_path(out).read_text() == ""  # released
    with study_lock(out) as stale:
        assert stale is None


def test_a_live_run_of_the_same_folder_stops_a_new_one(tmp_path: Path) -> None:
    """Dagster runs (UI "Materialize all", schedule, sensor): a staging folder of a run still going means busy."""
    out = make(tmp_path / "out", {"a": "1"})
    publish.staging_dir(out, "running").mkdir()
    publish.staging_dir(out, "killed").mkdir()
    live = {"running"}
    with pytest.raises(publish.PublishError) as err:
        publish.open_staging(out, "new", lambda rid: rid in live)
    assert str(err.value) == f"run running is writing {out}; this run (new) stopped before writing anything"
    live.clear()  # it finished (or died): its folder is stale and goes
    publish.open_staging(out, "new", lambda rid: rid in live)
    assert [p.name for p in publish.stale_staging(out, keep="new")] == []


def test_manifest_lists_files_read_through_a_link_with_their_resolved_path(tmp_path: Path) -> None:
    from pipeline.submission.manifest import build_manifest

    raw = make(tmp_path / "raw", {"101/ae.csv": "a\n"})
    make(tmp_path / "site104", {"ae.csv": "b\n", "dm.csv": "c\n"})
    (raw / "104").symlink_to(tmp_path / "site104")
    doc = build_manifest(make(tmp_path / "out", {"x.txt": "x"}), raw)
    assert [(e["path"], e.get("resolved")) for e in doc["raw_inputs"]] == [
        ("101/ae.csv", None),
        ("104/ae.csv", str((tmp_path / "site104" / "ae.csv").resolve())),
        ("104/dm.csv", str((tmp_path / "site104" / "dm.csv").resolve())),
    ]
