"""Nightly schedule and new-export-drop sensor, evaluated with Dagster's test contexts."""

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pytest

from pipeline.ops.automation import (
    DIGEST_TAG,
    NIGHTLY_CRON,
    TIMEZONE,
    drop_digest,
    drop_manifest,
    jobs,
    listing_after_failure,
    new_export_sensor,
    nightly_schedule,
    published_digest,
    schedules,
    sensors,
)
from pipeline.resources import StudyPaths, TransferHistory
from pipeline.submission.manifest import write_manifest


def _evaluate(raw: Path, cursor: str | None, instance: dg.DagsterInstance, out: Path | None = None) -> dg.SensorResult:
    out = out or raw.parent / "no_outputs"
    ctx = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "paths": StudyPaths(raw_dir=str(raw), out_dir=str(out)),
            "history": TransferHistory(history_dir=str(raw.parent / "history")),
        },
    )
    return new_export_sensor(ctx)


def _tick(
    raw: Path, cursor: str | None, instance: dg.DagsterInstance, out: Path | None = None
) -> tuple[list[dg.RunRequest], str | None]:
    result = _evaluate(raw, cursor, instance, out)
    return list(result.run_requests or []), result.cursor


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    d = tmp_path / "raw"
    (d / "101").mkdir(parents=True)
    (d / "101" / "enrol.csv").write_text("SITEID,SUBJID\n101,101-001\n", encoding="utf-8")
    (d / "102").mkdir()
    (d / "102" / "enrol.csv").write_bytes("SITEID,SUBJID\n102,S102001\n".encode("gbk"))
    return d


def test_exports_lists():
    assert [j.name for j in jobs] == ["nightly_build", "query_listing_only"]
    assert schedules == [nightly_schedule] and sensors == [new_export_sensor, listing_after_failure]


def test_schedule_nightly_0200_shanghai(instance, raw):
    assert nightly_schedule.cron_schedule == NIGHTLY_CRON == "0 2 * * *"
    assert nightly_schedule.execution_timezone == TIMEZONE == "Asia/Shanghai"
    assert nightly_schedule.job_name == "nightly_build"
    when = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    resources = {"paths": StudyPaths(raw_dir=str(raw)), "history": TransferHistory(history_dir=str(raw.parent / "history"))}
    req = nightly_schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=when, resources=resources))
    assert req.run_key == "nightly-2026-11-25"
    # the night's run builds the drop in the raw folder as its transfer partition
    digest = drop_digest(drop_manifest(raw)[0])
    assert req.partition_key.startswith("T") and req.partition_key.endswith(digest[:10])
    assert instance.has_dynamic_partition("transfers", req.partition_key)


def test_sensor_one_run_per_settled_drop(raw, instance):
    # First sight of a drop: wait one interval (it may still be copying).
    reqs, cursor = _tick(raw, None, instance)
    assert reqs == []
    # Unchanged for one interval: exactly one run, keyed by the drop's digest.
    reqs, cursor = _tick(raw, cursor, instance)
    assert len(reqs) == 1
    first_key = reqs[0].run_key
    assert first_key == drop_digest(drop_manifest(raw)[0])
    assert reqs[0].tags["pipeline/raw_digest"] == first_key
    # as the drop's transfer partition, added by the same tick
    assert reqs[0].partition_key == f"T{dt.datetime.now(dt.UTC):%Y%m%d}-{first_key[:10]}"
    # Same files on the next tick: nothing.
    reqs, cursor = _tick(raw, cursor, instance)
    assert reqs == []
    # A site re-exports one file: one new run (after the settling tick), with a new key.
    (raw / "101" / "enrol.csv").write_text("SITEID,SUBJID\n101,101-001\n101,101-002\n", encoding="utf-8")
    reqs, cursor = _tick(raw, cursor, instance)
    assert reqs == []
    reqs, cursor = _tick(raw, cursor, instance)
    assert len(reqs) == 1 and reqs[0].run_key != first_key
    reqs, cursor = _tick(raw, cursor, instance)
    assert reqs == []


def test_sensor_content_not_mtime(raw, instance):
    _, cursor = _tick(raw, None, instance)
    reqs, cursor = _tick(raw, cursor, instance)
    assert len(reqs) == 1
    # Touching a file (same bytes, new mtime) is not a new drop.
    f = raw / "101" / "enrol.csv"
    f.write_bytes(f.read_bytes())
    for _ in range(2):
        reqs, cursor = _tick(raw, cursor, instance)
        assert reqs == []


def test_sensor_waits_while_drop_changes_or_copies(raw, instance):
    _, cursor = _tick(raw, None, instance)
    # A new file lands between the two ticks: the drop has not settled, no run yet.
    (raw / "103").mkdir()
    (raw / "103" / "enrol.xlsx").write_bytes(b"half a workbook")
    reqs, cursor = _tick(raw, cursor, instance)
    assert reqs == []
    # A transfer temp file (rsync style) means the copy is still going.
    (raw / "104").mkdir()
    (raw / "104" / ".enrol.csv.Xy12Ab").write_bytes(b"partial")
    for _ in range(2):
        reqs, cursor = _tick(raw, cursor, instance)
        assert reqs == []
    (raw / "104" / ".enrol.csv.Xy12Ab").rename(raw / "104" / "enrol.csv")
    reqs, cursor = _tick(raw, cursor, instance)
    assert reqs == []
    reqs, cursor = _tick(raw, cursor, instance)
    assert len(reqs) == 1
    assert set(drop_manifest(raw)[0]) == {"101/enrol.csv", "102/enrol.csv", "103/enrol.xlsx", "104/enrol.csv"}


def test_hidden_files_are_not_part_of_a_drop(raw, instance):
    _, cursor = _tick(raw, None, instance)
    reqs, cursor = _tick(raw, cursor, instance)
    assert len(reqs) == 1
    (raw / "101" / ".DS_Store").write_bytes(b"finder")
    for _ in range(2):
        reqs, cursor = _tick(raw, cursor, instance)
        assert reqs == []


def test_sensor_empty_or_missing_raw(tmp_path, instance):
    for _ in range(2):
        reqs, cursor = _tick(tmp_path / "nothing", None, instance)
        assert reqs == []
    assert json.loads(cursor)["built"] is None


def test_replayed_cursor_gives_same_run_key(raw, instance):
    """A tick replayed with an old cursor asks again with the same key, which the daemon then drops."""
    _, cursor = _tick(raw, None, instance)
    reqs, _ = _tick(raw, cursor, instance)
    assert len(reqs) == 1
    reqs2, _ = _tick(raw, cursor, instance)
    assert [r.run_key for r in reqs2] == [reqs[0].run_key]


def test_failed_build_requests_listing_run(instance):
    @dg.asset(key=["sdtm", "dm"])
    def broken():
        raise ValueError("off spec")

    job = dg.define_asset_job("nightly_build", selection=dg.AssetSelection.all())
    defs = dg.Definitions(assets=[broken], jobs=[job])
    result = defs.resolve_job_def("nightly_build").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    event = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0].dagster_event
    ctx = dg.build_run_status_sensor_context(
        sensor_name="query_listing_after_failed_build",
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    )
    req = listing_after_failure(ctx)
    assert req.run_key == f"listing-after-{result.run_id}"
    assert req.tags["pipeline/failed_run"] == result.run_id


def test_drop_published_by_any_build_is_not_rebuilt(raw, tmp_path, instance):
    """`python -m pipeline run` (or a UI run) built this drop into the outputs: the sensor starts nothing."""
    out = tmp_path / "outputs"
    out.mkdir()
    write_manifest(out, raw)  # what a complete build publishes, raw inputs' sha256 included
    assert published_digest(out) == drop_digest(drop_manifest(raw)[0])
    cursor = None
    for tick in range(3):
        result = _evaluate(raw, cursor, instance, out)
        assert not result.run_requests
        assert "already built" in result.skip_reason.skip_message
        if tick == 0:
            assert f"(published in {out / 'manifest.json'})" in result.skip_reason.skip_message
        cursor = result.cursor
    # A re-export changes the drop: it is built, once it has settled.
    (raw / "101" / "enrol.csv").write_text("SITEID,SUBJID\n101,101-001\n101,101-002\n", encoding="utf-8")
    reqs, cursor = _tick(raw, cursor, instance, out)
    assert reqs == []
    reqs, cursor = _tick(raw, cursor, instance, out)
    assert len(reqs) == 1
    # Changed back to the published content: already built again.
    (raw / "101" / "enrol.csv").write_text("SITEID,SUBJID\n101,101-001\n", encoding="utf-8")
    for _ in range(2):
        reqs, cursor = _tick(raw, cursor, instance, out)
        assert reqs == []


def test_unreadable_manifest_is_not_a_build(raw, tmp_path):
    out = tmp_path / "outputs"
    out.mkdir()
    assert published_digest(out) is None
    (out / "manifest.json").write_text("{not json", encoding="utf-8")
    assert published_digest(out) is None
    (out / "manifest.json").write_text('{"raw_inputs": []}', encoding="utf-8")
    assert published_digest(out) is None


def test_drop_built_by_a_successful_tagged_run_is_not_rebuilt(raw, instance):
    digest = drop_digest(drop_manifest(raw)[0])

    @dg.asset
    def built() -> int:
        return 1

    job = dg.define_asset_job("nightly_build", selection=dg.AssetSelection.all())
    defs = dg.Definitions(assets=[built], jobs=[job])

    # A failed run of the drop does not count as built.
    @dg.asset(key="broken")
    def broken() -> int:
        raise ValueError("off spec")

    bad = dg.Definitions(assets=[broken], jobs=[job]).resolve_job_def("nightly_build")
    assert not bad.execute_in_process(instance=instance, tags={DIGEST_TAG: digest}, raise_on_error=False).success
    _, cursor = _tick(raw, None, instance)
    reqs, _ = _tick(raw, cursor, instance)
    assert len(reqs) == 1

    assert defs.resolve_job_def("nightly_build").execute_in_process(instance=instance, tags={DIGEST_TAG: digest}).success
    result = _evaluate(raw, None, instance)
    assert not result.run_requests
    assert "already built (a successful run" in result.skip_reason.skip_message
    reqs, _ = _tick(raw, result.cursor, instance)
    assert reqs == []
