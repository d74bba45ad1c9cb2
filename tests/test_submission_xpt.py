"""XPT v5 writer: round trip through pyreadstat, the v5 header, determinism, and refusals
that name dataset, variable and row and leave no file behind."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from listed import listed
from test_submission_common import (
    CUTOFF,
    adam_frame,
    adam_spec,
    sdtm_frame,
    sdtm_spec,
    var,
)

from pipeline.submission.common import submission_frame
from pipeline.submission.xpt import XptError, check_for_xpt, read_xpt, write_xpt

V5_HEADER = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!000000000000000000000000000000  "


def _files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.mark.parametrize("spec_fn,frame_fn", [(sdtm_spec, sdtm_frame), (adam_spec, adam_frame)])
def test_round_trip_names_labels_lengths_formats_values(tmp_path, spec_fn, frame_fn):
    spec, df = spec_fn(), frame_fn()
    path = write_xpt(df, spec, tmp_path, data_cutoff=CUTOFF)
    assert path == tmp_path / f"{spec.name.lower()}.xpt"
    back, meta = pyreadstat.read_xport(str(path), disable_datetime_conversion=True)
    assert meta.table_name == spec.name
    assert meta.file_label == spec.label
    assert meta.column_names == [v.name for v in spec.variables]
    assert meta.column_labels == [v.label for v in spec.variables]
    expected = submission_frame(df, spec)
    for v in spec.variables:
        width = meta.variable_storage_width[v.name]
        if v.type == "Char":
            # Allotted length = the longest value in the dataset, in bytes (at least 1).
            longest = max([len(x.encode()) for x in df[v.name].dropna()] or [1])
            assert width == longest, v.name
            assert back[v.name].tolist() == [x if x is not None else "" for x in listed(expected[v.name])]
        else:
            assert width == 8
            np.testing.assert_array_equal(back[v.name].to_numpy(), expected[v.name].to_numpy())
        fmt = meta.original_variable_types[v.name]
        assert fmt == (v.format.rstrip(".") if v.format else None), v.name
    assert len(back) == len(df)


def test_adam_dates_are_sas_day_numbers_that_read_back_as_dates(tmp_path):
    path = write_xpt(adam_frame(), adam_spec(), tmp_path, data_cutoff=CUTOFF)
    raw, _ = read_xpt(path)
    assert raw["ADT"].tolist()[0] == 21919.0  # 2020-01-05
    assert raw["STARTDT"].tolist()[2] == -1.0  # 1959-12-31
    dated, _ = pyreadstat.read_xport(str(path))  # DATE9 (upper case) makes readers see dates
    assert str(dated["ADT"][0]) == "2020-01-05"


def test_header_is_version_5_and_stamped_with_the_creation_time(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1672574400")  # 2023-01-01 12:00:00 UTC
    path = write_xpt(sdtm_frame(), sdtm_spec(), tmp_path, data_cutoff=CUTOFF)
    data = path.read_bytes()
    assert data[:80] == V5_HEADER
    assert b"LIBV8" not in data[:800]
    # Library created/modified and member created/modified: the creation stamp, not the wall clock.
    assert data[144:160] == data[160:176] == data[464:480] == data[480:496] == b"01JAN23:12:00:00"


def test_two_writes_give_identical_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_xpt(adam_frame(), adam_spec(), a, data_cutoff=CUTOFF)
    time.sleep(1.1)  # a wall-clock stamp would now differ by a second
    write_xpt(adam_frame(), adam_spec(), b, data_cutoff=CUTOFF)
    assert (a / "adtt.xpt").read_bytes() == (b / "adtt.xpt").read_bytes()


def test_non_ascii_value_is_refused_naming_dataset_variable_and_row(tmp_path):
    df = sdtm_frame()
    df.loc[1, "AETERM"] = "Diarrhée"
    with pytest.raises(XptError) as exc:
        write_xpt(df, sdtm_spec(), tmp_path, data_cutoff=CUTOFF)
    msg = str(exc.value)
    assert "AE.AETERM row 2" in msg and "non-ASCII" in msg and "U+00E9" in msg
    [p] = exc.value.problems
    assert (p.dataset, p.variable, p.row, p.rule) == ("AE", "AETERM", 2, "non-ascii")
    assert _files(tmp_path) == []  # nothing written, not even a temporary or 0-byte file


def test_too_long_label_is_refused(tmp_path):
    spec = sdtm_spec()
    long_label = "Reported Term for the Adverse Event Here!"  # 41 characters
    assert len(long_label) == 41
    variables = tuple(var("AETERM", long_label, length=200, role="Topic") if v.name == "AETERM" else v for v in spec.variables)
    with pytest.raises(XptError) as exc:
        write_xpt(sdtm_frame(), sdtm_spec(variables=variables), tmp_path, data_cutoff=CUTOFF)
    assert "AE.AETERM: [variable-label] variable label has 41 characters (max 40)" in str(exc.value)
    assert _files(tmp_path) == []


def test_too_long_dataset_label_is_refused(tmp_path):
    with pytest.raises(XptError, match=r"AE: \[dataset-label\] dataset label has 41 characters"):
        write_xpt(sdtm_frame(), sdtm_spec(label="A" * 41), tmp_path, data_cutoff=CUTOFF)
    assert _files(tmp_path) == []


def test_201_byte_value_is_refused(tmp_path):
    df = sdtm_frame()
    df.loc[2, "AETERM"] = "X" * 201
    with pytest.raises(XptError) as exc:
        write_xpt(df, sdtm_spec(), tmp_path, data_cutoff=CUTOFF)
    assert "AE.AETERM row 3: [value-length] value is 201 bytes (XPORT v5 max 200)" in str(exc.value)
    assert _files(tmp_path) == []
    df.loc[2, "AETERM"] = "X" * 200  # exactly 200 is allowed
    write_xpt(df, sdtm_spec(), tmp_path, data_cutoff=CUTOFF)
    assert pyreadstat.read_xport(str(tmp_path / "ae.xpt"), metadataonly=True)[1].variable_storage_width["AETERM"] == 200


def test_failed_write_leaves_the_previous_file_untouched(tmp_path):
    path = write_xpt(sdtm_frame(), sdtm_spec(), tmp_path, data_cutoff=CUTOFF)
    before = path.read_bytes()
    df = sdtm_frame()
    df.loc[0, "AEDECOD"] = "Erythème"
    with pytest.raises(XptError):
        write_xpt(df, sdtm_spec(), tmp_path, data_cutoff=CUTOFF)
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["ae.xpt"]


def test_every_problem_is_listed_at_once():
    df = sdtm_frame().drop(columns=["AEWT"])
    df["EXTRA"] = 1
    df.loc[0, "AESTDY"] = np.inf
    df.loc[0, "DOMAIN"] = "AEX"  # 3 bytes, spec length 2
    spec = sdtm_spec()
    variables = tuple(var("AEDECOD", v.label, fmt="$char20.") if v.name == "AEDECOD" else v for v in spec.variables)
    problems = check_for_xpt(df, sdtm_spec(variables=variables))
    rules = {(p.variable, p.rule) for p in problems}
    assert ("AEWT", "columns") in rules
    assert ("EXTRA", "columns") in rules
    assert ("AESTDY", "numeric-range") in rules
    assert ("DOMAIN", "spec-length") in rules
    assert ("AEDECOD", "format") in rules
    with pytest.raises(XptError) as exc:
        write_xpt(df, sdtm_spec(variables=variables), Path("/nonexistent"))
    assert len(exc.value.problems) == len(problems)


def test_names_must_be_short_upper_case():
    spec = sdtm_spec(name="AdverseEv")
    variables = spec.variables + (var("aeterm2", "Lower case name"), var("AETERMLONG", "Too long a name"))
    df = sdtm_frame().assign(aeterm2="x", AETERMLONG="y")
    rules = {(p.variable, p.rule) for p in check_for_xpt(df, sdtm_spec(name="AdverseEv", variables=variables))}
    assert (None, "dataset-name") in rules
    assert ("aeterm2", "variable-name") in rules and ("AETERMLONG", "variable-name") in rules


def test_text_in_a_num_variable_is_refused():
    df = sdtm_frame().astype({"AEWT": object})
    df.loc[2, "AEWT"] = "heavy"
    [p] = check_for_xpt(df, sdtm_spec())
    assert (p.variable, p.row, p.rule) == ("AEWT", 3, "type")


def test_file_size_limit(tmp_path):
    with pytest.raises(XptError, match="file-size"):
        write_xpt(sdtm_frame(), sdtm_spec(), tmp_path, data_cutoff=CUTOFF, max_bytes=1000)
    assert _files(tmp_path) == []


def test_file_name_must_be_the_lower_case_dataset_name(tmp_path):
    with pytest.raises(XptError, match="file-name"):
        write_xpt(sdtm_frame(), sdtm_spec(), tmp_path / "AE.xpt", data_cutoff=CUTOFF)


def test_empty_dataset_writes_a_valid_file(tmp_path):
    df = sdtm_frame().iloc[0:0]
    path = write_xpt(df, sdtm_spec(), tmp_path, data_cutoff=CUTOFF)
    _back, meta = read_xpt(path)
    assert meta.number_rows == 0 and meta.column_names == [v.name for v in sdtm_spec().variables]


def test_input_frame_is_not_modified(tmp_path):
    df = adam_frame()
    copy = df.copy()
    write_xpt(df, adam_spec(), tmp_path, data_cutoff=CUTOFF)
    pd.testing.assert_frame_equal(df, copy)
