"""CDISC Dataset-JSON v1.1, one file per dataset, typed and labelled from the dataset spec.

Column metadata (itemOID, name, label, length, keySequence, displayFormat) comes from the
spec and uses the define.xml OIDs, so a reviewer's tool can join the two. Numeric SAS dates
(ADaM ``DATE9.`` variables) are written as ISO 8601 strings with ``dataType: "date"`` and
``targetDataType: "integer"``: the v1.1 way of saying "stored as a SAS day number".

The output is deterministic: attributes in the order the standard recommends, one row
per line, numbers in Python's shortest round-trip form, creation time = the data cut.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import io
from pipeline.columns import utf8_buffers
from pipeline.specs.study import load_study
from pipeline.submission.common import (
    PACKAGE,
    SAS_EPOCH,
    arrow_text,
    char_width,
    creation_datetime,
    cutoff_datetime,
    item_oid,
    itemgroup_oid,
    layer,
    mdv_oid,
    numeric_kind,
    package_version,
    submission_frame,
    temporal_kind,
)

if TYPE_CHECKING:
    from pipeline.specs.datasets import DatasetSpec

DATASET_JSON_VERSION = "1.1.0"


def _column_meta(frame: pd.DataFrame, spec: DatasetSpec, widths: Mapping[str, int] | None) -> list[dict[str, Any]]:
    keys = list(spec.keys or [])
    cols = []
    for v in spec.variables:
        kind = temporal_kind(v)
        col: dict[str, Any] = {"itemOID": item_oid(spec.name, v.name), "name": v.name, "label": v.label}
        if kind:
            col["dataType"] = kind
            col["targetDataType"] = "integer"
        elif v.type == "Num":
            col["dataType"] = "integer" if numeric_kind(frame[v.name])[0] == "integer" else "double"
        else:
            col["dataType"] = "string"
            col["length"] = (widths or {}).get(v.name) or char_width(frame[v.name])
        if v.format:
            col["displayFormat"] = v.format
        if v.name in keys:
            col["keySequence"] = keys.index(v.name) + 1
        cols.append(col)
    return cols


def _json_values(col: pd.Series, meta: dict[str, Any]) -> list[Any]:
    """One column's values as JSON scalars (None for missing)."""
    dt = meta["dataType"]
    if dt == "string":
        return [None if x is None or (isinstance(x, float) and np.isnan(x)) else str(x) for x in col.tolist()]
    f = col.to_numpy(dtype="float64")
    ok = np.isfinite(f)
    if dt in ("date", "datetime", "time"):
        if dt == "date":
            ts = SAS_EPOCH + pd.to_timedelta(np.where(ok, f, 0), unit="D")
            txt = ts.strftime("%Y-%m-%d")
        elif dt == "datetime":
            ts = SAS_EPOCH + pd.to_timedelta(np.where(ok, f, 0), unit="s")
            txt = ts.strftime("%Y-%m-%dT%H:%M:%S")
        else:
            secs = np.where(ok, f, 0).astype("int64")
            txt = [f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}" for s in secs]
        return [t if k else None for t, k in zip(list(txt), ok.tolist())]
    if dt == "integer":
        return [int(x) if k else None for x, k in zip(f.tolist(), ok.tolist())]
    # +0.0 turns -0.0 into 0.0 so the two spellings of zero never differ between runs.
    return [float(x) + 0.0 if k else None for x, k in zip(f.tolist(), ok.tolist())]


def _document(
    df: pd.DataFrame, spec: DatasetSpec, layer_name: str, data_cutoff: str | None, widths: Mapping[str, int] | None
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The document without its rows (``"rows": []``) and the frame the rows come from."""
    study = load_study()
    lay = layer(layer_name)
    frame = submission_frame(df, spec)
    columns = _column_meta(frame, spec, widths)
    doc = {
        "datasetJSONCreationDateTime": creation_datetime(data_cutoff)[0],
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "fileOID": f"{study.studyid}.{lay.name.upper()}.{spec.name}",
        # The EDC export was frozen at the data cut: that is when the source last changed.
        "dbLastModifiedDateTime": cutoff_datetime(data_cutoff),
        "sourceSystem": {"name": PACKAGE, "version": package_version()},
        "studyOID": study.studyid,
        "metaDataVersionOID": mdv_oid(lay.name, study.studyid),
        "metaDataRef": "define.xml",
        "itemGroupOID": itemgroup_oid(spec.name),
        "records": len(frame),
        "name": spec.name,
        "label": spec.label,
        "columns": columns,
        "rows": [],
    }
    return doc, frame


def _rows(frame: pd.DataFrame, columns: list[dict[str, Any]]) -> list[list[Any]]:
    values = [_json_values(frame[c["name"]], c) for c in columns]
    return [list(r) for r in zip(*values)] if values else []


def build_dataset_json(
    df: pd.DataFrame, spec: DatasetSpec, layer_name: str, data_cutoff: str | None = None, widths: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """The Dataset-JSON v1.1 document of ``df`` under ``spec`` as an ordered dict.

    ``layer_name`` is ``"sdtm"`` or ``"adam"`` (it names the define.xml MetaDataVersion the
    file refers to). ``df`` may hold ADaM dates as datetime64 or as SAS day numbers.
    ``widths`` (variable -> bytes): the XPT's allotted Char lengths, stated as ``length``.
    """
    doc, frame = _document(df, spec, layer_name, data_cutoff, widths)
    doc["rows"] = _rows(frame, doc["columns"])
    return doc


def dumps_dataset_json(doc: dict[str, Any]) -> str:
    """Serialise a Dataset-JSON document: attribute order kept, one column and one row per line."""

    def d(x: Any) -> str:
        return json.dumps(x, ensure_ascii=False, separators=(", ", ": "), allow_nan=False)

    parts = []
    for k, v in doc.items():
        if k in ("columns", "rows"):
            inner = ",\n".join(f"    {d(x)}" for x in v)
            parts.append(f'  "{k}": [\n{inner}\n  ]' if v else f'  "{k}": []')
        else:
            parts.append(f"  {d(k)}: {d(v)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


class _NotCovered(Exception):
    """A column the Arrow row writer leaves to the per-value path."""


_JSON_SPECIAL = r'[\x00-\x1f"\\]'  # what json.dumps escapes in a str when ensure_ascii=False
ROW_BLOCK = 100_000  # rows serialised at a time (bounds the memory of a large dataset)


def _may_need_escapes(arr: pa.Array) -> bool:
    """False when no value of a string array holds a byte json.dumps escapes (control, '"', '\\').

    One numpy pass over the array's UTF-8 bytes (bytes of multi-byte characters are >= 0x80, so
    they never match); the per-value regex then runs only for the rare column that may need it.
    """
    offsets, data = utf8_buffers(arr)
    data = data[offsets[0] : offsets[-1]]
    return bool(np.any((data < 0x20) | (data == 0x22) | (data == 0x5C)))


def _temporal_tokens(f: np.ndarray, dt: str) -> pa.Array:
    """JSON text of SAS day ("date") or second ("datetime") numbers: ``_json_values``' own
    conversion applied to each distinct number once (dates repeat), spread back with one take."""
    ok = np.isfinite(f)
    uniq, inverse = np.unique(f[ok], return_inverse=True)
    text = [f'"{x}"' for x in _json_values(pd.Series(uniq, dtype="float64"), {"dataType": dt})]
    codes = np.full(len(f), -1, dtype=np.int64)
    codes[ok] = inverse.reshape(-1)
    return pa.array(text, pa.string()).take(pa.array(codes, mask=codes < 0)).fill_null("null")


def _tokens(col: pd.Series, meta: dict[str, Any], text: pa.Array | None = None) -> pa.Array:
    """The JSON text of each value of one column, as json.dumps writes it inside a row ("null" for missing).

    ``text``: the column already as Arrow strings (``arrow_text``), for a string column.
    """
    dt = meta["dataType"]
    if dt == "string":
        arr = text if text is not None else arrow_text(col)
        if arr is None or isinstance(arr, pa.ChunkedArray):
            raise _NotCovered
        if pa.types.is_large_string(arr.type):  # TEXT columns; Arrow joins only arrays of one type
            arr = arr.cast(pa.string())  # (one block of rows is far below string's 2 GB limit)
        out = pc.binary_join_element_wise('"', arr, '"', "")
        if not _may_need_escapes(arr):
            return out.fill_null("null")
        special = pc.match_substring_regex(arr, _JSON_SPECIAL).fill_null(False)
        if pc.any(special).as_py():
            odd = [json.dumps(x, ensure_ascii=False) for x in arr.filter(special).to_pylist()]
            out = pc.replace_with_mask(out, special, pa.array(odd, pa.string()))
        return out.fill_null("null")
    if dt == "integer":
        f = col.to_numpy(dtype="float64")
        ok = np.isfinite(f)
        if np.all(np.abs(f[ok]) < 2.0**53):  # exact in int64: Arrow prints the integers as str(int) does
            ints = pa.array(np.where(ok, f, 0).astype(np.int64), mask=~ok)
            return pc.cast(ints, pa.string()).fill_null("null")
    if dt in ("date", "datetime"):
        return _temporal_tokens(col.to_numpy(dtype="float64"), dt)
    vals = _json_values(col, meta)
    if dt in ("date", "datetime", "time"):
        return pa.array([None if x is None else f'"{x}"' for x in vals], pa.string()).fill_null("null")
    # integers beyond 2**53 and doubles: Python's own spelling (json.dumps uses int/float repr)
    return pa.array([None if x is None else repr(x) for x in vals], pa.string()).fill_null("null")


def _slice(arr: pa.Array | None, start: int, length: int) -> pa.Array | None:
    return None if arr is None or isinstance(arr, pa.ChunkedArray) else arr.slice(start, length)


def _write_rows(fh, frame: pd.DataFrame, columns: list[dict[str, Any]]) -> None:
    """Write the rows as dumps_dataset_json lays them out ("    [v, v, ...]" joined by ",\n"), a block at a time."""
    n = len(frame)
    # String columns converted to Arrow once (the package's conversion, when cached), then sliced per block.
    text = {c["name"]: arrow_text(frame[c["name"]]) for c in columns if c["dataType"] == "string"}
    for r0 in range(0, n, ROW_BLOCK):
        block = frame.iloc[r0 : r0 + ROW_BLOCK]
        tokens = [_tokens(block[c["name"]], c, _slice(text.get(c["name"]), r0, len(block))) for c in columns]
        last = r0 + ROW_BLOCK >= n
        line = pc.binary_join_element_wise(*tokens, ", ")
        line = pc.binary_join_element_wise("    [", line, "],\n", "")
        # The lines lie end to end in the Arrow data buffer: that is the text, but for the last ",\n".
        offsets, text_bytes = utf8_buffers(line)
        data = text_bytes[offsets[0] : offsets[-1] - (2 if last else 0)].data  # a memoryview, no copy
        fh.write(data)


def write_dataset_json(
    df: pd.DataFrame,
    spec: DatasetSpec,
    path: Path,
    layer_name: str,
    data_cutoff: str | None = None,
    widths: Mapping[str, int] | None = None,
) -> Path:
    """Atomically write ``<path>/<dataset>.json`` (or the file ``path``); returns the file written.

    The bytes are ``dumps_dataset_json(build_dataset_json(...))``; the rows are serialised a
    column at a time by Arrow (json.dumps of each row was most of the cost of a large dataset),
    or, for a column Arrow cannot take (a non-str value in a Char column), as before.
    """
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / f"{spec.name.lower()}.json"
    doc, frame = _document(df, spec, layer_name, data_cutoff, widths)
    columns = doc["columns"]
    head = dumps_dataset_json(doc)
    if len(frame) and columns and head.endswith('  "rows": []\n}\n'):
        try:
            with io.atomic_path(path) as tmp, open(tmp, "wb") as fh:
                fh.write(head[: -len("[]\n}\n")].encode("utf-8") + b"[\n")
                _write_rows(fh, frame, columns)
                fh.write(b"\n  ]\n}\n")
            return path
        except (_NotCovered, UnicodeEncodeError, pa.ArrowException):
            pass
    doc["rows"] = _rows(frame, columns)
    io.write_text(path, dumps_dataset_json(doc))
    return path
