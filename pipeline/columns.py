"""Text columns: the ``TEXT`` dtype every layer uses, and the vectorised tests the checks share.

``TEXT`` is pandas' Arrow-backed ``str`` dtype; ``take_text`` spreads per-distinct-value results
back over a column; ``char_values`` gives a Char variable as ``TEXT``. ``all_str`` tells whether
an object column holds only str (and nulls); ``arrow_text`` gives a text column as an Arrow
string array (a ``TEXT`` column's own buffer), so lengths, ASCII tests and regex matches run over
the whole column in C.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Text columns everywhere are pandas' Arrow-backed ``str`` dtype (the pandas 3 default, switched on
# in pipeline/__init__.py): values live in one Arrow buffer instead of one Python object each, so
# they take a third of the memory, pickle and compare in C, and a missing value is NaN as before.
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)


def take_text(table, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """A ``TEXT`` Series on ``index`` whose values are ``table[codes]`` (missing where a code is
    -1): how a value computed once per distinct value is spread back over a column."""
    values = pa.array(np.asarray(table, dtype=object), type=pa.large_string(), from_pandas=True)
    return pd.Series(values.take(pa.array(codes, mask=codes < 0)), index=index, dtype=TEXT)


def all_str(col: pd.Series) -> bool:
    """True when every non-null value is a str (one pass in C)."""
    return pd.api.types.infer_dtype(col, skipna=True) in ("string", "empty")


def is_text_dtype(col: pd.Series) -> bool:
    """True for an object column or a pandas string column (``TEXT`` or ``string``)."""
    return col.dtype == object or isinstance(col.dtype, pd.StringDtype)


def arrow_text(col: pd.Series) -> pa.Array | None:
    """The column as an Arrow string array (nulls for None/NaN), or None when a value is not a
    str or cannot be encoded; callers then take their per-value Python path.

    A ``TEXT`` column is its Arrow array already (no copy); an object column is converted.
    Arrow computes lengths, ASCII tests and regex matches over the whole column in C: the
    per-value ``.str``/``.map`` calls they replace were most of the submission and validation time.
    """
    if isinstance(col.dtype, pd.StringDtype) and col.dtype.storage == "pyarrow":
        arr = col.array.__arrow_array__()
        if isinstance(arr, pa.ChunkedArray):
            return arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
        return arr
    arr = None
    if isinstance(col.dtype, pd.StringDtype):  # python-storage ``string``
        arr = pa.array(col.to_numpy(dtype=object, na_value=None), type=pa.string(), from_pandas=True)
    elif all_str(col):
        try:
            arr = pa.array(col, type=pa.string(), from_pandas=True)
        except (pa.ArrowException, UnicodeEncodeError):  # e.g. a lone surrogate: the Python path raises as before
            arr = None
    return arr


def char_values(col: pd.Series) -> pd.Series:
    """A Char variable as ``TEXT``, missing for null and for "" (``str(x) == ""``); a column
    holding a value that is not a str stays object (None for missing) for the schema to report."""
    if col.dtype == TEXT:
        empty = pc.equal(arrow_text(col), "").fill_null(False)
        return col.where(~empty.to_numpy(zero_copy_only=False)) if pc.any(empty).as_py() else col
    obj = col.astype("object")
    keep = obj.notna().to_numpy()
    present = obj.to_numpy()[keep]
    if pd.api.types.infer_dtype(present, skipna=False) in ("string", "empty"):
        keep[keep] = present != ""  # one comparison in C per value instead of str() of every value
        return pd.Series(obj.where(keep, None), dtype=TEXT)
    keep[keep] = [str(x) != "" for x in present]
    return obj.where(keep, None)


def as_char(col: pd.Series, where: str) -> pd.Series:
    """A Char variable as ``TEXT`` (``char_values``), or TypeError naming ``where`` (DATASET.VARIABLE),
    the rows and values that are not text: a derivation bug, never data to pass on. The one place the
    Char dtype is set, so the checks downstream read Arrow text only."""
    out = char_values(col)
    if out.dtype != TEXT:
        bad = out[out.notna() & ~out.map(lambda x: isinstance(x, str))]
        shown = ", ".join(f"row {i}: {v!r}" for i, v in list(bad.items())[:5])
        raise TypeError(f"{where}: {len(bad)} value(s) of a Char variable are not text ({shown})")
    return out


def utf8_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of an Arrow string or large_string array as numpy views (no copy).

    ``offsets`` has ``len(arr) + 1`` entries, the array's own slice of its offsets buffer; value
    i is ``bytes[offsets[i]:offsets[i + 1]]`` (UTF-8; empty for null). The writers and checks
    that test or place bytes of a whole column read these instead of Python strings.
    """
    empty = np.zeros(0, dtype=np.uint8)
    if len(arr) == 0:
        return np.zeros(1, dtype=np.int64), empty
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    return offsets, (np.frombuffer(data, dtype=np.uint8) if data is not None else empty)


def utf8_nbytes(arr: pa.Array) -> np.ndarray:
    """UTF-8 byte length of each value of an Arrow string array (0 for null)."""
    return pc.binary_length(arr).fill_null(0).to_numpy(zero_copy_only=False)


def isin(col: pd.Series | pd.Index, values) -> np.ndarray:
    """``col.isin(values)`` as a bool array, in C when ``col`` is ``TEXT``.

    pandas builds an Arrow scalar per element of ``values`` in Python before its own Arrow
    ``is_in`` (18 s at 100,000 subjects, where ``values`` is every USUBJID of DM). Here
    ``values`` is made an Arrow array once. Same rule as pandas: a missing value matches only
    when ``values`` holds a missing value.
    """
    if not (isinstance(col.dtype, pd.StringDtype) and col.dtype.storage == "pyarrow"):
        return np.asarray(col.isin(values), dtype=bool)
    if (
        isinstance(values, (pd.Series, pd.Index))
        and isinstance(values.dtype, pd.StringDtype)
        and values.dtype.storage == "pyarrow"
    ):
        value_set = pa.chunked_array(values.array.__arrow_array__()).combine_chunks()
    else:
        items = values if isinstance(values, (pd.Series, pd.Index, np.ndarray)) else list(values)
        if not all_str(pd.Series(np.asarray(items, dtype=object), dtype=object)):
            return np.asarray(col.isin(values), dtype=bool)  # non-text values: pandas' own rules
        value_set = pa.array(np.asarray(items, dtype=object), type=pa.large_string(), from_pandas=True)
    arr = pa.chunked_array(col.array.__arrow_array__())
    value_set = value_set.cast(arr.type).unique()
    return pc.is_in(arr, value_set=value_set, skip_nulls=False).to_numpy(zero_copy_only=False)


def stack(frames: list[pd.DataFrame], ignore_index: bool = False) -> pd.DataFrame:
    """``pd.concat(frames)`` of record frames, with each column that is ``TEXT`` in one frame
    made ``TEXT`` in the others where it holds only str and missing values first.

    A column set to None in one part (a variable a kind of record does not have) is object; pandas
    then concatenated the whole column as Python objects (1.5 s for RS at 100,000 subjects).
    """
    frames = list(frames)
    text = {c for f in frames for c in f.columns if f[c].dtype == TEXT}
    fixed = []
    for f in frames:
        odd = [c for c in f.columns if c in text and f[c].dtype == object and all_str(f[c])]
        fixed.append(f.astype(dict.fromkeys(odd, TEXT)) if odd else f)
    return pd.concat(fixed, ignore_index=ignore_index)
