"""Text columns as Arrow sees them: the vectorised tests every layer's checks share.

``all_str`` tells whether an object column holds only str (and nulls); ``arrow_text`` gives
such a column as an Arrow string array, so lengths, ASCII tests and regex matches run over the
whole column in C; ``arrow_cache()`` makes each column's conversion happen once in a block of
code that reads the same columns many times (validation of a dataset, its submission files).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def all_str(col: pd.Series) -> bool:
    """True when every non-null value is a str (one pass in C)."""
    return pd.api.types.infer_dtype(col, skipna=True) in ("string", "empty")


def arrow_text(col: pd.Series) -> pa.Array | None:
    """The column as an Arrow string array (nulls for None/NaN), or None when a value is not a
    str or cannot be encoded; callers then take their per-value Python path.

    Arrow computes lengths, ASCII tests and regex matches over the whole column in C: the
    per-value ``.str``/``.map`` calls they replace were most of the submission and validation time.
    """
    key = _cache_key(col)
    if key is not None and key in _ARROW_CACHE:
        return _ARROW_CACHE[key][1]
    arr = None
    if all_str(col):
        try:
            arr = pa.array(col, type=pa.string(), from_pandas=True)
        except (pa.ArrowException, UnicodeEncodeError):  # e.g. a lone surrogate: the Python path raises as before
            arr = None
    if key is not None:
        _ARROW_CACHE[key] = (col.to_numpy(), arr)  # holding the values keeps their memory from reuse
    return arr


# Within ``arrow_cache()`` each object column is converted once, however many writers read it.
_ARROW_CACHE: dict[tuple[int, int, int], tuple[np.ndarray, pa.Array | None]] = {}
_CACHING = False


def _cache_key(col: pd.Series) -> tuple[int, int, int] | None:
    """(address, length, stride) of an object column's values while caching is on, else None."""
    if not _CACHING or col.dtype != object:
        return None
    values = col.to_numpy()
    return values.__array_interface__["data"][0], len(values), values.strides[0]


@contextlib.contextmanager
def arrow_cache() -> Iterator[None]:
    """Convert each object column to Arrow once while the block runs (the submission writers
    read every Char column five or six times). The frames must not be changed in place meanwhile."""
    global _CACHING
    outer = _CACHING
    _CACHING = True
    try:
        yield
    finally:
        _CACHING = outer
        if not outer:
            _ARROW_CACHE.clear()


def utf8_nbytes(arr: pa.Array) -> np.ndarray:
    """UTF-8 byte length of each value of an Arrow string array (0 for null)."""
    return pc.binary_length(arr).fill_null(0).to_numpy(zero_copy_only=False)
