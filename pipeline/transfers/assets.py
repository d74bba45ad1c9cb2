"""Dagster wiring of the transfers (issue #17): one dynamic partition per export drop.

Partitions ``transfers`` (ids ``T<YYYYMMDD>-<digest10>``, pipeline/transfers/snapshot.py) and the
partitioned assets of group ``transfers``:

- ``transfers/snapshot``: the drop stored in the transfer store (content-addressed files, snapshot.json);
- ``transfers/delta``: new, changed and deleted records per form and site against the previous
  transfer, written to ``<out>/transfers/<id>/<site>.csv|xlsx``; the queries of what disappeared;
  WARN check ``nothing_disappeared``;
- ``transfers/register``: the query register after this transfer (pipeline/transfers/register.py),
  written per site with its lifecycle columns to ``<out>/transfers/<id>/queries/<site>.csv|xlsx``;
- ``transfers/site_metrics``: per-site numbers as numeric metadata (plotted by the UI), ``metrics.csv``;
- ``transfers/stored``: after the manifest published the package, the register goes into the store.
  A run that fails before publishing stores nothing, so the next transfer compares with the last
  published one.

Unpartitioned: ``transfers/returned_listings``, the responses folder as it is now (the answers and
every problem of the returned site listings; WARN check ``returned_listings_read``), run by the
``returned_site_listings`` sensor when a listing lands and by every build.

SDTM, ADaM and the submission stay unpartitioned: built from the latest transfer, in the same run.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at runtime.
import datetime as dt
import io as _io
import re
import shutil
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline import io
from pipeline.ops import queries as q
from pipeline.ops.assets import KEY as LISTING_KEY
from pipeline.resources import StudyPaths, TransferHistory
from pipeline.specs.raw import load_raw_spec
from pipeline.transfers import PARTITIONS
from pipeline.transfers import delta as dl
from pipeline.transfers import metrics as mt
from pipeline.transfers import responses as rs
from pipeline.transfers.snapshot import REGISTER, Snapshot, TransferStore, received_of, take_snapshot
from pipeline.versions import code_version

# What the code versions of the transfer assets hash (pipeline/versions.py).
CODE_SOURCES = ("pipeline/transfers/*.py", "pipeline/ops/queries.py", "specs/raw/*")

GROUP = "transfers"
SNAPSHOT_KEY = dg.AssetKey([GROUP, "snapshot"])
DELTA_KEY = dg.AssetKey([GROUP, "delta"])
REGISTER_KEY = dg.AssetKey([GROUP, "register"])
METRICS_KEY = dg.AssetKey([GROUP, "site_metrics"])
STORED_KEY = dg.AssetKey([GROUP, "stored"])
MANIFEST_KEY = dg.AssetKey(["submission", "manifest"])
CHECK = "nothing_disappeared"
# A run launched without a partition (the UI's "Materialize all", a test) builds the study and remembers nothing.
NO_TRANSFER = (
    "run without a transfer partition: the study was built, the drop not remembered "
    "(the sensor, the schedule and `python -m pipeline run` run a partition of `transfers`)"
)
SAMPLE_ROWS = 20
# The lifecycle listing a site receives: what the query is, where it stands, what to write back.
SITE_LISTING_COLS = [
    *q.QUERY_IDENTITY_COLS,
    "status",
    "first_raised",
    "last_seen",
    "age_days",
    *q.SITE_TEXT_COLS,
    "message",
    "file",
    "row",
    "close_reason",
    "notes",
    "history",
    *q.RETURN_COLS,
]


def read_drop(raw_dir: Path) -> dict[tuple[str, str], pd.DataFrame]:
    """Take a raw folder; return {(siteid, form): the file's records as text (pipeline.raw.reader)}
    for every declared site and form whose file is there. A file that cannot be read raises
    RawFileError naming it (the raw layer fails on it as well)."""
    from pipeline.raw.reader import form_path, read_form_file

    spec = load_raw_spec()
    out = {}
    for siteid in sorted(spec.sites):
        site = spec.sites[siteid]
        for name, form in spec.forms.items():
            path = form_path(Path(raw_dir), site, form)
            if path.is_file():
                out[(siteid, name)] = read_form_file(path, site, form)
    return out


def _stems(df: pd.DataFrame, siteids) -> dict[str, pd.DataFrame]:
    return q.split_by_site(df, siteids)


def write_site_tables(folder: Path, frame: pd.DataFrame, cols: list[str], siteids, sheet: str) -> list[Path]:
    """Take a folder and rows with ``siteid``; write ``<site>.csv`` and ``<site>.xlsx`` for every site
    (empty for a site without rows) with the listing writers of pipeline/ops/queries.py."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, rows in _stems(frame, siteids).items():
        for suffix, data in (
            (".csv", q.listing_csv_bytes(rows, cols)),
            (".xlsx", q.listing_xlsx_bytes(rows, cols, sheet)),
        ):
            io.write_bytes(folder / f"{stem}{suffix}", data)
            written.append(folder / f"{stem}{suffix}")
    return written


def _md(df: pd.DataFrame, n: int = SAMPLE_ROWS) -> str:
    more = len(df) - n
    return q.markdown_table(df.head(n)) + (f"\n\n_{more} more rows not shown._" if more > 0 else "")


def _scratch(store: TransferStore) -> Path:
    path = store.root / "scratch"
    path.mkdir(parents=True, exist_ok=True)
    return path


def deletion_listing(deletions: pd.DataFrame) -> pd.DataFrame:
    """Take deletion queries (QUERY_COLS); return them as listing rows (LISTING_COLS) with stable ids."""
    if deletions.empty:
        return q.build_listing([], [], [])
    return q.build_listing([deletions], [], [])


def _fired(listing: pd.DataFrame, deletions: pd.DataFrame) -> pd.DataFrame:
    """This transfer's listing: the build's queries and the deletion queries (one query per id)."""
    both = pd.concat([listing, deletion_listing(deletions)], ignore_index=True)
    return both.drop_duplicates("query_id", keep="first").reset_index(drop=True)


def _read_returned(store: TransferStore, snap: Snapshot, known: set[str] | None) -> rs.Responses:
    """The site responses stored with the transfer and their problems (pipeline/transfers/responses.py);
    ``known``: the query ids a returned listing may answer (None: not checked)."""
    with tempfile.TemporaryDirectory(dir=_scratch(store)) as tmp:
        return rs.parse_responses(store.restore_responses(snap, Path(tmp) / "responses"), known)


def _previous_register(store: TransferStore, snap: Snapshot) -> pd.DataFrame | None:
    if not snap.previous:
        return None
    path = store.register_path(snap.previous)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the register of the previous transfer {snap.previous} is not in the store")
    return pd.read_parquet(path)


def site_listing(register: pd.DataFrame, fired: pd.DataFrame) -> pd.DataFrame:
    """Take the register and this transfer's listing; return the site listing (SITE_LISTING_COLS): every
    query of the register with the site texts of this transfer (blank for a query no longer firing)."""
    texts = fired[["query_id", *q.SITE_TEXT_COLS]].drop_duplicates("query_id")
    out = register.merge(texts, on="query_id", how="left")
    for c in SITE_LISTING_COLS:
        if c not in out:
            out[c] = ""
        if c not in ("row", "age_days"):
            out[c] = out[c].astype(object).where(out[c].notna(), "")
    # As a site reads its listing: by subject (natural order), form, file and row.
    order = out.assign(
        _s=out["subjid"].map(lambda v: re.sub(r"\d+", lambda m: m.group().zfill(12), str(v))),
        _r=pd.to_numeric(out["row"], errors="coerce"),
    )
    order = order.sort_values(["siteid", "_s", "form", "file", "_r", "field", "rule", "query_id"], kind="mergesort")
    return order[SITE_LISTING_COLS].reset_index(drop=True)


def register_bytes(register: pd.DataFrame) -> bytes:
    """The register as Parquet bytes (no index; the same frame gives the same bytes)."""
    buf = _io.BytesIO()
    register.reset_index(drop=True).to_parquet(buf, index=False, compression="zstd")
    return buf.getvalue()


@dg.asset(
    key=SNAPSHOT_KEY,
    group_name=GROUP,
    partitions_def=PARTITIONS,
    kinds={"json"},
    description=(
        "The export drop of this transfer, stored once in the transfer store: every file by its sha256 "
        "(`objects/`), `transfers/<id>/snapshot.json` with the received date and the previous transfer. "
        "Any stored transfer can be rebuilt later: `python -m pipeline run --transfer <id>`. Stored even when "
        "the build fails, so a drop is never lost."
    ),
    code_version=code_version(CODE_SOURCES),
)
def transfer_snapshot(context: dg.AssetExecutionContext, paths: StudyPaths, history: TransferHistory) -> dg.MaterializeResult:
    if not context.has_partition_key:
        return dg.MaterializeResult(metadata={"skipped": NO_TRANSFER})
    tid = context.partition_key
    snap = take_snapshot(history.store, tid, paths.raw, history.responses)
    return dg.MaterializeResult(
        metadata={
            "transfer": tid,
            "received": snap.received,
            "previous": snap.previous or "none (first transfer)",
            "files": len(snap.files),
            "returned listings": len(snap.responses),
            "store": dg.MetadataValue.path(str(history.store.transfer_dir(tid))),
        },
    )


def transfer_delta(store: TransferStore, snapshot: Snapshot, raw_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Take the store, this transfer's snapshot and its raw folder; return (the delta against the previous
    transfer, DELTA_COLS; the queries of what disappeared, QUERY_COLS). The first transfer has neither."""
    spec = load_raw_spec()
    keys = {name: form.keys for name, form in spec.forms.items()}
    fields = {name: list(form.field_names) for name, form in spec.forms.items()}
    if not snapshot.previous:  # nothing to compare with (every record would be NEW)
        delta = dl.record_delta({}, {}, keys, fields, snapshot.id, "")
        return delta, dl.deletion_queries(delta, {}, {})
    current = read_drop(raw_dir)
    with tempfile.TemporaryDirectory(dir=_scratch(store)) as tmp:
        store.restore(snapshot.previous, Path(tmp) / "raw")
        previous = read_drop(Path(tmp) / "raw")
    delta = dl.record_delta(previous, current, keys, fields, snapshot.id, snapshot.previous, q.identifier_fields(spec))
    formats = {s: site.file_format for s, site in spec.sites.items()}
    return delta, dl.deletion_queries(delta, previous, current, formats)


def _pending(store: TransferStore, run_id: str) -> Path:
    """Where a run keeps its register until the package is published (then ``transfers/stored`` stores it)."""
    return store.root / "pending" / run_id / REGISTER


def _skipped(check: bool = True):
    for key in (DELTA_KEY, REGISTER_KEY, METRICS_KEY):
        yield dg.MaterializeResult(asset_key=key, metadata={"skipped": NO_TRANSFER})
    if check:
        yield dg.AssetCheckResult(asset_key=DELTA_KEY, check_name=CHECK, passed=True, metadata={"skipped": NO_TRANSFER})


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            DELTA_KEY,
            group_name=GROUP,
            partitions_def=PARTITIONS,
            # No edge from transfers/snapshot: a partitioned asset reading a partitioned one cannot run in a
            # run without a partition (the UI's "Materialize all"); the step takes the snapshot itself.
            kinds={"pandas", "csv", "excel"},
            code_version=code_version(CODE_SOURCES),
            description=(
                "What changed since the previous transfer, per form and site: NEW, CHANGED (field, old value, new value) "
                "and DELETED records, matched on the records' natural keys (subject + the form's key fields), never on "
                "file rows. `outputs/transfers/<id>/<site>.csv|xlsx`. Whatever disappeared is queried."
            ),
        ),
        dg.AssetSpec(
            REGISTER_KEY,
            group_name=GROUP,
            partitions_def=PARTITIONS,
            deps=[DELTA_KEY, LISTING_KEY],
            kinds={"pandas", "csv", "excel"},
            code_version=code_version(CODE_SOURCES),
            description=(
                "The query register after this transfer: every query ever raised with its status (OPEN, ANSWERED, "
                "CLOSED, REOPENED, CANCELLED), first raised, last seen, age and history, from the previous transfer's "
                "register, this build's listing, the deletion queries and the returned site listings. Written per site "
                "to `outputs/transfers/<id>/queries/<site>.csv|xlsx`; stored once the package is published."
            ),
        ),
        dg.AssetSpec(
            METRICS_KEY,
            group_name=GROUP,
            partitions_def=PARTITIONS,
            deps=[REGISTER_KEY, dg.AssetKey(["raw", "enrol"]), dg.AssetKey(["raw", "ae"])],
            kinds={"csv"},
            code_version=code_version(CODE_SOURCES),
            description=(
                "Per-site numbers of this transfer, as numeric metadata the UI plots across transfers (Overview, Metadata, Plots): "
                "open, answered, closed, reopened and cancelled queries, median age of active queries, new / changed / "
                "deleted records, AEs per subject-month. Also `outputs/transfers/<id>/metrics.csv`."
            ),
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            CHECK,
            asset=DELTA_KEY,
            blocking=False,
            description="Nothing the previous transfer held is missing from this one (RECORD_DELETED, SUBJECT_DELETED, FORM_MISSING).",
        )
    ],
    ins={
        "listing": dg.AssetIn(LISTING_KEY),
        # (the whole extracts: an input that is also a spec's dependency takes no load metadata)
        "enrol": dg.AssetIn(dg.AssetKey(["raw", "enrol"])),
        "ae": dg.AssetIn(dg.AssetKey(["raw", "ae"])),
    },
    name="transfer",
)
def transfer_step(context: dg.AssetExecutionContext, paths: StudyPaths, history: TransferHistory, listing, enrol, ae):
    """One step: the delta, the register and the site metrics of this transfer (partitioned assets that read
    partitioned ones cannot run in a run without a partition, so they share a step with unpartitioned inputs)."""
    from pipeline.specs.study import load_study
    from pipeline.transfers.register import update_register

    if not context.has_partition_key:
        yield from _skipped()
        return
    spec, store, tid = load_raw_spec(), history.store, context.partition_key
    snapshot = take_snapshot(store, tid, paths.raw, history.responses)  # stored already: refuses a changed raw folder
    delta, deletions = transfer_delta(store, snapshot, paths.raw)
    folder = paths.out / "transfers" / tid
    written = write_site_tables(folder, delta, dl.DELTA_COLS, spec.sites, "delta")
    counts = dl.summary_counts(delta)
    yield dg.MaterializeResult(
        asset_key=DELTA_KEY,
        metadata={
            "dagster/row_count": len(delta),
            "previous": snapshot.previous or "none (first transfer)",
            "new_records": counts["new"],
            "changed_records": counts["changed"],
            "deleted_records": counts["deleted"],
            "deletion_queries": len(deletions),
            "sample": dg.MetadataValue.md(_md(delta)),
            "folder": dg.MetadataValue.path(str(folder)),
            "files": dg.MetadataValue.md("\n".join(f"- `{p.name}`" for p in written)),
        },
    )
    yield dg.AssetCheckResult(
        asset_key=DELTA_KEY,
        check_name=CHECK,
        passed=bool(deletions.empty),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "queries": len(deletions),
            **{rule: int(n) for rule, n in deletions["rule"].value_counts().sort_index().items()},
            "summary": "; ".join(
                f"{r['rule']} {r['siteid']} {r['subjid'] or r['file']}" for r in deletions.head(10).to_dict("records")
            )
            or "none",
            "by_site": dg.MetadataValue.md(_md(deletions[["siteid", "subjid", "form", "file", "row", "rule", "message"]])),
        },
    )

    fired = _fired(listing, deletions)
    previous = _previous_register(store, snapshot)
    known = {*fired["query_id"], *(previous["query_id"] if previous is not None else [])}
    returned = _read_returned(store, snapshot, known)
    responses = returned.frame
    register = update_register(previous, fired, tid, received_of(tid), responses, delta)
    qfolder = folder / "queries"
    written = write_site_tables(qfolder, site_listing(register, fired), SITE_LISTING_COLS, spec.sites, "queries")
    io.write_bytes(_pending(store, context.run.run_id), register_bytes(register))
    status = register["status"].value_counts().sort_index().to_dict() if not register.empty else {}
    yield dg.MaterializeResult(
        asset_key=REGISTER_KEY,
        metadata={
            "dagster/row_count": len(register),
            **{f"status {k}": int(v) for k, v in status.items()},
            "returned responses": len(responses),
            "response problems": len(returned.problems),
            **({"problems": dg.MetadataValue.md(_md(returned.problems))} if not returned.problems.empty else {}),
            "sample": dg.MetadataValue.md(_md(register[["query_id", "siteid", "subjid", "form", "rule", "status", "history"]])),
            "folder": dg.MetadataValue.path(str(qfolder)),
            "files": len(written),
        },
    )

    until = min(received_of(tid), dt.date.fromisoformat(load_study().data_cutoff))
    table = mt.site_metrics(register, delta, _data(enrol), _data(ae), until, spec.sites)
    path = folder / "metrics.csv"
    io.write_bytes(path, table.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    yield dg.MaterializeResult(
        asset_key=METRICS_KEY,
        metadata={
            **mt.as_metadata(table),
            "table": dg.MetadataValue.md(q.markdown_table(table)),
            "path": dg.MetadataValue.path(str(path)),
        },
    )


def _data(extract) -> pd.DataFrame:
    return extract if isinstance(extract, pd.DataFrame) else extract.data


@dg.asset(
    key=STORED_KEY,
    group_name=GROUP,
    partitions_def=PARTITIONS,
    deps=[MANIFEST_KEY],
    kinds={"parquet"},
    description=(
        "The register of this transfer, stored in the transfer store once the run published its package "
        "(`transfers/<id>/register.parquet`): the next transfer starts from it. A failed run stores nothing."
    ),
    code_version=code_version(CODE_SOURCES),
)
def transfer_stored(context: dg.AssetExecutionContext, history: TransferHistory) -> dg.MaterializeResult:
    if not context.has_partition_key:
        return dg.MaterializeResult(metadata={"skipped": NO_TRANSFER})
    tid = context.partition_key
    store = history.store
    pending = _pending(store, context.run.run_id)
    data = pending.read_bytes()
    written = store.store_register(tid, data)
    same = written or store.register_path(tid).read_bytes() == data
    if not same:
        context.log.warning(f"transfer {tid}: the rebuilt register differs from the stored one, which is kept")
    # Only this run's: another run of a study sharing the store may be between its register and this step.
    shutil.rmtree(pending.parent, ignore_errors=True)
    return dg.MaterializeResult(
        metadata={"stored": written, "same as stored": bool(same), "path": dg.MetadataValue.path(str(store.register_path(tid)))}
    )


def known_query_ids(store: TransferStore) -> tuple[set[str] | None, str]:
    """Take the store; return (the query ids of the last stored register, the listings the sites were sent,
    and what they were checked against) or (None, why not) before any register is stored."""
    latest = store.latest()
    if not latest or not store.register_path(latest).is_file():
        return None, "no stored register yet: query ids not checked"
    return set(pd.read_parquet(store.register_path(latest), columns=["query_id"])["query_id"]), f"the register of {latest}"


@dg.asset(
    key=rs.RETURNED_KEY,
    group_name=GROUP,
    kinds={"excel", "csv"},
    check_specs=[
        dg.AssetCheckSpec(
            rs.RETURNED_CHECK,
            asset=rs.RETURNED_KEY,
            blocking=False,
            description=(
                "Every returned listing of the responses folder could be read: no damaged or unreadable file, no missing "
                "column, no unknown query id or decision (each problem names the file, the row, the field and the value)."
            ),
        )
    ],
    description=(
        "The returned site listings as they are now in the responses folder (`--responses`, PIPELINE_RESPONSES_DIR, "
        "default `responses/`): the answers read (site responses, the data manager's CANCEL / CLOSE) and every problem "
        "met. Run by the `returned_site_listings` sensor when a listing is saved there, and by every build. Writes "
        "nothing: the next transfer stores the folder with its snapshot and applies the answers to the register."
    ),
    code_version=code_version(CODE_SOURCES),
)
def returned_listings(history: TransferHistory):
    folder = history.responses
    known, against = known_query_ids(history.store)
    got = rs.parse_responses(folder, known)
    files = rs.response_files(folder)
    yield dg.MaterializeResult(
        metadata={
            "folder": dg.MetadataValue.path(str(folder)),
            "listings": len(files),
            **rs.answer_counts(got.frame),
            "problems": len(got.problems),
            "query ids checked against": against,
            "answers read": dg.MetadataValue.md(_md(got.frame)),
        }
    )
    n = len(got.problems)
    yield dg.AssetCheckResult(
        check_name=rs.RETURNED_CHECK,
        passed=n == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "problems": rs.problems_table(got.problems),
            "reason": f"{n} problem(s) in the returned listings of {folder}" if n else f"{len(files)} listing(s) read",
        },
    )


transfer_assets: list[dg.AssetsDefinition] = [transfer_snapshot, transfer_step, transfer_stored, returned_listings]
WRITER_KEYS = [DELTA_KEY, REGISTER_KEY, METRICS_KEY]
