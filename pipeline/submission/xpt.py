"""SAS XPORT version 5 transport files, one dataset per file, checked before they are written.

pyreadstat writes the file; it silently truncates labels over 40 characters, writes values
over 200 bytes and raw UTF-8 bytes, defaults to version 8, stamps the wall clock into the
headers and leaves a 0-byte file when it fails (pyreadstat 1.3.7, ``file_format_version=5``). So every
rule a reviewer's tool applies is checked here first, all problems are reported at once
(:class:`XptError`), the file is written under a temporary name, its header time stamps are
set to the data cut, and only then is it renamed into place.

Character lengths: pyreadstat has no length parameter; it allots each character variable
the byte length of its longest value (at least 1). That is what the FDA TCG asks for (the
allotted length equals the longest value present), so the spec's length is a ceiling that the
data must respect, not a width to pad to. define.xml carries the same observed length.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyreadstat

from pipeline.io import atomic_path
from pipeline.specs.datasets import label_problems
from pipeline.submission import xpt_fast
from pipeline.submission.common import (
    TEXT,
    arrow_text,
    char_width,
    creation_datetime,
    object_text,
    submission_frame,
    temporal_kind,
    utf8_nbytes,
    xpt_name,
)

if TYPE_CHECKING:
    from pipeline.specs.datasets import DatasetSpec, VariableSpec

NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
# Dataset (member and file) names: letters and digits only (TCG), at most 8.
DATASET_RE = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")
FORMAT_RE = re.compile(r"^(?=\$?[A-Z0-9])\$?([A-Z][A-Z0-9_]*)?\d*\.\d*$")
MAX_CHAR_BYTES = 200  # XPORT v5 character limit
MAX_FILE_BYTES = 5 * 1024**3  # FDA TCG §3.3.2: 5 GB per dataset file
IBM_MAX = 7.2e75  # largest magnitude an IBM System/360 double holds (readstat saturates above)
IBM_MIN = 5.4e-79  # smallest non-zero magnitude; anything below is written as 0
MAX_LISTED = 50  # problems shown in an exception message (all are kept on the exception)

# The four header time stamps of a v5 file (library created/modified, member created/modified):
# byte offset -> 16-byte field. Layout of SAS TS-140 as pyreadstat writes it.
_STAMP_OFFSETS = (80 + 64, 160, 400 + 64, 480)
_STAMP_RE = re.compile(rb"^\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d$")


@dataclass(frozen=True)
class XptProblem:
    """One broken rule: which dataset, variable (None: dataset-level) and record (1-based)."""

    dataset: str
    variable: str | None
    row: int | None
    rule: str
    message: str

    def __str__(self) -> str:
        where = self.dataset
        if self.variable:
            where += f".{self.variable}"
        if self.row is not None:
            where += f" row {self.row}"
        return f"{where}: [{self.rule}] {self.message}"


class XptError(ValueError):
    """Raised when a dataset breaks XPT rules; ``.problems`` lists every problem found."""

    def __init__(self, problems: list[XptProblem]):
        self.problems = list(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:MAX_LISTED])
        more = len(self.problems) - MAX_LISTED
        if more > 0:
            shown += f"\n  ... and {more} more"
        ds = sorted({p.dataset for p in self.problems})
        super().__init__(f"{len(self.problems)} XPT problem(s) in {', '.join(ds)}:\n{shown}")


def _label_problems(ds: str, var: str | None, label: str | None, what: str) -> list[XptProblem]:
    """The label rules of the specs (``label_problems``) as XPT problems."""
    if not label:
        return [XptProblem(ds, var, None, f"{what}-label", f"{what} label is missing")]
    return [XptProblem(ds, var, None, f"{what}-label", f"{what} label {p}: {label!r}") for p in label_problems(label)]


def _spec_problems(spec: DatasetSpec) -> list[XptProblem]:
    """Rules on the metadata alone (names, labels, formats, declared lengths)."""
    ds = spec.name
    out = []
    if not DATASET_RE.match(ds):
        out.append(
            XptProblem(
                ds,
                None,
                None,
                "dataset-name",
                f"dataset name {ds!r} must be 1-8 upper-case letters/digits starting with a letter",
            )
        )
    out += _label_problems(ds, None, spec.label, "dataset")
    seen: set[str] = set()
    for v in spec.variables:
        if not NAME_RE.match(v.name):
            out.append(XptProblem(ds, v.name, None, "variable-name", f"variable name {v.name!r} must match {NAME_RE.pattern}"))
        if v.name in seen:
            out.append(XptProblem(ds, v.name, None, "variable-name", f"variable {v.name} appears twice in the spec"))
        seen.add(v.name)
        out += _label_problems(ds, v.name, v.label, "variable")
        if v.type not in ("Char", "Num"):
            out.append(XptProblem(ds, v.name, None, "type", f"type {v.type!r} is neither Char nor Num"))
        if v.type == "Char" and v.length and v.length > MAX_CHAR_BYTES:
            out.append(
                XptProblem(ds, v.name, None, "length", f"spec length {v.length} exceeds the XPORT v5 limit of {MAX_CHAR_BYTES}")
            )
        if v.format:
            if v.format != v.format.upper():
                # A lower-case format is stored as is, and then neither pyreadstat nor R haven reads a date.
                out.append(XptProblem(ds, v.name, None, "format", f"format {v.format!r} must be upper case"))
            elif not FORMAT_RE.match(v.format) or len(v.format.rstrip(".0123456789").lstrip("$")) > 8:
                out.append(
                    XptProblem(ds, v.name, None, "format", f"format {v.format!r} is not a SAS format name (NAMEw.d, name <= 8)")
                )
    return out


def _column_problems(df: pd.DataFrame, spec: DatasetSpec) -> list[XptProblem]:
    ds = spec.name
    out = []
    names = [v.name for v in spec.variables]
    dup = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    for c in dup:
        out.append(XptProblem(ds, str(c), None, "columns", "column appears more than once in the frame"))
    for c in names:
        if c not in df.columns:
            out.append(XptProblem(ds, c, None, "columns", "variable of the spec is missing from the frame"))
    for c in df.columns:
        if c not in names:
            out.append(XptProblem(ds, str(c), None, "columns", "column is not in the spec"))
    return out


def _char_problems(
    ds: str, v: VariableSpec, vals: pd.Series, not_str: pd.Series, non_ascii: pd.Series, nbytes: pd.Series
) -> list[XptProblem]:
    """Problems of one Char variable from its non-str values, non-ASCII values and byte lengths."""
    out = []
    for i, x in not_str.items():
        out.append(XptProblem(ds, v.name, i + 1, "type", f"Char variable holds a {type(x).__name__} value {x!r}"))
    for i, x in non_ascii.items():
        pos, ch = next((p, c) for p, c in enumerate(x) if not c.isascii())
        out.append(
            XptProblem(
                ds,
                v.name,
                i + 1,
                "non-ascii",
                f"value {x!r} has non-ASCII character {ch!r} (U+{ord(ch):04X}) at position {pos + 1}; "
                "XPT v5 records no encoding: transliterate it in the mapping",
            )
        )
    for i in nbytes.index[nbytes > MAX_CHAR_BYTES]:
        out.append(
            XptProblem(
                ds,
                v.name,
                i + 1,
                "value-length",
                f"value is {nbytes[i]} bytes (XPORT v5 max {MAX_CHAR_BYTES}): {vals[i][:40]!r}...",
            )
        )
    if v.length:
        over = nbytes[(nbytes > v.length) & (nbytes <= MAX_CHAR_BYTES)]
        for i in over.index:
            out.append(
                XptProblem(
                    ds,
                    v.name,
                    i + 1,
                    "spec-length",
                    f"value is {nbytes[i]} bytes, longer than the spec length {v.length}: {vals[i]!r}",
                )
            )
    return out


def _value_problems(df: pd.DataFrame, spec: DatasetSpec) -> list[XptProblem]:
    """Rules on the values: ASCII, 200 bytes, spec length, numeric type and range."""
    ds = spec.name
    out = []
    for v in spec.variables:
        if v.name not in df.columns:
            continue
        # Positional index (rows are reported 1-based) over the same values, not a copy of them.
        col = pd.Series(df[v.name].array, name=v.name)
        if v.type == "Char":
            arr = arrow_text(col)
            if arr is not None:
                # Every value a str or missing: ASCII test and byte lengths in C (a missing value is
                # ASCII and 0 bytes); only the rows that break a rule are looked at in Python (same
                # problems, same order as the per-value path below).
                non_ascii = col[~pc.string_is_ascii(arr).fill_null(True).to_numpy(zero_copy_only=False)]
                nbytes = pd.Series(utf8_nbytes(arr).astype("int64"), index=col.index)
                out += _char_problems(ds, v, col, col.iloc[:0], non_ascii, nbytes)
                continue
            vals = col[col.notna()]
            not_str = vals[~vals.map(lambda x: isinstance(x, str))]
            vals = vals[vals.map(lambda x: isinstance(x, str))]
            non_ascii = vals[~vals.map(str.isascii)]
            nbytes = vals.map(lambda x: len(x.encode("utf-8")))
            out += _char_problems(ds, v, vals, not_str, non_ascii, nbytes)
        elif v.type == "Num":
            kind = temporal_kind(v)
            if kind and (pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col)):
                continue  # converted to SAS numbers on write; NaT becomes missing
            if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                num = pd.to_numeric(col, errors="coerce")
                bad = col[num.isna() & col.notna()]
                for i, x in bad.items():
                    out.append(XptProblem(ds, v.name, i + 1, "type", f"Num variable holds a non-numeric value {x!r}"))
                if not bad.empty or pd.api.types.is_bool_dtype(col):
                    if bad.empty:
                        out.append(XptProblem(ds, v.name, None, "type", f"Num variable has dtype {col.dtype}; expected float64"))
                    continue
                col = num
            f = col.astype("float64")
            big = f[f.abs() >= IBM_MAX]
            for i, x in big.items():
                out.append(
                    XptProblem(
                        ds, v.name, i + 1, "numeric-range", f"value {x!r} is beyond the IBM double range (|x| < {IBM_MAX:g})"
                    )
                )
            tiny = f[(f != 0) & (f.abs() < IBM_MIN)]
            for i, x in tiny.items():
                out.append(
                    XptProblem(ds, v.name, i + 1, "numeric-range", f"value {x!r} would be written as 0 (|x| < {IBM_MIN:g})")
                )
    return out


def estimated_size(df: pd.DataFrame, spec: DatasetSpec) -> int:
    """Bytes the transport file will take: headers, one 140-byte namestr per variable, records.

    Computed from the data before writing so an oversized dataset is refused up front.
    """
    nvar = len(spec.variables)
    reclen = 0
    for v in spec.variables:
        if v.type == "Char" and v.name in df.columns:
            reclen += char_width(df[v.name])
        else:
            reclen += 8
    header = 80 * 8 + math.ceil(nvar * 140 / 80) * 80
    return header + math.ceil(len(df) * reclen / 80) * 80


def check_for_xpt(df: pd.DataFrame, spec: DatasetSpec, max_bytes: int = MAX_FILE_BYTES) -> list[XptProblem]:
    """Every XPT v5 / FDA problem of writing ``df`` under ``spec`` (empty list: writable).

    Checks names, labels (<= 40 ASCII, balanced), formats, declared lengths, the frame's
    columns against the spec, every character value (ASCII, <= 200 bytes, <= spec length),
    numeric types and range, and the estimated file size against ``max_bytes``.
    """
    problems = _spec_problems(spec) + _column_problems(df, spec) + _value_problems(df, spec)
    size = estimated_size(df, spec)
    if size > max_bytes:
        problems.append(
            XptProblem(
                spec.name,
                None,
                None,
                "file-size",
                f"the file would be {size:,} bytes, over the {max_bytes:,}-byte limit; split the dataset",
            )
        )
    return problems


def _sas_stamp(iso: str) -> bytes:
    """``2022-12-31T00:00:00`` -> ``b"31DEC22:00:00:00"`` (the XPT header date-time form)."""
    ts = pd.Timestamp(iso)
    return ts.strftime("%d%b%y:%H:%M:%S").upper().encode("ascii")


def _stamp_headers(path: Path, stamp: bytes) -> None:
    """Overwrite the four header time stamps pyreadstat took from the wall clock with ``stamp``."""
    with open(path, "r+b") as fh:
        head = fh.read(560)
        if not head.startswith(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"):
            raise XptError([XptProblem("?", None, None, "header", f"{path.name} does not start with a v5 library header")])
        for off in _STAMP_OFFSETS:
            if not _STAMP_RE.match(head[off : off + 16]):
                raise XptError(
                    [XptProblem("?", None, None, "header", f"unexpected header layout at byte {off}: {head[off : off + 16]!r}")]
                )
            fh.seek(off)
            fh.write(stamp)


def _pad_to_widths(frame: pd.DataFrame, spec: DatasetSpec, widths: Mapping[str, int]) -> list[XptProblem]:
    """Pad one value per Char column with trailing blanks so pyreadstat allots ``widths[var]``.

    Readers strip trailing blanks, so the values read back unchanged. A
    width below the data's own or above 200 bytes is a problem; an empty dataset cannot
    be padded and keeps width 1.
    """
    out = []
    for v in spec.variables:
        w = widths.get(v.name)
        if v.type != "Char" or w is None or frame.empty:
            continue
        have = char_width(frame[v.name])
        if w < have or w > MAX_CHAR_BYTES:
            out.append(
                XptProblem(spec.name, v.name, None, "length", f"allotted width {w} is outside {have}..{MAX_CHAR_BYTES} bytes")
            )
        elif w > have:
            col = frame[v.name]  # a new column replaces it: the frame's arrays may be shared
            if col.dtype == TEXT and (text := arrow_text(col)) is not None:
                first = col.iloc[0]
                head = pa.array([("" if pd.isna(first) else first).ljust(w)], type=pa.large_string())
                frame[v.name] = pd.Series(pa.concat_arrays([head, text.slice(1)]), index=col.index, dtype=TEXT)
            else:
                values = col.to_numpy(dtype=object, copy=True)
                values[0] = (values[0] or "").ljust(w)
                frame[v.name] = values
    return out


def write_xpt(
    df: pd.DataFrame,
    spec: DatasetSpec,
    path: Path,
    data_cutoff: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    checked: bool = False,
    widths: Mapping[str, int] | None = None,
) -> Path:
    """Write ``df`` as the XPORT v5 file of ``spec``; returns the file written.

    ``path`` is the target file (its name must be ``<dataset>.xpt`` in lower case) or a
    directory to put it in. Raises :class:`XptError` listing every problem, before anything
    is written; a failed write leaves no file (and any previous file untouched). Header
    time stamps are the data cut (``data_cutoff``, default ``specs/trial/study.yaml``).
    ``checked=True`` skips the value checks when the caller has just run :func:`check_for_xpt`
    on this very frame (they read every value, which is most of the cost on a large dataset).
    ``widths`` (variable -> bytes) sets the allotted length of Char variables, e.g. the
    study-wide widths of :func:`~pipeline.submission.common.layer_char_widths`; by default
    each is the longest value in ``df``.
    """
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / xpt_name(spec.name)
    problems = [] if checked else check_for_xpt(df, spec, max_bytes)
    if path.name != xpt_name(spec.name):
        problems.append(
            XptProblem(spec.name, None, None, "file-name", f"file name {path.name!r} must be {xpt_name(spec.name)!r}")
        )
    if problems:
        raise XptError(problems)
    frame = submission_frame(df, spec).copy(deep=False)  # padding replaces columns of this copy only
    if widths:
        pad_problems = _pad_to_widths(frame, spec, widths)
        if pad_problems:
            raise XptError(pad_problems)
    labels = [v.label for v in spec.variables]
    formats = {v.name: v.format for v in spec.variables if v.format}
    stamp = _sas_stamp(creation_datetime(data_cutoff)[0])
    meta: dict[str, Any] = {
        "file_label": spec.label,
        "column_labels": labels,
        "table_name": spec.name,
        "variable_format": formats,
    }
    with atomic_path(path) as tmp:
        # pyreadstat's bytes with the records built by numpy (pyreadstat fills them a value at a time
        # from Python: the largest cost at 100,000 subjects); pyreadstat itself for any other frame.
        if not xpt_fast.write_xport(frame, tmp, **meta):
            # pyreadstat defaults to 8 (LIBV8), which FDA refuses
            pyreadstat.write_xport(object_text(frame), str(tmp), file_format_version=5, **meta)
        _stamp_headers(tmp, stamp)
        size = tmp.stat().st_size
        if size > max_bytes:
            raise XptError(
                [XptProblem(spec.name, None, None, "file-size", f"written file is {size:,} bytes, over {max_bytes:,}")]
            )
    return path


def read_xpt(path: Path) -> tuple[pd.DataFrame, object]:
    """Read a transport file back with pyreadstat (dates as SAS numbers) -> (frame, metadata).

    Never pandas.read_sas: it reads some 0.0 as 5.4e-79 (pandas issue #50670) and can drop the
    last row of a file whose records are at most 80 bytes.
    """
    return pyreadstat.read_xport(str(path), disable_datetime_conversion=True)
