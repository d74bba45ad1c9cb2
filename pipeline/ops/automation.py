"""When the study is rebuilt: every night at 02:00 Beijing time, and when a new export drop lands.

The sensor hashes the content of every file under the raw folder (mtimes change on a
mere copy and stay put on some network shares, so they prove nothing) and folds the
hashes into one digest of the whole drop. A drop triggers a run only once its digest
has been seen unchanged on two consecutive ticks, so a drop still being copied (its
digest moves between ticks) never starts a build. The digest is the run key: Dagster
never starts two runs for one drop, however often the sensor ticks.

A drop already built is never built again, whichever path built it (``python -m pipeline
run``, a sensor run, a run launched in the UI): every complete build publishes
``<out>/manifest.json`` with the sha256 of each raw input, the same per-file hashes this
sensor folds into its digest, so the sensor compares the drop with the published one. A
successful run tagged with the digest in the instance counts as built too (a build whose
outputs went elsewhere).
"""

# No `from __future__ import annotations`: Dagster reads the resource annotation at runtime.
import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from pipeline.resources import StudyPaths, TransferHistory
from pipeline.specs.raw import load_raw_spec
from pipeline.submission.manifest import MANIFEST
from pipeline.transfers import PARTITIONS as TRANSFERS
from pipeline.transfers import PARTITIONS_NAME as TRANSFERS_NAME

JOB_NAME = "nightly_build"
NIGHTLY_CRON = "0 2 * * *"
TIMEZONE = "Asia/Shanghai"
SENSOR_INTERVAL_SECONDS = 120
# One build at a time per study: deploy/*/dagster.yaml limits runs on this tag to 1.
STUDY_TAG = {"pipeline/study": load_raw_spec().study}
DIGEST_TAG = "pipeline/raw_digest"
# Files a copy tool writes while it transfers (browsers, WinSCP/FileZilla, atomic writers):
# their presence alone means "not finished yet".
_IN_FLIGHT_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".filepart")
# rsync's temp name for ``enrol.csv`` is ``.enrol.csv.Xy12Ab``.
_RSYNC_TEMP = re.compile(r"^\..+\.[A-Za-z0-9]{6}$")

nightly_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.all(),
    description="Rebuild the whole study: raw exports -> SDTM -> ADaM -> endpoints, query listings, submission files.",
    tags=STUDY_TAG,
)


# Rebuilds only the query listings from the stored upstream values (see the failure sensor);
# the manifest publishes them with the rest of the last package (pipeline/publish.py).
listing_job = dg.define_asset_job(
    "query_listing_only",
    selection=dg.AssetSelection.groups("ops") | dg.AssetSelection.assets(dg.AssetKey(["submission", "manifest"])),
    description="Rewrite the site query listings from the latest stored raw/SDTM/ADaM values.",
    tags=STUDY_TAG,
)


def _is_in_flight(rel: Path) -> bool:
    return rel.name.lower().endswith(_IN_FLIGHT_SUFFIXES) or bool(_RSYNC_TEMP.match(rel.name))


def _is_hidden(rel: Path) -> bool:
    # The raw reader skips hidden entries (.DS_Store), so they are not part of a drop either.
    return any(p.startswith(".") for p in rel.parts)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def drop_manifest(raw_dir: Path) -> tuple[dict[str, str], bool]:
    """Take a raw folder; return ({relative posix path: sha256}, whether a transfer temp file is present)."""
    raw_dir = Path(raw_dir)
    files: dict[str, str] = {}
    in_flight = False
    if not raw_dir.is_dir():
        return files, in_flight
    for path in sorted(raw_dir.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(raw_dir)
        if _is_in_flight(rel):
            in_flight = True
            continue
        if _is_hidden(rel):
            continue
        files[rel.as_posix()] = _file_sha256(path)
    return files, in_flight


def drop_digest(manifest: dict[str, str]) -> str:
    """Take a manifest (path -> sha256); return one sha256 over all paths and hashes (order-free)."""
    h = hashlib.sha256()
    for rel in sorted(manifest):
        h.update(f"{rel}\0{manifest[rel]}\n".encode())
    return h.hexdigest()


def published_digest(out_dir: Path) -> str | None:
    """Take the output folder; return the digest of the drop its ``manifest.json`` was built from.

    None when there is no readable manifest (nothing published yet, or a manifest of another format).
    """
    try:
        doc = json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))
        files = {str(r["path"]): str(r["sha256"]) for r in doc["raw_inputs"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return drop_digest(files) if files else None


def built_in_instance(instance: dg.DagsterInstance, digest: str) -> bool:
    """True when a run tagged with ``digest`` (DIGEST_TAG) succeeded in ``instance``."""
    runs = instance.get_run_records(
        filters=dg.RunsFilter(tags={DIGEST_TAG: digest}, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1
    )
    return bool(runs)


def raw_dir_for_sensor(paths: StudyPaths | None) -> Path:
    """The folder the runs read (the ``paths`` resource); PIPELINE_RAW_DIR or ``raw`` without one."""
    if paths is not None:
        return paths.raw
    return Path(os.environ.get("PIPELINE_RAW_DIR", "raw"))


def evaluate_drop(
    cursor: str | None, manifest: dict[str, str], in_flight: bool, already_built: Callable[[str], str | None] = lambda d: None
) -> tuple[str | None, str, str]:
    """Decide one tick. Take the cursor, the current manifest and ``already_built`` (digest ->
    where it was built, or None); return (digest to run or None, new cursor, reason).

    The cursor holds ``seen`` (the digest at the previous tick) and ``built`` (the last digest a
    run was requested for, or found built elsewhere).
    """
    state = json.loads(cursor) if cursor else {}
    seen, built = state.get("seen"), state.get("built")
    if not manifest:
        return None, json.dumps({"seen": None, "built": built}, sort_keys=True), "raw folder is empty"
    digest = drop_digest(manifest)
    new_cursor = json.dumps({"seen": digest, "built": built}, sort_keys=True)
    if in_flight:
        # Forget the digest: the drop must be seen complete twice after the copy ends.
        return None, json.dumps({"seen": None, "built": built}, sort_keys=True), "a file transfer is still in progress"
    if digest == built:
        return None, new_cursor, f"drop {digest[:12]} already built"
    where = already_built(digest)
    if where:
        return None, json.dumps({"seen": digest, "built": digest}, sort_keys=True), f"drop {digest[:12]} already built ({where})"
    if digest != seen:
        return None, new_cursor, f"drop {digest[:12]} is new or still changing; waiting one interval for it to settle"
    return digest, json.dumps({"seen": digest, "built": digest}, sort_keys=True), f"drop {digest[:12]} unchanged for one interval"


@dg.sensor(
    name="new_export_drop",
    job=nightly_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rebuild the study when the raw folder's content changes and has settled for one interval.",
)
def new_export_sensor(context: dg.SensorEvaluationContext, paths: StudyPaths, history: TransferHistory) -> dg.SensorResult:
    """Request one run per settled export drop (run key = digest of the whole drop), as the drop's
    transfer partition, which the same tick adds (pipeline/transfers)."""
    raw_dir = raw_dir_for_sensor(paths)
    manifest, in_flight = drop_manifest(raw_dir)
    out_dir = paths.out if paths is not None else Path(os.environ.get("PIPELINE_OUT_DIR", "outputs"))

    def already_built(digest: str) -> str | None:
        if published_digest(out_dir) == digest:
            return f"published in {out_dir / MANIFEST}"
        if built_in_instance(context.instance, digest):
            return "a successful run of this instance"
        return None

    digest, cursor, reason = evaluate_drop(context.cursor, manifest, in_flight, already_built)
    if digest is None:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"{raw_dir}: {reason}"), cursor=cursor)
    tid = transfer_of(raw_dir, history)
    context.log.info(f"{raw_dir}: {reason}; {len(manifest)} files; requesting a build of transfer {tid}")
    request = dg.RunRequest(
        run_key=digest,
        partition_key=tid,
        tags={**STUDY_TAG, "pipeline/trigger": "new_export_drop", DIGEST_TAG: digest},
    )
    return dg.SensorResult(
        run_requests=[request], cursor=cursor, dynamic_partitions_requests=[TRANSFERS.build_add_request([tid])]
    )


def transfer_of(raw_dir: Path, history: TransferHistory | None) -> str:
    """The transfer id of the drop in ``raw_dir`` (received today, UTC, unless the store has seen it)."""
    from pipeline.transfers.snapshot import identify

    store = (history or TransferHistory()).store
    return identify(raw_dir, store)[0]


@dg.schedule(
    name="nightly_build_0200_shanghai",
    job=nightly_job,
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Rebuild the whole study every night at 02:00 Asia/Shanghai.",
)
def nightly_schedule(context: dg.ScheduleEvaluationContext, paths: StudyPaths, history: TransferHistory) -> dg.RunRequest:
    """One run per night; the run key is the night's date so a daemon restart never doubles it. The
    run builds the drop in the raw folder as its transfer partition (added here when new)."""
    night = context.scheduled_execution_time.strftime("%Y-%m-%d")
    tid = transfer_of(raw_dir_for_sensor(paths), history)
    if not context.instance.has_dynamic_partition(TRANSFERS_NAME, tid):
        context.instance.add_dynamic_partitions(TRANSFERS_NAME, [tid])
    return dg.RunRequest(run_key=f"nightly-{night}", partition_key=tid, tags={**STUDY_TAG, "pipeline/trigger": "nightly"})


@dg.run_status_sensor(
    name="query_listing_after_failed_build",
    run_status=dg.DagsterRunStatus.FAILURE,
    monitored_jobs=[nightly_job],
    request_job=listing_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a failed build, rewrite the query listings from what the build did store.",
)
def listing_after_failure(context: dg.RunStatusSensorContext) -> dg.RunRequest:
    """One listing run per failed build run.

    A failed blocking check (say an SDTM domain off its spec) skips everything downstream,
    the query listing included, on exactly the night the sites most need it. The upstream
    values were stored before their checks failed, so a listing-only run can still read them;
    a layer that did not run that night contributes its last stored problems.
    """
    failed = context.dagster_run.run_id
    return dg.RunRequest(
        run_key=f"listing-after-{failed}", tags={**STUDY_TAG, "pipeline/trigger": "failed_build", "pipeline/failed_run": failed}
    )


jobs = [nightly_job, listing_job]
schedules = [nightly_schedule]
sensors = [new_export_sensor, listing_after_failure]
