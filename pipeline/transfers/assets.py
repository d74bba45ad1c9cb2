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

SDTM, ADaM and the submission stay unpartitioned: built from the latest transfer, in the same run.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at runtime.
import datetime as dt
import io as _io
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
from pipeline.storage import PARTS_KEY
from pipeline.transfers import PARTITIONS
from pipeline.transfers import delta as dl
from pipeline.transfers import metrics as mt
from pipeline.transfers.snapshot import Snapshot, TransferStore, received_of, take_snapshot

GROUP = "transfers"
SNAPSHOT_KEY = dg.AssetKey([GROUP, "snapshot"])
DELTA_KEY = dg.AssetKey([GROUP, "delta"])
REGISTER_KEY = dg.AssetKey([GROUP, "register"])
METRICS_KEY = dg.AssetKey([GROUP, "site_metrics"])
STORED_KEY = dg.AssetKey([GROUP, "stored"])
MANIFEST_KEY = dg.AssetKey(["submission", "manifest"])
CHECK = "nothing_disappeared"
SAMPLE_ROWS = 20
# The lifecycle listing a site receives: what the query is, where it stands, what to write back.
SITE_LISTING_COLS = [
    "query_id",
    "siteid",
    "subjid",
    "form",
    "field",
    "value",
    "rule",
    "status",
    "first_raised",
    "last_seen",
    "age_days",
    "site_message",
    "site_message_zh",
    "allowed",
    "context",
    "message",
    "file",
    "row",
    "close_reason",
    "notes",
    "history",
    "site_response",
    "dm_decision",
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


@dg.asset(
    key=SNAPSHOT_KEY,
    group_name=GROUP,
    partitions_def=PARTITIONS,
    kinds={"json"},
    description=(
        "The export drop of this transfer, stored once in the transfer store: every file by its sha256 "
        "(`objects/`), `transfers/<id>/snapshot.json` with the received date and the previous transfer. "
        "Any stored transfer can be rebuilt later: `python -m pipeline run --transfer <id>`."
    ),
    code_version="1",
)
def transfer_snapshot(context: dg.AssetExecutionContext, paths: StudyPaths, history: TransferHistory) -> dg.Output:
    tid = context.partition_key
    snap = take_snapshot(history.store, tid, paths.raw, history.responses)
    return dg.Output(
        snap,
        metadata={
            "transfer": tid,
            "received": snap.received,
            "previous": snap.previous or "none (first transfer)",
            "files": len(snap.files),
            "returned listings": len(snap.responses),
            "store": dg.MetadataValue.path(str(history.store.transfer_dir(tid))),
        },
    )


@dg.asset(
    key=DELTA_KEY,
    group_name=GROUP,
    partitions_def=PARTITIONS,
    ins={"snapshot": dg.AssetIn(SNAPSHOT_KEY)},
    kinds={"pandas", "csv", "excel"},
    check_specs=[
        dg.AssetCheckSpec(
            CHECK,
            asset=DELTA_KEY,
            blocking=False,
            description="Nothing the previous transfer held is missing from this one (RECORD_DELETED, SUBJECT_DELETED, FORM_MISSING).",
        )
    ],
    description=(
        "What changed since the previous transfer, per form and site: NEW, CHANGED (field, old value, new value) "
        "and DELETED records, matched on the records' natural keys (subject + the form's key fields), never on "
        "file rows. `outputs/transfers/<id>/<site>.csv|xlsx`. Whatever disappeared is queried."
    ),
    code_version="1",
)
def transfer_delta(context: dg.AssetExecutionContext, paths: StudyPaths, history: TransferHistory, snapshot: Snapshot):
    spec = load_raw_spec()
    store = history.store
    current = read_drop(paths.raw)
    previous: dict = {}
    if snapshot.previous:
        with tempfile.TemporaryDirectory(dir=_scratch(store)) as tmp:
            store.restore(snapshot.previous, Path(tmp) / "raw")
            previous = read_drop(Path(tmp) / "raw")
    keys = {name: form.keys for name, form in spec.forms.items()}
    fields = {name: list(form.field_names) for name, form in spec.forms.items()}
    formats = {s: site.file_format for s, site in spec.sites.items()}
    if snapshot.previous:
        delta = dl.record_delta(previous, current, keys, fields, snapshot.id, snapshot.previous, q.identifier_fields(spec))
        deletions = dl.deletion_queries(delta, previous, current, formats)
    else:  # the first transfer: nothing to compare with (every record would be NEW)
        delta = dl.record_delta({}, {}, keys, fields, snapshot.id, "")
        deletions = dl.deletion_queries(delta, {}, {})
    folder = paths.out / "transfers" / snapshot.id
    written = write_site_tables(folder, delta, dl.DELTA_COLS, spec.sites, "delta")
    counts = dl.summary_counts(delta)
    by_rule = deletions["rule"].value_counts().sort_index().to_dict()
    yield dg.Output(
        {"delta": delta, "deletions": deletions},
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
        check_name=CHECK,
        passed=bool(deletions.empty),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "queries": len(deletions),
            **{rule: int(n) for rule, n in by_rule.items()},
            "summary": "; ".join(
                f"{r['rule']} {r['siteid']} {r['subjid'] or r['file']}" for r in deletions.head(10).to_dict("records")
            )
            or "none",
            "by_site": dg.MetadataValue.md(_md(deletions[["siteid", "subjid", "form", "file", "row", "rule", "message"]])),
        },
    )


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


def _read_returned(store: TransferStore, snap: Snapshot) -> pd.DataFrame:
    """The site responses stored with the transfer (pipeline/transfers/responses.py)."""
    from pipeline.transfers.responses import read_responses

    with tempfile.TemporaryDirectory(dir=_scratch(store)) as tmp:
        return read_responses(store.restore_responses(snap, Path(tmp) / "responses"))


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
    return out[SITE_LISTING_COLS]


def register_bytes(register: pd.DataFrame) -> bytes:
    """The register as Parquet bytes (no index; the same frame gives the same bytes)."""
    buf = _io.BytesIO()
    register.reset_index(drop=True).to_parquet(buf, index=False, compression="zstd")
    return buf.getvalue()


@dg.asset(
    key=REGISTER_KEY,
    group_name=GROUP,
    partitions_def=PARTITIONS,
    ins={
        "snapshot": dg.AssetIn(SNAPSHOT_KEY),
        "delta": dg.AssetIn(DELTA_KEY),
        "listing": dg.AssetIn(LISTING_KEY),
    },
    kinds={"pandas", "csv", "excel"},
    description=(
        "The query register after this transfer: every query ever raised with its status (OPEN, ANSWERED, "
        "CLOSED, REOPENED, CANCELLED), first raised, last seen, age and history, from the previous transfer's "
        "register, this build's listing, the deletion queries and the returned site listings. Written per site "
        "to `outputs/transfers/<id>/queries/<site>.csv|xlsx`; stored once the package is published."
    ),
    code_version="1",
)
def transfer_register(
    context: dg.AssetExecutionContext,
    paths: StudyPaths,
    history: TransferHistory,
    snapshot: Snapshot,
    delta: dict,
    listing: pd.DataFrame,
) -> dg.Output:
    from pipeline.transfers.register import update_register

    spec = load_raw_spec()
    store = history.store
    fired = _fired(listing, delta["deletions"])
    responses = _read_returned(store, snapshot)
    register = update_register(
        _previous_register(store, snapshot), fired, snapshot.id, received_of(snapshot.id), responses, delta["delta"]
    )
    folder = paths.out / "transfers" / snapshot.id / "queries"
    written = write_site_tables(folder, site_listing(register, fired), SITE_LISTING_COLS, spec.sites, "queries")
    status = register["status"].value_counts().sort_index().to_dict() if not register.empty else {}
    return dg.Output(
        register,
        metadata={
            "dagster/row_count": len(register),
            **{f"status {k}": int(v) for k, v in status.items()},
            "returned responses": len(responses),
            "sample": dg.MetadataValue.md(_md(register[["query_id", "siteid", "subjid", "form", "rule", "status", "history"]])),
            "folder": dg.MetadataValue.path(str(folder)),
            "files": len(written),
        },
    )


@dg.asset(
    key=METRICS_KEY,
    group_name=GROUP,
    partitions_def=PARTITIONS,
    ins={
        "register": dg.AssetIn(REGISTER_KEY),
        "delta": dg.AssetIn(DELTA_KEY),
        "enrol": dg.AssetIn(dg.AssetKey(["raw", "enrol"]), metadata={PARTS_KEY: ["data"]}),
        "ae": dg.AssetIn(dg.AssetKey(["raw", "ae"]), metadata={PARTS_KEY: ["data"]}),
    },
    kinds={"csv"},
    description=(
        "Per-site numbers of this transfer, as numeric metadata the UI plots across transfers (Plots tab): open, "
        "answered, closed, reopened and cancelled queries, median age of active queries, new / changed / deleted "
        "records, AEs per subject-month. Also `outputs/transfers/<id>/metrics.csv`."
    ),
    code_version="1",
)
def site_metrics(context: dg.AssetExecutionContext, paths: StudyPaths, register, delta: dict, enrol, ae) -> dg.MaterializeResult:
    from pipeline.specs.study import load_study

    tid = context.partition_key
    cutoff = dt.date.fromisoformat(load_study().data_cutoff)
    until = min(received_of(tid), cutoff)
    table = mt.site_metrics(register, delta["delta"], _data(enrol), _data(ae), until, load_raw_spec().sites)
    path = paths.out / "transfers" / tid / "metrics.csv"
    io.write_bytes(path, table.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return dg.MaterializeResult(
        metadata={
            **mt.as_metadata(table),
            "table": dg.MetadataValue.md(q.markdown_table(table)),
            "path": dg.MetadataValue.path(str(path)),
        }
    )


def _data(extract) -> pd.DataFrame:
    return extract if isinstance(extract, pd.DataFrame) else extract.data


@dg.asset(
    key=STORED_KEY,
    group_name=GROUP,
    partitions_def=PARTITIONS,
    ins={"register": dg.AssetIn(REGISTER_KEY)},
    deps=[MANIFEST_KEY],
    kinds={"parquet"},
    description=(
        "The register of this transfer, stored in the transfer store once the run published its package "
        "(`transfers/<id>/register.parquet`): the next transfer starts from it. A failed run stores nothing."
    ),
    code_version="1",
)
def transfer_stored(context: dg.AssetExecutionContext, history: TransferHistory, register: pd.DataFrame) -> dg.MaterializeResult:
    tid = context.partition_key
    store = history.store
    data = register_bytes(register)
    written = store.store_register(tid, data)
    same = written or store.register_path(tid).read_bytes() == data
    if not same:
        context.log.warning(f"transfer {tid}: the rebuilt register differs from the stored one, which is kept")
    shutil.rmtree(store.root / "scratch", ignore_errors=True)
    return dg.MaterializeResult(
        metadata={"stored": written, "same as stored": bool(same), "path": dg.MetadataValue.path(str(store.register_path(tid)))}
    )


transfer_assets: list[dg.AssetsDefinition] = [transfer_snapshot, transfer_delta, transfer_register, site_metrics, transfer_stored]
WRITER_KEYS = [DELTA_KEY, REGISTER_KEY, METRICS_KEY]
