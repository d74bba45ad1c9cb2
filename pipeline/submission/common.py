"""Facts shared by the submission writers: standards, OIDs, dates of the data cut, value typing.

Every writer (XPT, Dataset-JSON, define.xml) takes its names, labels and types from the
dataset spec; this module holds the few rules that turn a spec and a frame into what the
formats need, so the three files always agree with each other.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.columns import TEXT, all_str, arrow_text, is_text_dtype, utf8_nbytes  # noqa: F401 - used by the writers
from pipeline.specs.study import load_study

if TYPE_CHECKING:  # the loader is imported lazily so this module never depends on the spec files
    from pipeline.specs.datasets import DatasetSpec, VariableSpec

PACKAGE = "nct02867280-pipeline"
SAS_EPOCH = pd.Timestamp("1960-01-01")


@dataclass(frozen=True)
class Layer:
    """The standard a layer's datasets follow and how define.xml describes it."""

    name: str  # "sdtm" | "adam"
    ig_name: str  # def:Standard/@Name of the implementation guide
    ig_version: str
    purpose: str  # ItemGroupDef/@Purpose


# The implementation guides the specs in specs/sdtm and specs/adam are written to.
LAYERS = {
    "sdtm": Layer("sdtm", "SDTMIG", "3.4", "Tabulation"),
    "adam": Layer("adam", "ADaMIG", "1.3", "Analysis"),
}


def layer(name: str) -> Layer:
    """The Layer record for ``"sdtm"`` or ``"adam"`` (ValueError otherwise)."""
    try:
        return LAYERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown layer {name!r}; expected one of {sorted(LAYERS)}") from None


@lru_cache(maxsize=1)
def package_version() -> str:
    """The installed version of the pipeline package, or ``"0+unknown"`` when not installed."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def cutoff_datetime(data_cutoff: str | None = None) -> str:
    """ISO 8601 date-time of the data cut (midnight), e.g. ``2022-12-31T00:00:00``.

    Every "created" stamp in the submission files is this value, never the wall clock,
    so the same raw input always gives the same bytes.
    """
    cut = data_cutoff or load_study().data_cutoff
    return pd.Timestamp(cut).strftime("%Y-%m-%dT%H:%M:%S")


def creation_datetime(data_cutoff: str | None = None) -> tuple[str, str]:
    """(ISO 8601 UTC date-time, its source) of the "created" stamp of every submission file.

    The files are a pure function of the raw input, the specs and the code, so the stamp must not
    be the wall clock (byte-identical outputs) and is not the data cut-off (that is when the data
    were frozen, the Dataset-JSON dbLastModifiedDateTime). By the reproducible-builds convention
    it is ``SOURCE_DATE_EPOCH`` (seconds since 1970, set by a release to its own time) when set;
    otherwise the commit time of the code version (``git``); the data cut-off only when neither
    is known. The source is recorded in the manifest.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        return pd.Timestamp(int(epoch), unit="s").strftime("%Y-%m-%dT%H:%M:%S"), "SOURCE_DATE_EPOCH"
    committed = _commit_time()
    if committed:
        return committed, "code commit time"
    return cutoff_datetime(data_cutoff), "data cut-off"


@lru_cache(maxsize=1)
def _commit_time() -> str | None:
    """UTC committer time of the checked-out commit, or None outside a git checkout."""
    from pipeline.specs.paths import SPECS_DIR

    try:
        res = subprocess.run(
            ["git", "log", "-1", "--format=%ct"], cwd=SPECS_DIR.parent, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = res.stdout.strip()
    return pd.Timestamp(int(out), unit="s").strftime("%Y-%m-%dT%H:%M:%S") if res.returncode == 0 and out.isdigit() else None


# --- OIDs: one scheme for define.xml and Dataset-JSON so they cross-reference.


def mdv_oid(layer_name: str, studyid: str) -> str:
    """MetaDataVersion OID of a layer's define.xml (also cited by its Dataset-JSON files)."""
    lay = layer(layer_name)
    return f"MDV.{studyid}.{lay.ig_name}.{lay.ig_version}"


def itemgroup_oid(ds: str) -> str:
    return f"IG.{ds.upper()}"


def item_oid(ds: str, var: str) -> str:
    return f"IT.{ds.upper()}.{var.upper()}"


def codelist_oid(name: str) -> str:
    return f"CL.{name}"


def method_oid(ds: str, var: str) -> str:
    return f"MT.{ds.upper()}.{var.upper()}"


def comment_oid(ds: str) -> str:
    return f"COM.{ds.upper()}"


def leaf_id(ds: str) -> str:
    return f"LF.{ds.upper()}"


def xpt_name(ds: str) -> str:
    """File name of a dataset's transport file: the dataset name in lower case."""
    return f"{ds.lower()}.xpt"


# --- Variable kinds.

_DATE_FMT = re.compile(r"^(DATE|YYMMDD|E8601DA|MMDDYY|DDMMYY)\d*\.?$")
_DATETIME_FMT = re.compile(r"^(DATETIME|E8601DT)\d*\.?\d*$")
_TIME_FMT = re.compile(r"^(TIME|E8601TM)\d*\.?\d*$")


def temporal_kind(v: VariableSpec) -> str | None:
    """``"date"``, ``"datetime"`` or ``"time"`` for a numeric SAS date/time variable, else None.

    Decided by the variable's display format in the spec (DATE9. -> date, DATETIME20. ->
    datetime, TIME8. -> time); Char variables (ISO 8601 --DTC text) are never temporal here.
    """
    return temporal_kind_of(v.type, v.format)


def temporal_kind_of(typ: str, fmt: str | None) -> str | None:
    """:func:`temporal_kind` from a type (``"Char"``/``"Num"``) and a display format."""
    if typ != "Num" or not fmt:
        return None
    fmt = fmt.strip().upper()
    if _DATETIME_FMT.match(fmt):
        return "datetime"
    if _DATE_FMT.match(fmt):
        return "date"
    if _TIME_FMT.match(fmt):
        return "time"
    return None


def is_iso8601_char(name: str, typ: str) -> bool:
    """True for a character ISO 8601 date/time variable (SDTM --DTC, ADaM *DTC copies)."""
    return typ == "Char" and name.upper().endswith("DTC")


def is_iso8601_duration(name: str, typ: str) -> bool:
    """True for a character ISO 8601 duration variable (--DUR, --ELTM)."""
    return typ == "Char" and (name.upper().endswith("DUR") or name.upper().endswith("ELTM"))


# --- Frames as the transport formats store them.


def to_sas_numbers(col: pd.Series, kind: str) -> pd.Series:
    """A date/datetime/time column as SAS numbers (float64): days, seconds since 1960, seconds.

    Already-numeric columns pass through unchanged, so callers may hand over either the
    in-memory frame (datetime64) or one already converted by ``as_submission``.
    """
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.astype("float64")
    if kind == "time":
        td = pd.to_timedelta(col)
        return td.dt.total_seconds().astype("float64")
    ts = pd.to_datetime(col)
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_localize(None)
    delta = ts - SAS_EPOCH
    if kind == "date":
        # Floor to whole days: a SAS date has no time part.
        return (delta.dt.floor("D") / pd.Timedelta(days=1)).astype("float64")
    return delta.dt.total_seconds().astype("float64")


def submission_frame(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The spec's columns in spec order, as stored in XPT: Char -> ``TEXT`` as it is (an object
    column: None for missing), Num -> float64 (date/datetime/time variables as SAS numbers).

    Columns of ``df`` not in the spec are dropped here; the XPT check reports them.
    Raises KeyError for a spec variable missing from ``df`` (the check reports that first).
    """
    if df.attrs.get("submission_frame_of") == spec.name:
        return df  # already made by this function for this spec (write_package shares one)
    out = {}
    for v in spec.variables:
        col = df[v.name]
        kind = temporal_kind(v)
        if kind:
            out[v.name] = to_sas_numbers(col, kind)
        elif v.type == "Num":
            out[v.name] = pd.to_numeric(col, errors="raise").astype("float64")
        elif col.dtype == TEXT:
            out[v.name] = col.array  # Arrow text: the writers read its buffers, no Python objects
        else:
            values = col.to_numpy(dtype=object)
            missing = pd.isna(values)
            missing[missing] = np.not_equal(values[missing], None)  # type: ignore[call-overload]  # numpy's stubs take no None; None is already what XPT wants
            if missing.any():  # NaN/NA/NaT -> None; a column without them is taken as it is
                values = values.copy()
                values[missing] = None
            out[v.name] = values
    # copy=False: no consolidation of the columns into one 2-D block (a copy of every value).
    frame = pd.DataFrame(out, index=pd.RangeIndex(len(df)), copy=False)
    frame.attrs["submission_frame_of"] = spec.name  # writers must not change such a frame in place
    return frame


def object_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``TEXT`` columns as object columns (None for missing), the form
    pyreadstat writes; other columns as they are."""
    text = [c for c in frame.columns if frame[c].dtype == TEXT]
    if not text:
        return frame
    out = frame.copy(deep=False)
    for c in text:  # a Series of dtype object: a bare object array would be inferred as TEXT again
        out[c] = pd.Series(frame[c].to_numpy(dtype=object, na_value=None), index=frame.index, dtype=object)
    return out


def char_width(col: pd.Series) -> int:
    """The longest value of a character column in UTF-8 bytes, at least 1.

    This is the width pyreadstat allots (it has no length parameter); a wider, study-wide
    width (:func:`layer_char_widths`) is reached by padding one value with blanks.
    """
    if col.empty:
        return 1
    arr = arrow_text(col)  # nulls count 0 bytes
    if arr is not None:  # the same number, without encoding every value in Python
        return max(1, int(utf8_nbytes(arr).max()))
    vals = col.dropna()
    if vals.empty:
        return 1
    return max(1, int(vals.astype(str).str.encode("utf-8").str.len().max()))


def layer_char_widths(frames: Mapping[str, pd.DataFrame], specs: Mapping[str, DatasetSpec]) -> dict[str, dict[str, int]]:
    """Allotted XPT width of each Char variable of each dataset (dataset -> variable -> bytes).

    The FDA TCG asks for "the maximum length of the variable used across all datasets in
    the study except for supplementary qualification datasets": so a variable (USUBJID,
    VISIT ...) gets one width, the longest value it has in any dataset of the package, and a
    SUPP-- dataset keeps the longest value within itself. ``frames`` and ``specs`` are keyed
    alike (dataset name).
    """
    own = {name: dataset_char_widths(frames[name], specs[name]) for name in frames}
    return study_char_widths(own, specs, {name for name in frames if frames[name].empty})


def dataset_char_widths(frame: pd.DataFrame, spec: DatasetSpec) -> dict[str, int]:
    """The longest value (UTF-8 bytes, at least 1) of each Char variable of one dataset."""
    return {v.name: char_width(frame[v.name]) for v in spec.variables if v.type == "Char" and v.name in frame.columns}


def study_char_widths(
    own: Mapping[str, dict[str, int]], specs: Mapping[str, DatasetSpec], empty: AbstractSet[str] = frozenset()
) -> dict[str, dict[str, int]]:
    """:func:`layer_char_widths` from each dataset's own widths (``dataset_char_widths``);
    ``empty``: names of datasets without records."""
    study: dict[str, int] = {}
    for name, widths in own.items():
        if not specs[name].name.upper().startswith("SUPP"):
            for var, w in widths.items():
                study[var] = max(study.get(var, 1), w)
    # An empty dataset has no value to pad, so it keeps width 1.
    return {
        name: (widths if specs[name].name.upper().startswith("SUPP") or name in empty else {v: study[v] for v in widths})
        for name, widths in own.items()
    }


def decimals_needed(values: np.ndarray, max_digits: int = 12) -> int | None:
    """The fewest decimal places that represent every finite value exactly (None if > max_digits)."""
    vals = values[np.isfinite(values)]
    for d in range(max_digits + 1):
        if np.all(np.round(vals, d) == vals):
            return d
    return None


def numeric_kind(col: pd.Series) -> tuple[str, int | None]:
    """(``"integer"`` | ``"float"``, significant decimal digits) of a numeric column's data.

    The spec only says Num; integer vs float is a fact of the values (define.xml and
    Dataset-JSON both need it). An all-missing column counts as integer.
    """
    vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64")
    finite = vals[np.isfinite(vals)]
    if finite.size == 0 or bool(np.all(finite == np.floor(finite))):
        return "integer", None
    return "float", decimals_needed(finite)
