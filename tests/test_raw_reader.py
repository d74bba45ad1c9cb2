"""Reading one site file: encodings, Excel cells, lineage and row numbers as Excel shows them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from listed import listed

from pipeline.columns import TEXT
from pipeline.raw.reader import _plain_csv_grid, read_form_file
from pipeline.specs.raw import load_raw_spec

SPEC = load_raw_spec()
SITES, FORMS = SPEC.sites, SPEC.forms


def read(root: Path, siteid: str, form: str):
    site = SITES[siteid]
    return read_form_file(root / siteid / f"{form}.{site.file_format}", site, FORMS[form])


def test_gbk_file_is_decoded_with_the_site_encoding(raw_export: Path) -> None:
    df = read(raw_export, "102", "ae")
    assert df["AETERM"].tolist() == ["皮疹", "乏力", "腹泻"]
    assert df["AETOXGR"].tolist() == ["3级", "2级", "1级"]
    assert df["_site"].tolist() == ["102"] * 3
    assert df["_file"].tolist() == ["102/ae.csv"] * 3
    assert df["_row"].tolist() == [2, 3, 4]


def test_bom_is_not_part_of_the_first_column_name_and_extra_columns_are_kept(raw_export: Path) -> None:
    df = read(raw_export, "104", "enrol")
    assert list(df.columns) == [
        "_site",
        "_file",
        "_row",
        "SITEID",
        "SUBJID",
        "SUBJINIT",
        "RFICDAT",
        "ENRLDAT",
        "TRTGRP",
        "IEYN",
        "COMMENT",
    ]
    assert df["COMMENT"].tolist() == ["", "re-consented", ""]


def test_values_are_read_as_written(raw_export: Path) -> None:
    df = read(raw_export, "101", "enrol")
    # Nothing normalised or coerced at this stage: full width, padding, "1" all kept.
    assert df["RFICDAT"].tolist() == ["2019-03-05", "２０１９－０４－０２", "2020-02-30", "  2019-05-06 "]
    assert df["IEYN"].tolist() == ["Y", "是", "Yes", "1"]
    assert all(isinstance(v, str) for col in df.drop(columns="_row") for v in df[col])
    # Text leaves the reader as pandas' Arrow-backed str dtype, whichever path parsed the file.
    assert (df.drop(columns="_row").dtypes == TEXT).all()


def test_excel_cells_become_text_and_date_cells_iso_dates(raw_export: Path) -> None:
    df = read(raw_export, "103", "ae")
    assert df["_file"].tolist() == ["103/ae.xlsx"] * 3
    assert df["_row"].tolist() == [2, 3, 4]
    assert df["SITEID"].tolist() == ["103"] * 3  # a number cell, not "103.0"
    assert (df.drop(columns="_row").dtypes == TEXT).all()
    assert df["AESPID"].tolist() == ["1", "1", "2.5"]
    assert df["AESTDAT"].tolist() == ["2019-04-02", "2019年4月", "2019-05-01"]
    assert df["AEENDAT"].tolist() == ["2019年4月30日", "", ""]


def test_strings_that_look_like_missing_or_numbers_stay_strings(tmp_path: Path) -> None:
    f = tmp_path / "101" / "cm.csv"
    f.parent.mkdir()
    f.write_text(
        "SITEID,SUBJID,CMSPID,CMTRT,CMDOSE,CMDOSU,CMDOSFRQ,CMSTDAT,CMENDAT,CMONGO\n101,101-007,007,NA,None,NULL,nan,,,N/A\n",
        encoding="utf-8",
    )
    df = read(tmp_path, "101", "cm")
    assert listed(df.loc[0, ["CMSPID", "CMTRT", "CMDOSE", "CMDOSU", "CMDOSFRQ", "CMSTDAT", "CMONGO"]]) == [
        "007",
        "NA",
        "None",
        "NULL",
        "nan",
        "",
        "N/A",
    ]


def test_row_numbers_match_excel_with_blank_lines_and_multiline_cells(tmp_path: Path) -> None:
    f = tmp_path / "101" / "ds.csv"
    f.parent.mkdir()
    f.write_bytes(
        b"SITEID,SUBJID,DSCAT,DSSTDAT,DSDECOD\r\n"
        b"101,101-001,EOT,2020-01-01,Completed\r\n"
        b"\r\n"
        b'101,101-002,EOT,2020-02-01,"Adverse\r\nevent"\r\n'
        b",,,,\r\n"
        b"101,101-003,EOS,2020-03-01,Death\r\n"
    )
    df = read(tmp_path, "101", "ds")
    # Row 3 is blank and row 6 is empty cells only: both skipped, numbering kept.
    assert df["_row"].tolist() == [2, 4, 6]
    assert df["SUBJID"].tolist() == ["101-001", "101-002", "101-003"]
    assert df.loc[1, "DSDECOD"] == "Adverse\r\nevent"


def test_header_names_are_normalised(tmp_path: Path) -> None:
    f = tmp_path / "101" / "ds.csv"
    f.parent.mkdir()
    f.write_text(" siteid ,ＳＵＢＪＩＤ,DsCat,DSSTDAT,DSDECOD\n101,101-001,EOT,2020-01-01,Completed\n", encoding="utf-8")
    assert list(read(tmp_path, "101", "ds").columns)[3:] == ["SITEID", "SUBJID", "DSCAT", "DSSTDAT", "DSDECOD"]


def test_utf8_bom_at_a_plain_utf8_site_is_tolerated(tmp_path: Path) -> None:
    f = tmp_path / "101" / "ds.csv"
    f.parent.mkdir()
    f.write_bytes("SITEID,SUBJID,DSCAT,DSSTDAT,DSDECOD\n101,101-001,EOT,2020-01-01,完成\n".encode("utf-8-sig"))
    assert read(tmp_path, "101", "ds").loc[0, "SITEID"] == "101"


def test_header_only_file_has_no_records(tmp_path: Path) -> None:
    f = tmp_path / "104" / "ds.csv"
    f.parent.mkdir()
    f.write_bytes("SITEID,SUBJID,DSCAT,DSSTDAT,DSDECOD\r\n".encode("utf-8-sig"))
    df = read(tmp_path, "104", "ds")
    assert df.empty and "DSDECOD" in df.columns


def test_sheet_name_is_matched_ignoring_case(tmp_path: Path, workbook) -> None:
    workbook(
        tmp_path / "103" / "ds.xlsx",
        "DS",
        [["SITEID", "SUBJID", "DSCAT", "DSSTDAT", "DSDECOD"], [103, "GZ3-1", "EOT", None, "完成"]],
    )
    df = read(tmp_path, "103", "ds")
    assert df.loc[0, ["SITEID", "DSSTDAT"]].tolist() == ["103", ""]


def test_reader_refuses_a_file_given_for_another_site_or_form(raw_export: Path) -> None:
    from pipeline.raw.reader import RawFileError

    with pytest.raises(RawFileError, match=r"101/ae\.csv: read as site 102"):
        read_form_file(raw_export / "101" / "ae.csv", SITES["102"], FORMS["ae"])
    with pytest.raises(RawFileError, match=r"101/ae\.csv: read as form 'dm'"):
        read_form_file(raw_export / "101" / "ae.csv", SITES["101"], FORMS["dm"])


# --- the Arrow fast path for plain CSV reads exactly the grid the csv module reads -------------------------

# Field text as sites send it: letters, digits, blanks, CJK, full-width and accented characters, dashes.
_FIELD = st.text(alphabet=st.sampled_from(list("aZ09 -_./:年月日术后第μ１Ａé\t")), max_size=6)


def _csv_module_grid(text: str) -> pd.DataFrame:
    return pd.DataFrame(list(csv.reader(io.StringIO(text, newline=""), strict=True)), dtype=object)


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(1, 5),
    rows=st.lists(st.lists(_FIELD, min_size=0, max_size=6), min_size=1, max_size=8),
    newline=st.sampled_from(["\n", "\r\n"]),
    final_newline=st.booleans(),
    quote_at=st.one_of(st.none(), st.integers(0, 40)),
)
def test_plain_csv_fast_path_reads_what_the_csv_module_reads(width, rows, newline, final_newline, quote_at) -> None:
    header = [f"C{i}" for i in range(width)]
    text = newline.join(",".join(r) for r in [header, *rows]) + (newline if final_newline else "")
    if quote_at is not None:
        text = text[:quote_at] + '"' + text[quote_at:] + '"'
    fast = _plain_csv_grid(text)
    if fast is not None:
        pd.testing.assert_frame_equal(fast, _csv_module_grid(text).astype(TEXT))
    plain = quote_at is None and width >= 2 and all(len(r) == width for r in rows)
    if plain:  # the path is taken whenever the file allows it
        assert fast is not None


def test_fast_path_leaves_ragged_blank_and_quoted_files_to_the_csv_module() -> None:
    assert _plain_csv_grid("A,B\n1,2\n3,4\n").values.tolist() == [["A", "B"], ["1", "2"], ["3", "4"]]
    assert _plain_csv_grid("A,B\n1,2\n\n3,4\n") is None  # a blank line keeps its row number in the slow path
    assert _plain_csv_grid("A,B\n1\n") is None  # a short record is an error the slow path words
    assert _plain_csv_grid('A,B\n"1,5",2\n') is None
    assert _plain_csv_grid("A,B\r1,2\r") is None  # bare CR line ends
