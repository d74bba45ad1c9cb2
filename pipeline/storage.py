"""Where asset values live between steps: pickles under the work folder, one file per asset.

A result with several parts (``FormExtract``: data, quarantine, counts ...; ``DomainResult``:
data, lineage, queries) is stored part by part, so a step that needs one part loads only that
part: the query listing reads the problem frames and not millions of records, the submission
package reads the datasets and not their lineage. A step asks for parts with input metadata::

    dg.AssetIn(key=["sdtm", "lb"], metadata={"parts": ["data"]})

and receives the same class with only those attributes set. Without ``parts`` the whole value
is loaded. Any other value is pickled whole, as Dagster's ``FilesystemIOManager`` does.
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib
import pickle
import struct
from typing import Any

import dagster as dg
from dagster._core.storage.fs_io_manager import PickledObjectFilesystemIOManager

MAGIC = b"PIPELINE-PARTS-1\n"
PARTS_KEY = "parts"


def dump_parts(obj: Any, fh) -> None:
    """Write a dataclass instance as MAGIC, header length, header (class, part offsets), parts."""
    blobs = {f.name: pickle.dumps(getattr(obj, f.name), protocol=5) for f in dataclasses.fields(obj)}
    offsets, at = {}, 0
    for name, blob in blobs.items():
        offsets[name] = (at, len(blob))
        at += len(blob)
    header = pickle.dumps({"class": (type(obj).__module__, type(obj).__qualname__), "parts": offsets}, protocol=5)
    fh.write(MAGIC + struct.pack("<Q", len(header)) + header)
    for blob in blobs.values():
        fh.write(blob)


def load_parts(fh, parts: list[str] | None = None) -> Any:
    """Read what ``dump_parts`` wrote (after MAGIC); only ``parts`` when given (None: all of them)."""
    (n,) = struct.unpack("<Q", fh.read(8))
    header = pickle.loads(fh.read(n))
    base = fh.tell()
    module, qualname = header["class"]
    cls = getattr(importlib.import_module(module), qualname)
    wanted = list(header["parts"]) if parts is None else parts
    unknown = [p for p in wanted if p not in header["parts"]]
    if unknown:
        raise KeyError(f"{qualname} has no part(s) {', '.join(unknown)} (parts: {', '.join(header['parts'])})")
    obj = cls.__new__(cls)
    for name in wanted:
        off, size = header["parts"][name]
        fh.seek(base + off)
        object.__setattr__(obj, name, pickle.loads(fh.read(size)))  # frozen dataclasses too
    return obj


def read_value(path, parts: list[str] | None = None) -> Any:
    """A stored asset value read outside Dagster (benchmarks, debugging): either format, ``parts`` as in AssetIn."""
    with open(path, "rb") as fh:
        if fh.read(len(MAGIC)) == MAGIC:
            return load_parts(fh, parts)
        fh.seek(0)
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


class PartsPickleIOManager(PickledObjectFilesystemIOManager):
    """Dagster's pickle IO manager, storing dataclass results part by part (see module doc)."""

    _trimmed_for: str | None = None

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path) -> None:
        if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
            return super().dump_to_path(context, obj, path)
        with path.open("wb") as fh:
            dump_parts(obj, fh)

    def load_from_path(self, context: dg.InputContext, path) -> Any:
        try:
            step = context.step_context.step.key
        except dg.DagsterInvariantViolationError:  # loaded outside a run (load_asset_value, tests)
            step = None
        if step is None or step != self._trimmed_for:
            _return_free_memory()  # what earlier steps freed, once before a step loads its inputs
            self._trimmed_for = step
        with path.open("rb") as fh:
            if fh.read(len(MAGIC)) == MAGIC:
                parts = (context.definition_metadata or {}).get(PARTS_KEY)
                return load_parts(fh, list(parts) if parts else None)
        return super().load_from_path(context, path)


class StudyIOManager(dg.ConfigurableIOManagerFactory):
    """The ``io_manager`` resource: values pickled under ``base_dir``, results part by part."""

    base_dir: str

    def create_io_manager(self, context) -> PartsPickleIOManager:
        return PartsPickleIOManager(base_dir=self.base_dir)
