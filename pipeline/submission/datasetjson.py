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

from pipeline import io
from pipeline.specs.study import load_study
from pipeline.submission.common import (
    PACKAGE,
    SAS_EPOCH,
    char_width,
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
        return [None if x is None else str(x) for x in col.tolist()]
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


def build_dataset_json(df: pd.DataFrame, spec: DatasetSpec, layer_name: str, data_cutoff: str | None = None,
                       widths: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The Dataset-JSON v1.1 document of ``df`` under ``spec`` as an ordered dict.

    ``layer_name`` is ``"sdtm"`` or ``"adam"`` (it names the define.xml MetaDataVersion the
    file refers to). ``df`` may hold ADaM dates as datetime64 or as SAS day numbers.
    ``widths`` (variable -> bytes): the XPT's allotted Char lengths, stated as ``length``.
    """
    study = load_study()
    lay = layer(layer_name)
    frame = submission_frame(df, spec)
    columns = _column_meta(frame, spec, widths)
    values = [_json_values(frame[c["name"]], c) for c in columns]
    rows = [list(r) for r in zip(*values)] if values else []
    stamp = cutoff_datetime(data_cutoff)
    return {
        "datasetJSONCreationDateTime": stamp,
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "fileOID": f"{study.studyid}.{lay.name.upper()}.{spec.name}",
        # The EDC export was frozen at the data cut: that is when the source last changed.
        "dbLastModifiedDateTime": stamp,
        "sourceSystem": {"name": PACKAGE, "version": package_version()},
        "studyOID": study.studyid,
        "metaDataVersionOID": mdv_oid(lay.name, study.studyid),
        "metaDataRef": "define.xml",
        "itemGroupOID": itemgroup_oid(spec.name),
        "records": len(frame),
        "name": spec.name,
        "label": spec.label,
        "columns": columns,
        "rows": rows,
    }


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


def write_dataset_json(df: pd.DataFrame, spec: DatasetSpec, path: Path, layer_name: str,
                       data_cutoff: str | None = None, widths: Mapping[str, int] | None = None) -> Path:
    """Atomically write ``<path>/<dataset>.json`` (or the file ``path``); returns the file written."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / f"{spec.name.lower()}.json"
    io.write_text(path, dumps_dataset_json(build_dataset_json(df, spec, layer_name, data_cutoff, widths)))
    return path
