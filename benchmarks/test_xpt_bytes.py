"""pipeline.submission.xpt_fast writes the bytes pyreadstat writes (``pytest benchmarks/test_xpt_bytes.py``).

Random frames (numbers at the edges of the IBM range, -0.0, infinities, NaN; text with blanks,
empty strings, nulls, non-ASCII, all-null columns) and the DATE9./label/table-name metadata
the pipeline passes. ``benchmarks/run.py`` repeats the comparison on every dataset it writes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from pipeline.submission import xpt_fast
from pipeline.submission.common import object_text

STAMPS = (144, 160, 464, 480)  # header time stamps: the wall clock of each write

SPECIALS = np.array(
    [
        0.0,
        -0.0,
        np.nan,
        np.inf,
        -np.inf,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        1e-300,
        5.3e-79,
        5.4e-79,
        16.0**-65,
        16.0**-64,
        1.0,
        -1.0,
        0.1,
        1 / 3,
        -2.5,
        123456789.123456789,
        7.2e75,
        7.3e75,
        16.0**62 * 15.9,
        16.0**63,
        np.finfo(float).max,
        -np.finfo(float).max,
    ]
)


def unstamped(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    for off in STAMPS:
        data[off : off + 16] = b"X" * 16
    return bytes(data)


def same_bytes(frame: pd.DataFrame, tmp: Path, **meta) -> bool | None:
    """True/False: xpt_fast's file equals pyreadstat's; None: xpt_fast left the frame to pyreadstat."""
    a, b = tmp / "a.xpt", tmp / "b.xpt"
    pyreadstat.write_xport(object_text(frame), str(a), file_format_version=5, **meta)
    if not xpt_fast.write_xport(frame, b, **meta):
        return None
    return unstamped(a) == unstamped(b)


def random_frame(rng: np.random.Generator, ascii_only: bool = False) -> pd.DataFrame:
    n = int(rng.integers(1, 400))
    cols = {}
    for j in range(int(rng.integers(1, 9))):
        if rng.random() < 0.5:
            kind = rng.integers(0, 3)
            if kind == 0:
                v = rng.choice(SPECIALS, n)
            elif kind == 1:
                v = rng.normal(0, 10.0 ** float(rng.integers(-80, 80)), n)
            else:
                v = rng.integers(-(10**6), 10**6, n).astype(float)
            cols[f"N{j}"] = pd.Series(np.where(rng.random(n) < 0.1, np.nan, v), dtype="float64")
        else:
            alphabet = [*"abcXYZ 012-:.", "  "] if ascii_only or rng.random() < 0.3 else [*"abcXYZ 012-:.", "é", "中", "  "]
            vals = ["".join(rng.choice(alphabet, int(rng.integers(0, 14)))) for _ in range(n)]
            vals = [None if rng.random() < 0.15 else x for x in vals]
            cols[f"C{j}"] = pd.Series([None] * n if rng.random() < 0.1 else vals, dtype=object)
    return pd.DataFrame(cols)


@pytest.mark.parametrize("seed", range(40))
def test_random_frames_give_pyreadstats_bytes(seed, tmp_path):
    rng = np.random.default_rng(seed)
    for _ in range(10):
        f = random_frame(rng)
        meta = {
            "table_name": "T",
            "file_label": "A label",
            "column_labels": [f"Label of {c}" for c in f.columns],
            "variable_format": {c: "DATE9." for c in f.columns if c.startswith("N") and rng.random() < 0.3},
        }
        assert same_bytes(f, tmp_path, **meta) is True


@pytest.mark.parametrize("ascii_only", [False, True])
def test_values_over_several_blocks(tmp_path, monkeypatch, ascii_only):
    # ASCII columns are padded by Arrow a block at a time, the others placed byte by byte.
    monkeypatch.setattr(xpt_fast, "BLOCK_BYTES", 1000)  # many small blocks, a record split across none
    for seed in range(5):
        f = random_frame(np.random.default_rng(seed), ascii_only=ascii_only)
        assert same_bytes(f, tmp_path, table_name="T") is True


def test_frames_it_does_not_cover_are_left_to_pyreadstat(tmp_path):
    assert same_bytes(pd.DataFrame({"A": pd.Series(["a\x00b"], dtype=object)}), tmp_path) is None
    assert same_bytes(pd.DataFrame({"A": pd.Series([1, 2], dtype="int64")}), tmp_path) is None
    assert same_bytes(pd.DataFrame({"A": pd.Series(["a", 1], dtype=object)}), tmp_path) is None
    assert not xpt_fast.write_xport(pd.DataFrame({"A": pd.Series([], dtype=object)}), tmp_path / "c.xpt")


def test_ibm_doubles_of_known_values():
    got = xpt_fast.ibm_doubles(np.array([1.0, -1.0, 0.5, 100.0, 0.0, np.nan]))
    assert [bytes(r).hex() for r in got] == [
        "4110000000000000",
        "c110000000000000",
        "4080000000000000",
        "4264000000000000",
        "0000000000000000",
        "2e00000000000000",
    ]
