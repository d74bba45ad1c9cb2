"""Text columns: pandas' Arrow-backed str dtype from the reader to the Parquet files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st
from listed import listed

from pipeline.columns import TEXT, arrow_text, isin, stack, take_text
from pipeline.io import write_parquet
from pipeline.terminology import on_distinct


def test_text_is_inferred_as_the_arrow_str_dtype() -> None:
    # Importing the package switches pandas to its pandas-3 string inference.
    assert pd.Series(["a", None]).dtype == TEXT
    assert TEXT.storage == "pyarrow" and TEXT.na_value is np.nan  # noqa: PLW0177 - identity with the NaN singleton is the point


def test_take_text_spreads_distinct_values_back_with_missing_for_minus_one() -> None:
    s = take_text(["2019-03-05", None, "2019-04"], np.array([2, -1, 0, 1, 0]), pd.Index([10, 11, 12, 13, 14]))
    assert s.dtype == TEXT
    assert listed(s) == ["2019-04", None, "2019-03-05", None, "2019-03-05"]
    assert s.index.tolist() == [10, 11, 12, 13, 14]


def test_on_distinct_gives_text_for_text_and_object_for_flags() -> None:
    s = pd.Series(["b", None, "a", "b"], index=[3, 2, 1, 0])
    upper = on_distinct(s, lambda u: u.str.upper())
    assert upper.dtype == TEXT and listed(upper) == ["B", None, "A", "B"]
    assert upper.index.tolist() == [3, 2, 1, 0]
    flags = on_distinct(s, lambda u: u.eq("a"))
    assert flags.dtype == object and flags.tolist() == [False, None, True, False]


def test_on_distinct_hands_fn_python_strings_so_its_regexes_are_pythons() -> None:
    # RE2 (Arrow) does not count U+001F as whitespace; Python's re does. fn must see Python's.
    s = pd.Series(["0\x1f0"], dtype=TEXT)
    assert listed(on_distinct(s, lambda u: u.str.replace(r"\s", " ", regex=True))) == ["0 0"]


def test_arrow_text_of_a_text_column_is_its_own_buffer_and_of_object_a_conversion() -> None:
    text = pd.Series(["x", None, "yz"], dtype=TEXT)
    arr = arrow_text(text)
    assert arr.to_pylist() == ["x", None, "yz"] and arr.null_count == 1
    obj = pd.Series(["x", None, "yz"], dtype=object)
    assert arrow_text(obj).to_pylist() == ["x", None, "yz"]
    assert arrow_text(pd.Series(["x", 3], dtype=object)) is None  # a non-str value: callers go the Python way


def test_parquet_stores_text_as_plain_utf8_string(tmp_path) -> None:
    df = pd.DataFrame({"USUBJID": pd.Series(["S-1", None], dtype=TEXT), "AVAL": [1.0, np.nan]})
    write_parquet(df, tmp_path / "x.parquet", column_labels={"USUBJID": "Unique Subject Identifier"})
    schema = pq.read_schema(tmp_path / "x.parquet")
    assert schema.field("USUBJID").type == pa.string()
    assert schema.field("USUBJID").metadata == {b"label": b"Unique Subject Identifier"}
    back = pd.read_parquet(tmp_path / "x.parquet")
    assert listed(back["USUBJID"]) == ["S-1", None]


def test_object_text_gives_pyreadstat_object_columns_with_none() -> None:
    from pipeline.submission.common import object_text

    frame = pd.DataFrame({"AETERM": pd.Series(["Rash", None], dtype=TEXT), "AESEQ": [1.0, 2.0]})
    out = object_text(frame)
    assert out["AETERM"].dtype == object and out["AETERM"].tolist() == ["Rash", None]
    assert out["AESEQ"].dtype == "float64" and frame["AETERM"].dtype == TEXT  # the input is left alone


_ids = st.one_of(st.none(), st.sampled_from(["CN-101-001", "CN-101-002", "CN-102-001", "", "é"]))


@given(st.lists(_ids, max_size=20), st.lists(_ids, max_size=20), st.sampled_from(["text", "list", "object"]))
def test_isin_answers_as_pandas_does(values, allowed, kind) -> None:
    col = pd.Series(values, dtype=TEXT)
    given_as = {"text": pd.Series(allowed, dtype=TEXT), "list": list(allowed), "object": np.array(allowed, dtype=object)}[kind]
    assert isin(col, given_as).tolist() == col.isin(given_as).tolist()


def test_isin_leaves_non_text_columns_to_pandas() -> None:
    assert isin(pd.Series([1.0, 2.0, np.nan]), [2.0]).tolist() == [False, True, False]
    assert isin(pd.Index(["a", "b"], dtype=TEXT), pd.Series(["b"], dtype=TEXT)).tolist() == [False, True]


def test_stack_makes_text_columns_text_before_concatenating() -> None:
    # A variable a kind of record lacks is set to None (object): stacked with a part where it is
    # text, it is text; an object column holding numbers is left to pandas.
    dated = pd.DataFrame({"RSDTC": pd.Series(["2019-03-01"], dtype=TEXT), "RSTPT": None, "N": [1]})
    timed = pd.DataFrame({"RSDTC": None, "RSTPT": pd.Series(["PRE-OPERATIVE"], dtype=TEXT), "N": pd.Series([2.5], dtype=object)})
    out = stack([dated, timed], ignore_index=True)
    assert out["RSDTC"].dtype == TEXT and out["RSTPT"].dtype == TEXT
    assert listed(out["RSDTC"]) == ["2019-03-01", None] and listed(out["RSTPT"]) == [None, "PRE-OPERATIVE"]
    assert out["N"].tolist() == [1, 2.5] and out.index.tolist() == [0, 1]
    pd.testing.assert_frame_equal(out, pd.concat([dated, timed], ignore_index=True), check_dtype=False)


def test_utf8_buffers_give_each_values_bytes_also_for_a_slice() -> None:
    from pipeline.columns import utf8_buffers

    arr = pa.array(["SORAFENIB", None, "肝", ""], type=pa.large_string()).slice(1, 3)
    offsets, data = utf8_buffers(arr)
    assert len(offsets) == 4
    values = [bytes(data[offsets[i] : offsets[i + 1]]) for i in range(3)]
    assert values == [b"", "肝".encode(), b""]
    assert len(utf8_buffers(pa.array([], type=pa.string()))[0]) == 1
    offsets, data = utf8_buffers(pa.array([None, None], type=pa.string()))
    assert offsets.tolist() == [0, 0, 0]
