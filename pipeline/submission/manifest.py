"""``outputs/manifest.json``: what was delivered, from which inputs, by which code and specs.

For every file under the output folder (except the manifest itself and hidden temporary
files): its path, sha256, size and, for datasets, its row count; the sha256 of every raw
input file actually read (with its resolved path when it was reached through a link); the spec
version (one sha256 over the whole ``specs/`` tree); the code version; the "created" stamp the
submission files carry and where it comes from (``common.creation_datetime``); the datasets built
without records and therefore not submitted. No wall-clock time: the same inputs, specs and code
give a byte-identical manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pyreadstat

from pipeline import io
from pipeline.specs.paths import SPECS_DIR
from pipeline.specs.study import load_study
from pipeline.submission.common import PACKAGE, creation_datetime, package_version
from pipeline.versions import files_sha256, sha256_file

MANIFEST = "manifest.json"
HASH_THREADS = min(2, os.cpu_count() or 1)


def _files(root: Path) -> list[Path]:
    """Regular files under ``root``, sorted by relative path; hidden files and folders
    (``.x.tmp`` of an atomic write in progress, ``__pycache__``) are skipped."""
    if not root.is_dir():
        return []
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        # conformance/ holds the optional CORE report, written by a check that may run beside the manifest.
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and d != "__pycache__" and not (Path(dirpath) == root and d == "conformance")
        )
        for f in filenames:
            if not f.startswith("."):
                out.append(Path(dirpath) / f)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def _raw_files(root: Path) -> list[Path]:
    """The raw files a run reads: as ``_files``, but following links (drop.follow_links lets a
    site folder or file be a link; the reader follows them, so the manifest must list them too)."""
    if not root.is_dir():
        return []
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in filenames if not f.startswith(".")]
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def _raw_entry(p: Path, root: Path, digest: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": p.relative_to(root).as_posix(), "sha256": digest, "size": p.stat().st_size}
    real = p.resolve()
    if not real.is_relative_to(root.resolve()):  # reached through a link: where the bytes really are
        entry["resolved"] = str(real)
    return entry


def tree_sha256(root: Path) -> str:
    """One sha256 over a folder: of the sorted lines ``<sha256>  <relative path>``."""
    return files_sha256(_files(root), root)


def dataset_rows(path: Path) -> int | None:
    """Row count of a dataset file (XPT, Parquet, Dataset-JSON); None for any other file."""
    suffix = path.suffix.lower()
    if suffix == ".xpt":
        # XPORT records no row count (metadataonly gives None): read the first column only.
        _, meta = pyreadstat.read_xport(str(path), metadataonly=True)
        if meta.number_rows is not None:
            return int(meta.number_rows)
        if not meta.column_names:
            return 0
        rows = _xpt_rows(path, sum(meta.variable_storage_width.values()))
        if rows is not None:
            return rows
        df, _ = pyreadstat.read_xport(str(path), usecols=meta.column_names[:1], disable_datetime_conversion=True)
        return len(df)
    if suffix == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    if suffix == ".json":
        with open(path, "rb") as fh:
            head = fh.read(4096)
        if b'"datasetJSONVersion"' not in head:
            return None
        # Our Dataset-JSON files state "records" near the top, one key a line at two blanks'
        # indent (dumps_dataset_json): no need to parse every row (most of the manifest's time).
        m = _RECORDS_RE.search(head) if head.startswith(b'{\n  "datasetJSONCreationDateTime": ') else None
        if m:
            return int(m.group(1))
        doc = json.loads(path.read_text(encoding="utf-8"))
        return int(doc["records"])
    return None


_RECORDS_RE = re.compile(rb'\n  "records": (\d+),\n')
_OBS_HEADER = b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!"
_OBS_HEADER_V8 = b"HEADER RECORD*******OBSV8   HEADER RECORD!!!!!!!"  # v8 states its row count: left to readstat


def _xpt_rows(path: Path, row_length: int) -> int | None:
    """The rows readstat reads from a v5 transport file, from its size: the whole records after the
    OBS header up to the last one that is not all blanks (readstat takes trailing blank records
    for padding). None for a v8 file or a header not where expected (the caller reads the file)."""
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024)
        size = os.fstat(fh.fileno()).st_size
        at = head.find(_OBS_HEADER)
        if row_length <= 0 or at < 0 or at % 80 or _OBS_HEADER_V8 in head:
            return None
        start = at + 80
        rows = (size - start) // row_length
        blank = b" " * row_length
        while rows:  # drop trailing all-blank records, reading from the end
            fh.seek(start + (rows - 1) * row_length)
            if fh.read(row_length) != blank:
                break
            rows -= 1
        return rows


def code_version(repo: Path | None = None) -> dict[str, str]:
    """Package version and commit: ``PIPELINE_CODE_VERSION``, else ``git rev-parse HEAD``, else "unknown"."""
    commit = os.environ.get("PIPELINE_CODE_VERSION", "").strip()
    if not commit:
        try:
            res = subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=repo or SPECS_DIR.parent,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            commit = res.stdout.strip() if res.returncode == 0 else ""
        except (OSError, subprocess.SubprocessError):
            commit = ""
    return {"package": PACKAGE, "version": package_version(), "commit": commit or "unknown"}


def m5_entry(outputs: list[dict[str, Any]], studyid: str) -> dict[str, Any]:
    """``{"m5": {"path", "sha256"}}``: one sha256 for the eCTD Module 5 tree as sent (its files are
    listed among ``outputs`` too), as ``tree_sha256`` of that folder gives it, from the digests already
    taken; empty when there is no tree."""
    m5 = f"m5/datasets/{studyid.lower()}/"
    lines = [f"{o['sha256']}  {o['path'][len(m5) :]}\n" for o in outputs if o["path"].startswith(m5)]
    if not lines:
        return {}
    return {"m5": {"path": m5.rstrip("/"), "sha256": hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()}}


def build_manifest(out_dir: Path, raw_dir: Path, specs_dir: Path = SPECS_DIR) -> dict[str, Any]:
    """The manifest of ``out_dir`` (every file but the manifest) and the raw inputs of ``raw_dir``."""
    out_dir, raw_dir = Path(out_dir), Path(raw_dir)
    out_files = [p for p in _files(out_dir) if p.relative_to(out_dir).as_posix() != MANIFEST]
    raw_files = _raw_files(raw_dir)
    # Two files hashed at a time: hashlib works without the GIL (3 GB of outputs at 100,000 subjects).
    with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
        digests = list(pool.map(sha256_file, [*out_files, *raw_files]))
    outputs = []
    for p, digest in zip(out_files, digests):
        entry: dict[str, Any] = {"path": p.relative_to(out_dir).as_posix(), "sha256": digest, "size": p.stat().st_size}
        rows = dataset_rows(p)
        if rows is not None:
            entry["rows"] = rows
        outputs.append(entry)
    raw = [_raw_entry(p, raw_dir, digest) for p, digest in zip(raw_files, digests[len(out_files) :])]
    study = load_study(specs_dir)
    created, created_from = creation_datetime(study.data_cutoff)
    return {
        "study": study.studyid,
        "data_cutoff": study.data_cutoff,
        "creation_datetime": {"value": created, "source": created_from},
        "not_submitted": not_submitted(outputs),
        "code": code_version(),
        "spec_version": tree_sha256(specs_dir),
        "raw_inputs": raw,
        "outputs": outputs,
        **m5_entry(outputs, study.studyid),
    }


def not_submitted(outputs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Datasets built without records and so left out of the submission package (package.py): a
    ``<layer>/<name>.parquet`` of 0 rows with no ``<layer>/<name>.xpt`` beside it. For the reviewer's
    guide: ``[{"layer": "sdtm", "dataset": "IE", "reason": "no records"}]``."""
    paths = {o["path"] for o in outputs}
    out = []
    for o in outputs:
        folder, _, name = o["path"].rpartition("/")
        if (
            name.endswith(".parquet")
            and folder
            and "/" not in folder
            and o.get("rows") == 0
            and f"{folder}/{name.removesuffix('.parquet')}.xpt" not in paths
        ):
            out.append({"layer": folder, "dataset": name.removesuffix(".parquet").upper(), "reason": "no records"})
    return out


def dumps_manifest(manifest: dict[str, Any]) -> str:
    """The manifest as JSON text: keys sorted, two-space indent, trailing newline."""
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_manifest(out_dir: Path, raw_dir: Path, specs_dir: Path = SPECS_DIR) -> tuple[Path, dict[str, Any]]:
    """Atomically write ``<out_dir>/manifest.json``; returns (path, manifest)."""
    manifest = build_manifest(out_dir, raw_dir, specs_dir)
    path = Path(out_dir) / MANIFEST
    io.write_text(path, dumps_manifest(manifest))
    return path, manifest
