"""The transfer store: an immutable, content-addressed snapshot of every export drop.

Layout of the store (``--history DIR`` / PIPELINE_HISTORY; default ``$DAGSTER_HOME/history``,
``.history`` without DAGSTER_HOME). It holds the sites' files as sent, identifiers included,
so it lives beside the work folder, never inside the deliverables:

- ``objects/<sha256[:2]>/<sha256>``: each file's bytes once, named by their hash;
- ``transfers/<id>/snapshot.json``: the transfer's files (path -> sha256), its received date, its
  drop digest, the previous transfer and the returned site listings read with it (the responses
  folder as it was when the transfer was first seen: answers count from the next transfer on);
- ``transfers/<id>/register.parquet``: the query register after the transfer, written only when
  the run that built it published its package;
- ``latest``: the id of the last transfer whose register was stored (the next one's previous).

A transfer id is ``T<YYYYMMDD>-<first 10 hex of the drop digest>``: the received date and the
content hash the new-export sensor already computes (pipeline.ops.automation.drop_digest).
Every date in the outputs comes from received dates, so a stored transfer rebuilt later from
this store gives byte-identical outputs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ops.automation import drop_digest, drop_manifest

SNAPSHOT = "snapshot.json"
REGISTER = "register.parquet"
LATEST = "latest"
ID_PATTERN = re.compile(r"^T(\d{8})-([0-9a-f]{10})$")


class StoreError(ValueError):
    """A transfer id or store content that breaks the layout above (the message says which)."""


def default_history_dir() -> Path:
    """PIPELINE_HISTORY, else ``$DAGSTER_HOME/history``, else ``.history``."""
    if os.environ.get("PIPELINE_HISTORY"):
        return Path(os.environ["PIPELINE_HISTORY"])
    home = os.environ.get("DAGSTER_HOME")
    return Path(home) / "history" if home else Path(".history")


def transfer_id(received: dt.date, digest: str) -> str:
    """Take the received date and the drop digest; return ``T<YYYYMMDD>-<digest[:10]>``."""
    return f"T{received:%Y%m%d}-{digest[:10]}"


def received_of(tid: str) -> dt.date:
    """Take a transfer id; return its received date (StoreError for a malformed id)."""
    m = ID_PATTERN.match(tid)
    if not m:
        raise StoreError(f"{tid!r} is not a transfer id (T<YYYYMMDD>-<10 hex digits>)")
    return dt.datetime.strptime(m.group(1), "%Y%m%d").date()


@dataclass(frozen=True)
class Snapshot:
    """One stored transfer: id, drop digest, received date (ISO), previous transfer id ('' for the
    first), files {relative path: sha256} and returned site listings {name: sha256}."""

    id: str
    digest: str
    received: str
    previous: str
    files: dict[str, str]
    responses: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        doc = {
            "id": self.id,
            "digest": self.digest,
            "received": self.received,
            "previous": self.previous,
            "files": dict(sorted(self.files.items())),
            "responses": dict(sorted(self.responses.items())),
        }
        return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class TransferStore:
    """The store folder (see the module docstring)."""

    root: Path

    def object_path(self, sha: str) -> Path:
        return self.root / "objects" / sha[:2] / sha

    def transfer_dir(self, tid: str) -> Path:
        received_of(tid)  # refuses a malformed id before it becomes a path
        return self.root / "transfers" / tid

    def put_file(self, path: Path, sha: str | None = None) -> str:
        """Copy ``path`` into ``objects/`` (once per content); return its sha256."""
        data = Path(path).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if sha is not None and sha != digest:
            raise StoreError(f"{path}: changed while it was being stored (sha256 {digest[:12]}, expected {sha[:12]})")
        target = self.object_path(digest)
        if not target.is_file():
            _atomic_write(target, data)
        return digest

    def get_bytes(self, sha: str) -> bytes:
        data = self.object_path(sha).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha:
            raise StoreError(f"{self.object_path(sha)}: the stored bytes do not match their hash (store damaged)")
        return data

    def snapshot(self, tid: str) -> Snapshot | None:
        path = self.transfer_dir(tid) / SNAPSHOT
        if not path.is_file():
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
        return Snapshot(doc["id"], doc["digest"], doc["received"], doc["previous"], doc["files"], doc.get("responses", {}))

    def transfers(self) -> list[str]:
        base = self.root / "transfers"
        return sorted(p.name for p in base.iterdir() if (p / SNAPSHOT).is_file()) if base.is_dir() else []

    def find_digest(self, digest: str) -> str | None:
        """The id of the stored transfer with this drop digest (the earliest received), or None."""
        hits = [t for t in self.transfers() if (s := self.snapshot(t)) is not None and s.digest == digest]
        return min(hits, key=lambda t: (received_of(t), t)) if hits else None

    def latest(self) -> str:
        path = self.root / LATEST
        return path.read_text(encoding="utf-8").strip() if path.is_file() else ""

    def register_path(self, tid: str) -> Path:
        return self.transfer_dir(tid) / REGISTER

    def store_register(self, tid: str, data: bytes) -> bool:
        """Write the register of ``tid`` once (a rebuild never rewrites it) and make ``tid`` the latest
        transfer when it is new; return whether it was written."""
        path = self.register_path(tid)
        if path.is_file():
            return False
        _atomic_write(path, data)
        _atomic_write(self.root / LATEST, f"{tid}\n".encode())
        return True

    def restore(self, tid: str, dest: Path) -> Snapshot:
        """Write the files of transfer ``tid`` into ``dest`` (a raw folder as the sites sent it)."""
        snap = self.snapshot(tid)
        if snap is None:
            raise StoreError(f"transfer {tid} is not in the store {self.root} (stored: {', '.join(self.transfers()) or 'none'})")
        dest = Path(dest)
        if dest.exists():
            shutil.rmtree(dest)
        for rel, sha in sorted(snap.files.items()):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.get_bytes(sha))
        return snap

    def restore_responses(self, snap: Snapshot, dest: Path) -> Path:
        """Write the returned site listings of a snapshot into ``dest``; return ``dest``."""
        dest = Path(dest)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for name, sha in sorted(snap.responses.items()):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(self.get_bytes(sha))
        return dest


def identify(
    raw_dir: Path, store: TransferStore, received: dt.date | None = None, today: dt.date | None = None
) -> tuple[str, str]:
    """Take a raw folder; return (transfer id, drop digest). The received date is ``received``, else
    the date of the stored transfer with the same content, else ``today`` (UTC)."""
    files, _ = drop_manifest(Path(raw_dir))
    digest = drop_digest(files)
    if received is None:
        seen = store.find_digest(digest)
        if seen:
            return seen, digest
        received = today or dt.datetime.now(dt.UTC).date()
    return transfer_id(received, digest), digest


def _response_files(folder: Path | None) -> list[Path]:
    from pipeline.transfers.responses import response_files

    return response_files(Path(folder)) if folder is not None else []


def take_snapshot(store: TransferStore, tid: str, raw_dir: Path, responses_dir: Path | None = None) -> Snapshot:
    """Store the drop in ``raw_dir`` as transfer ``tid`` (once: a stored snapshot is never changed)
    and return it. Refuses (StoreError) a raw folder whose content is not that transfer's."""
    files, in_flight = drop_manifest(Path(raw_dir))
    digest = drop_digest(files)
    if not tid.endswith(digest[:10]):
        raise StoreError(
            f"{raw_dir} holds drop {digest[:10]}, not transfer {tid}: the export changed since the run was requested"
        )
    if in_flight:
        raise StoreError(f"{raw_dir}: a file transfer is still in progress; the drop cannot be stored as transfer {tid}")
    stored = store.snapshot(tid)
    if stored is not None:
        return stored
    for rel, sha in files.items():
        store.put_file(Path(raw_dir) / rel, sha)
    found = _response_files(responses_dir) if responses_dir is not None else []
    responses = {p.relative_to(responses_dir).as_posix(): store.put_file(p) for p in found} if responses_dir is not None else {}
    latest = store.latest()
    snap = Snapshot(tid, digest, received_of(tid).isoformat(), latest if latest != tid else "", files, responses)
    _atomic_write(store.transfer_dir(tid) / SNAPSHOT, snap.to_json().encode("utf-8"))
    return snap
