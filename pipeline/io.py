"""Output writing: every file is written to a temporary name and renamed into place.

A run killed at any moment therefore leaves each output either at its previous
complete version or at its new complete version, never half-written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; outputs are shared files, so apply the process umask as open() would.
    os.chmod(tmp_path, 0o666 & ~_UMASK)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    """Atomically write UTF-8 ``text`` (LF line ends) to ``path``."""
    write_bytes(path, text.encode("utf-8"))


def write_parquet(
    df: pd.DataFrame,
    path: Path,
    dataset_label: str | None = None,
    column_labels: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> None:
    """Atomically write ``df`` (index dropped) as Parquet with labels in the schema metadata.

    The dataset label goes into the schema metadata key ``dataset_label`` and each
    variable label into its field metadata key ``label`` (as define.xml and XPT carry them).
    The bytes depend only on the data, so the same input gives the same file. Written in the
    calling step, so a failed write fails the asset that writes the file.
    """
    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    labels = column_labels or {}
    # Text as Parquet's plain UTF-8 string (pandas' TEXT columns are Arrow large_string in memory).
    fields = [f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema]
    fields = [f.with_metadata({b"label": labels[f.name].encode()}) if f.name in labels else f for f in fields]
    meta = dict(table.schema.metadata or {})
    if dataset_label:
        meta[b"dataset_label"] = dataset_label.encode()
    for k, v in (extra or {}).items():
        meta[k.encode()] = v.encode()
    table = table.cast(pa.schema(fields, metadata=meta))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def sweep_stale_temp(root: Path) -> list[Path]:
    """Remove temporary files a killed run left under ``root`` (``.<name>.<random>.tmp``); return them."""
    root = Path(root)
    stale = sorted(root.rglob(".*.tmp")) if root.exists() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
