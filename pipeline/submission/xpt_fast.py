"""The bytes ``pyreadstat.write_xport(..., file_format_version=5)`` writes, with the records built by numpy.

pyreadstat (readstat 1.1) fills its records one value at a time from Python (a ``pd.isna`` and
a ``readstat_insert_*`` call per cell), which made it the largest single cost of the pipeline at
100,000 subjects. Here pyreadstat still writes the headers (from a one-row frame with the same
columns, types, widths, labels and formats), and the observation records are built a block of
rows at a time with readstat's own rules (``readstat_xport_write.c``, ``ieee.c``):

- a record is the variables side by side, each Char variable ``width`` bytes and each Num 8;
- Char: the UTF-8 bytes of the value, then blanks (a null or empty value is all blanks);
- Num: the IBM System/360 double of the value, big-endian (SAS TS-140 ``ieee2xpt``); a missing
  value is ``.`` followed by seven zero bytes;
- after the last record, blanks up to the next multiple of 80 bytes.

:func:`write_xport` returns False (and writes nothing) for a frame it does not cover: a column
that is neither float64 nor text, a value with a NUL byte, no rows. The caller then uses pyreadstat.
``benchmarks/test_xpt_bytes.py`` and every ``make bench`` compare the bytes with pyreadstat's.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyreadstat

from pipeline.columns import arrow_text, is_text_dtype, utf8_buffers

RECORD = 80
OBS_HEADER = b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!" + b"0" * 30 + b"  "
BLOCK_BYTES = 64 * 2**20  # rows are built and written in blocks of about this many bytes


def ibm_doubles(x: np.ndarray) -> np.ndarray:
    """IEEE doubles -> 8-byte IBM doubles (big-endian, ``(n, 8)`` uint8), as readstat's ieee2xpt.

    Values below 16**-65 become 0, above 16**63 the largest magnitude; NaN becomes the SAS
    missing value ``.`` (0x2E and seven zero bytes), as pyreadstat writes a null.
    """
    u = np.ascontiguousarray(x, dtype="float64").view(np.uint64)
    ieee1 = (u >> np.uint64(32)).astype(np.int64)
    ieee2 = (u & np.uint64(0xFFFFFFFF)).astype(np.int64)
    exp = ((ieee1 >> 20) & 0x7FF) - 1023
    shift = exp & 3
    x1 = (ieee1 & 0x000FFFFF) | 0x00100000
    x1 = (x1 << shift) | (((ieee2 >> 24) & 0xE0) >> (8 - shift))  # the top bits of the low word move up
    x2 = (ieee2 << shift) & 0xFFFFFFFF
    x1 = (x1 | ((((exp >> 2) + 65) | ((ieee1 >> 24) & 0x80)) << 24)) & 0xFFFFFFFF
    out = (x1.astype(np.uint64) << np.uint64(32)) | x2.astype(np.uint64)
    zero = (u << np.uint64(1)) == 0  # +0.0 and -0.0
    out[zero | (exp < -260)] = 0
    big = (exp > 248) & ~zero
    out[big] = (np.uint64(0x7F) | ((ieee1[big] >> 24) & 0x80).astype(np.uint64)) << np.uint64(56) | np.uint64(0x00FFFFFFFFFFFFFF)
    out[np.isnan(x)] = np.uint64(0x2E) << np.uint64(56)
    return out.astype(">u8").view(np.uint8).reshape(-1, 8)


def _header(frame: pd.DataFrame, widths: list[int | None], **kwargs) -> bytes:
    """pyreadstat's headers for these columns: write a one-row frame of the same shape, keep what precedes the data."""
    one = {}
    for c, w in zip(frame.columns, widths):
        one[c] = pd.Series([np.nan], dtype="float64") if w is None else pd.Series([" " * w], dtype=object)
    fd, tmp = tempfile.mkstemp(suffix=".xpt")
    os.close(fd)
    try:
        pyreadstat.write_xport(pd.DataFrame(one), tmp, file_format_version=5, **kwargs)
        data = Path(tmp).read_bytes()
    finally:
        os.unlink(tmp)
    at = data.find(OBS_HEADER)
    if at < 0 or at % RECORD:
        raise ValueError("unexpected XPORT header layout from pyreadstat")
    return data[: at + RECORD]


def write_xport(frame: pd.DataFrame, path: Path, **kwargs) -> bool:
    """Write ``frame`` to ``path`` exactly as ``pyreadstat.write_xport(frame, path, file_format_version=5,
    **kwargs)`` would; False when the frame is not covered (nothing is written then)."""
    if frame.empty or frame.columns.duplicated().any():
        return False
    # ("num", float64 array, 8) | ("ascii" or "char", Arrow array, width): an ASCII column is padded by Arrow
    cols: list[tuple[str, np.ndarray | pa.Array, int]] = []
    for c in frame.columns:
        col = frame[c]
        if col.dtype == np.float64:
            cols.append(("num", col.to_numpy(), 8))
            continue
        if not is_text_dtype(col):
            return False
        arr = arrow_text(col)
        if arr is None or isinstance(arr, pa.ChunkedArray):
            return False
        if _has_nul(arr):
            return False  # readstat stops a value at a NUL byte; leave that to it
        arr = pa.concat_arrays([arr]) if arr.offset else arr
        n = pc.binary_length(arr).fill_null(0)
        kind = "ascii" if pc.all(pc.string_is_ascii(arr)).as_py() else "char"
        cols.append((kind, arr, max(1, pc.max(n).as_py() or 0)))
    header = _header(frame, [None if k == "num" else w for k, _, w in cols], **kwargs)
    reclen = sum(w for _, _, w in cols)
    nrows = len(frame)
    step = max(1, BLOCK_BYTES // reclen)
    buffer = np.empty((min(step, nrows), reclen), dtype=np.uint8)  # one block's memory, reused
    with open(path, "wb") as fh:
        fh.write(header)
        for r0 in range(0, nrows, step):
            r1 = min(nrows, r0 + step)
            block = buffer[: r1 - r0]
            block.fill(0x20)
            at = 0
            for kind, values, w in cols:
                if kind == "num":
                    block[:, at : at + 8] = ibm_doubles(values[r0:r1])
                elif kind == "ascii":
                    _place_ascii(block, values, r0, r1, at, w)
                else:
                    _place_text(block, values, r0, r1, at)
                at += w
            fh.write(block.data.cast("B"))  # the block's own bytes, not a copy
        tail = (nrows * reclen) % RECORD
        if tail:
            fh.write(b" " * (RECORD - tail))
    return True


def _has_nul(arr: pa.Array) -> bool:
    """True when a value of a string array holds a NUL byte (one numpy pass over its bytes)."""
    offsets, data = utf8_buffers(arr)
    return bool(np.any(data[offsets[0] : offsets[-1]] == 0))


def _place_ascii(block: np.ndarray, arr: pa.Array, r0: int, r1: int, at: int, width: int) -> None:
    """Rows ``r0:r1`` of an ASCII column into its field (column ``at``, ``width`` bytes): Arrow pads
    each value with spaces to the width (one character is one byte), then one 2-D copy."""
    padded = pc.utf8_rpad(arr.slice(r0, r1 - r0).fill_null(""), width=width, padding=" ")
    offsets, data = utf8_buffers(padded)
    data = data[offsets[0] : offsets[0] + (r1 - r0) * width]
    block[:, at : at + width] = data.reshape(r1 - r0, width)


def _place_text(block: np.ndarray, arr: pa.Array, r0: int, r1: int, at: int) -> None:
    """Copy the UTF-8 bytes of rows ``r0:r1`` of ``arr`` to the left of their fields (column ``at``)."""
    all_offsets, text_bytes = utf8_buffers(arr)
    offsets = all_offsets[r0 : r1 + 1]
    lengths = np.diff(offsets)
    total = int(lengths.sum())
    if total == 0:
        return
    data = text_bytes[offsets[0] : offsets[-1]]
    starts = np.arange(r1 - r0, dtype=np.int64) * block.shape[1] + at
    # byte k of the block's text goes to its row's field start + its position within the value
    dest = np.repeat(starts - (offsets[:-1] - offsets[0]), lengths) + np.arange(total, dtype=np.int64)
    block.reshape(-1)[dest] = data
