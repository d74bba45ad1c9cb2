"""Where asset values live between steps: files under the work folder, one per asset.

A result with several parts (``FormExtract``: data, quarantine, counts ...; ``DomainResult``:
data, lineage, queries) is stored part by part, so a step that needs one part loads only that
part: the query listing reads the problem frames and not millions of records, the submission
package reads the datasets and not their lineage. A step asks for parts with input metadata::

    dg.AssetIn(key=["sdtm", "lb"], metadata={"parts": ["data"]})

and receives the same class with only those attributes set. Without ``parts`` the whole value
is loaded. A part that is a frame of text and numeric columns is stored as an Arrow IPC stream
and read back memory-mapped: the text columns are Arrow arrays already, so storing copies their
buffers once and loading copies nothing (pickling them was 20 s of a 100,000-subject run).
Other parts are pickles. Any other value is pickled whole, as Dagster's ``FilesystemIOManager``
does.
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib
import io
import os
import pickle
import struct
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
from dagster._core.storage.fs_io_manager import PickledObjectFilesystemIOManager

from pipeline import background
from pipeline import io as pipeline_io
from pipeline.columns import TEXT

MAGIC = b"PIPELINE-PARTS-2\n"
MAGIC_V1 = b"PIPELINE-PARTS-1\n"  # pickles only (read, never written)
PARTS_KEY = "parts"
_ALIGN = 64  # Arrow buffers in the file start on 64-byte boundaries, so reading them needs no copy

# Frames from this many rows are stored as Arrow; a smaller one pickles and loads faster than
# Arrow's per-column set-up (most frames of a small study).
ARROW_MIN_ROWS = 20_000
# Column kinds stored as Arrow (anything else makes the frame a pickle).
_NUMERIC = {"float64", "float32", "int64", "int32", "int16", "int8", "bool"}


def _column_kind(col: pd.Series) -> str | None:
    if col.dtype == TEXT:
        return "text"
    if isinstance(col.dtype, pd.Int64Dtype):
        return "Int64"
    if isinstance(col.dtype, np.dtype):
        if col.dtype.name in _NUMERIC:
            return col.dtype.name
        if col.dtype == np.dtype("datetime64[ns]"):
            return "datetime64[ns]"
    return None


def _as_table(df: Any) -> tuple[pa.Table, dict[str, Any]] | None:
    """A DataFrame as an Arrow table without copying its columns, and what rebuilds it exactly;
    None when it is not a plain frame of text and numeric columns on a 0..n-1 RangeIndex."""
    if not isinstance(df, pd.DataFrame) or df.attrs or len(df.columns) == 0 or len(df) < ARROW_MIN_ROWS:
        return None
    idx, cols = df.index, df.columns
    if not (isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1 and idx.name is None):
        return None
    if cols.name is not None or not cols.is_unique or not all(type(c) is str for c in cols):
        return None
    kinds, arrays = [], []
    for name in cols:
        col = df[name]
        kind = _column_kind(col)
        if kind is None:
            return None
        if kind == "text":
            arrays.append(pa.chunked_array(col.array.__arrow_array__()))
        elif kind == "datetime64[ns]":
            arrays.append(pa.array(col.to_numpy().view("int64")))
        elif kind == "Int64":
            arrays.append(pa.array(col.array))  # missing values become Arrow nulls
        else:
            arrays.append(pa.array(col.to_numpy()))  # NaN stays a value, as in the frame
        kinds.append(kind)
    table = pa.Table.from_arrays(arrays, names=list(cols))
    return table, {"kinds": kinds, "columns_dtype": str(cols.dtype)}


def _from_table(table: pa.Table, how: dict[str, Any]) -> pd.DataFrame:
    """The frame ``_as_table`` stored. Text columns keep the file's Arrow buffers (read-only, as
    Arrow text always is); numeric columns are copied into ordinary writable arrays."""
    cols: dict[str, Any] = {}
    for name, kind, arr in zip(table.column_names, how["kinds"], table.columns):
        if kind == "text":
            cols[name] = pd.Series(TEXT.__from_arrow__(arr), copy=False)
        elif kind == "Int64":
            cols[name] = pd.Series(pd.Int64Dtype().__from_arrow__(arr), copy=False)
        else:
            values = arr.to_numpy()
            values = values.view("datetime64[ns]") if kind == "datetime64[ns]" else values
            cols[name] = pd.Series(np.array(values, dtype=values.dtype), copy=False)
    out = pd.DataFrame(cols, index=pd.RangeIndex(table.num_rows), copy=False)
    if how["columns_dtype"] == "object":
        out.columns = pd.Index(list(out.columns), dtype=object)
    return out


def _pad(fh, at: int) -> int:
    gap = -at % _ALIGN
    fh.write(b"\0" * gap)
    return at + gap


def dump_parts(obj: Any, fh) -> None:
    """Write a dataclass instance: MAGIC, its parts, a header (class, where each part is, how
    it is stored), the header's length. A part that is a frame of text and numeric columns is
    an Arrow IPC stream (written and read without converting its columns); others are pickles.
    """
    at = len(MAGIC)
    fh.write(MAGIC)
    parts: dict[str, dict[str, Any]] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        at = _pad(fh, at)
        as_table = _as_table(value)
        if as_table is not None:
            table, how = as_table
            # Straight into the file: a stream built in memory first grew by copying (1 s for LB).
            # (Closing the IPC writer leaves the file open.)
            start = fh.tell()
            with pa.ipc.new_stream(pa.PythonFile(fh, mode="w"), table.schema) as writer:
                writer.write_table(table)
            size = fh.tell() - start
            entry = {"format": "arrow", **how}
        else:
            blob = pickle.dumps(value, protocol=5)
            fh.write(blob)
            size = len(blob)
            entry = {"format": "pickle"}
        parts[f.name] = {**entry, "offset": at, "size": size}
        at += size
    header = pickle.dumps({"class": (type(obj).__module__, type(obj).__qualname__), "parts": parts}, protocol=5)
    fh.write(header + struct.pack("<Q", len(header)))


def load_parts(source, parts: list[str] | None = None) -> Any:
    """Read what ``dump_parts`` wrote from a path (Arrow parts memory-mapped) or a binary file
    object holding the whole value; only ``parts`` when given (None: all of them)."""
    if isinstance(source, (str, os.PathLike)):
        data = pa.memory_map(os.fspath(source)).read_buffer()
    else:
        source.seek(0)
        data = pa.py_buffer(source.read())
    if data[: len(MAGIC)].to_pybytes() == MAGIC_V1:
        return _load_parts_v1(io.BytesIO(data.to_pybytes()[len(MAGIC_V1) :]), parts)
    (n,) = struct.unpack("<Q", data[-8:].to_pybytes())
    header = pickle.loads(data[-8 - n : -8].to_pybytes())
    module, qualname = header["class"]
    cls = getattr(importlib.import_module(module), qualname)
    wanted = list(header["parts"]) if parts is None else parts
    unknown = [p for p in wanted if p not in header["parts"]]
    if unknown:
        raise KeyError(f"{qualname} has no part(s) {', '.join(unknown)} (parts: {', '.join(header['parts'])})")
    obj = cls.__new__(cls)
    for name in wanted:
        entry = header["parts"][name]
        blob = data.slice(entry["offset"], entry["size"])
        if entry["format"] == "arrow":
            value = _from_table(pa.ipc.open_stream(blob).read_all(), entry)
        else:
            value = pickle.loads(blob)
        object.__setattr__(obj, name, value)  # frozen dataclasses too
    return obj


def _load_parts_v1(fh, parts: list[str] | None) -> Any:
    """Values stored by the first format (every part a pickle), read after its MAGIC."""
    (n,) = struct.unpack("<Q", fh.read(8))
    header = pickle.loads(fh.read(n))
    base = fh.tell()
    cls = getattr(importlib.import_module(header["class"][0]), header["class"][1])
    wanted = list(header["parts"]) if parts is None else parts
    unknown = [p for p in wanted if p not in header["parts"]]
    if unknown:
        raise KeyError(f"{header['class'][1]} has no part(s) {', '.join(unknown)} (parts: {', '.join(header['parts'])})")
    obj = cls.__new__(cls)
    for name in wanted:
        off, size = header["parts"][name]
        fh.seek(base + off)
        object.__setattr__(obj, name, pickle.loads(fh.read(size)))
    return obj


def _is_parts_file(path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(len(MAGIC))
    return head in (MAGIC, MAGIC_V1)


def read_value(path, parts: list[str] | None = None) -> Any:
    """A stored asset value read outside Dagster (benchmarks, debugging): either format, ``parts`` as in AssetIn."""
    background.wait_for(path)
    if _is_parts_file(path):
        return load_parts(path, parts)
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _return_free_memory() -> None:
    """Give memory freed by earlier steps back to the OS (glibc ``malloc_trim``), so a long
    in-process run does not keep the high-water mark of every step it ran; no-op elsewhere."""
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC: Any = None


def _write_parts_file(obj: Any, path) -> None:
    # A new file replaces the old one: a reader may still have the old one memory-mapped.
    with pipeline_io.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        dump_parts(obj, fh)


class PartsPickleIOManager(PickledObjectFilesystemIOManager):
    """Dagster's pickle IO manager, storing dataclass results part by part (see module doc)."""

    _trimmed_for: str | None = None

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path) -> None:
        if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
            background.wait_for(path)
            return super().dump_to_path(context, obj, path)
        # In a run of pipeline.runner.execute the file is written while the next steps run.
        background.submit(path, _write_parts_file, obj, path)

    def load_from_path(self, context: dg.InputContext, path) -> Any:
        background.wait_for(path)
        try:
            step = context.step_context.step.key
        except dg.DagsterInvariantViolationError:  # loaded outside a run (load_asset_value, tests)
            step = None
        if step is None or step != self._trimmed_for:
            _return_free_memory()  # what earlier steps freed, once before a step loads its inputs
            self._trimmed_for = step
        if _is_parts_file(path):
            parts = (context.definition_metadata or {}).get(PARTS_KEY)
            return load_parts(path, list(parts) if parts else None)
        return super().load_from_path(context, path)


class StudyIOManager(dg.ConfigurableIOManagerFactory):
    """The ``io_manager`` resource: values pickled under ``base_dir``, results part by part."""

    base_dir: str

    def create_io_manager(self, context) -> PartsPickleIOManager:
        return PartsPickleIOManager(base_dir=self.base_dir)
