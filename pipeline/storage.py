"""Where asset values live between steps: a folder per asset under the work folder.

A value is stored as a folder of plain files: ``_value.json`` (the value's class and how each
part is stored) and one file per part. A result with several parts (``FormExtract``: data,
quarantine, counts ...; ``DomainResult``: data, lineage, queries) is stored part by part, so a
step that needs one part loads only that part: the query listing reads the problem frames and
not millions of records, the submission package reads the datasets and not their lineage. A
step asks for parts with input metadata::

    dg.AssetIn(key=["sdtm", "lb"], metadata={"parts": ["data"]})

and receives the same class with only those attributes set. Without ``parts`` the whole value
is loaded. Any other value is one part, ``value``. A part that is a frame of text and numeric
columns on a 0..n-1 index is Parquet (``<part>.parquet``, readable by any Parquet tool; pandas'
own metadata in the file restores its dtypes exactly); any other part is a pickle
(``<part>.pickle``).

This module and the submission writers are the pipeline's one place for storage speed: a
value's files are written in the step that made it, so a failed write fails that step.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from upath import UPath

from pipeline.columns import TEXT

PARTS_KEY = "parts"
INDEX = "_value.json"
WHOLE = "value"  # the one part of a value that is not a dataclass instance
# Column kinds stored as Parquet (anything else makes the frame a pickle).
_NUMERIC = {"float64", "float32", "int64", "int32", "int16", "int8", "bool"}
# Where a loaded part's Arrow buffers live: the system allocator (glibc malloc), not Arrow's default
# pool (mimalloc), which keeps extra pages per decoded column: loading every SDTM dataset of 10,000
# subjects takes +218 MB RSS here, +350 MB in the default pool; the run's peak 1,049 vs 1,130 MB
# (benchmarks/RESULTS.md, session 7).
_POOL = pa.system_memory_pool()


def _parquet_able(df: Any) -> bool:
    """True for a plain frame: text and numeric columns with unique string names, a 0..n-1
    RangeIndex, no ``attrs`` (what Parquet with pandas' metadata gives back exactly)."""
    if not isinstance(df, pd.DataFrame) or df.attrs or len(df.columns) == 0:
        return False
    idx, cols = df.index, df.columns
    if not (isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1 and idx.name is None):
        return False
    if cols.name is not None or not cols.is_unique or not all(type(c) is str for c in cols):
        return False
    for dtype in df.dtypes:
        if dtype == TEXT or isinstance(dtype, pd.Int64Dtype):
            continue
        if not isinstance(dtype, np.dtype) or not (dtype.name in _NUMERIC or dtype == np.dtype("datetime64[ns]")):
            return False
    return True


def _write_part(value: Any, folder: Path, name: str) -> str:
    """Write one part into ``folder``; return how it is stored (``parquet`` or ``pickle``)."""
    if _parquet_able(value):
        pq.write_table(pa.Table.from_pandas(value, preserve_index=None), folder / f"{name}.parquet")
        return "parquet"
    with open(folder / f"{name}.pickle", "wb") as fh:
        pickle.dump(value, fh, protocol=5)
    return "pickle"


def _read_part(folder: Path, name: str, how: str, columns_object: bool) -> Any:
    if how == "parquet":
        # split_blocks / self_destruct: no consolidated 2-D copy of the numeric columns.
        table = ds.dataset(folder / f"{name}.parquet", format="parquet").to_table(memory_pool=_POOL)
        df = table.to_pandas(split_blocks=True, self_destruct=True, memory_pool=_POOL)
        if columns_object:
            df.columns = pd.Index(list(df.columns), dtype=object)
        return df
    with open(folder / f"{name}.pickle", "rb") as fh:
        return pickle.load(fh)


def write_value(obj: Any, path: Path | str) -> None:
    """Store ``obj`` as the folder ``path`` (see the module doc), replacing what was there.

    The parts are written into a temporary folder beside ``path`` which then takes its place,
    so a reader never sees half of a value.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".writing", dir=path.parent))
    try:
        is_record = dataclasses.is_dataclass(obj) and not isinstance(obj, type)
        parts = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)} if is_record else {WHOLE: obj}
        index: dict[str, Any] = {
            "class": [type(obj).__module__, type(obj).__qualname__] if is_record else None,
            "parts": {},
        }
        for name, value in parts.items():
            how = _write_part(value, tmp, name)
            index["parts"][name] = {
                "format": how,
                "columns_object": how == "parquet" and value.columns.dtype == object,
            }
        (tmp / INDEX).write_text(json.dumps(index, indent=1, sort_keys=True))
        if path.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "v")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if path.exists():  # a value of the earlier single-file format: stored again in this one
                path.unlink()
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_value(path: Path | str, parts: list[str] | None = None) -> Any:
    """The value stored at ``path``; of a dataclass result only ``parts`` when given (as in AssetIn)."""
    folder = Path(path)
    if folder.is_file():  # written before values were folders (one binary file): not read any more
        raise FileNotFoundError(f"{folder} was stored by an earlier version of the pipeline; materialize its asset again")
    index = json.loads((folder / INDEX).read_text())
    stored = index["parts"]
    if index["class"] is None:
        return _read_part(folder, WHOLE, stored[WHOLE]["format"], stored[WHOLE]["columns_object"])
    module, qualname = index["class"]
    cls = getattr(importlib.import_module(module), qualname)
    wanted = list(stored) if parts is None else parts
    unknown = [p for p in wanted if p not in stored]
    if unknown:
        raise KeyError(f"{qualname} has no part(s) {', '.join(unknown)} (parts: {', '.join(stored)})")
    obj = cls.__new__(cls)
    for name in wanted:
        value = _read_part(folder, name, stored[name]["format"], stored[name]["columns_object"])
        object.__setattr__(obj, name, value)  # frozen dataclasses too
    return obj


class WorkFolderIOManager(dg.UPathIOManager):
    """Dagster's path-based IO manager storing each value as a folder of Parquet and pickle parts."""

    extension = ""

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        write_value(obj, Path(str(path)))

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        parts = (context.definition_metadata or {}).get(PARTS_KEY)
        return read_value(Path(str(path)), list(parts) if parts else None)


class StudyIOManager(dg.ConfigurableIOManagerFactory):
    """The ``io_manager`` resource: every asset value stored under ``base_dir`` (see the module doc)."""

    base_dir: str

    def create_io_manager(self, context: dg.InitResourceContext) -> WorkFolderIOManager:
        return WorkFolderIOManager(base_path=UPath(self.base_dir))
