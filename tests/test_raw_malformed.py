"""Files that cannot be read at all: each fails with a message naming the file and the problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.raw.extract import extract_form
from pipeline.raw.reader import RawFileError

AE_HEADER = "SITEID,SUBJID,AESPID,AETERM,AESTDAT,AEENDAT,AEONGO,AETOXGR,AESER,AEREL,AEACN,AEOUT"


def fails(raw: Path, form: str, *needles: str) -> str:
    """Extract ``form`` and return the RawFileError message, checking it holds every needle."""
    with pytest.raises(RawFileError) as err:
        extract_form(raw, form)
    msg = str(err.value)
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"
    return msg


def test_raw_file_error_is_a_value_error() -> None:
    assert issubclass(RawFileError, ValueError)


def test_missing_required_columns_are_named(raw_copy: Path) -> None:
    f = raw_copy / "101" / "ae.csv"
    lines = f.read_text(encoding="utf-8").splitlines()
    # Drop the AETERM and AETOXGR columns (4th and 8th).
    cut = [",".join(c for i, c in enumerate(line.split(",")) if i not in (3, 7)) for line in lines]
    f.write_text("\n".join(cut) + "\n", encoding="utf-8")
    fails(raw_copy, "ae", "101/ae.csv", "required column(s) missing", "AETERM, AETOXGR")


def test_wrong_encoding_names_the_encoding_and_byte_offset(raw_copy: Path) -> None:
    # Site 101 agreed on UTF-8 but sent this file in GBK.
    f = raw_copy / "101" / "ae.csv"
    f.write_bytes(f.read_text(encoding="utf-8").encode("gbk"))
    msg = fails(raw_copy, "ae", "101/ae.csv", "cannot be decoded as utf-8", "byte offset")
    offset = int(re.search(r"byte offset (\d+)", msg).group(1))
    assert f.read_bytes()[offset] >= 0x80 and "line 3" in msg


def test_utf8_file_at_the_gbk_site(raw_copy: Path) -> None:
    f = raw_copy / "102" / "ae.csv"
    f.write_bytes(f.read_bytes().decode("gbk").replace("皮疹", "皮疹 ✓").encode("utf-8"))
    fails(raw_copy, "ae", "102/ae.csv", "cannot be decoded as gbk")


def test_unterminated_quote_is_a_truncated_file(raw_copy: Path) -> None:
    f = raw_copy / "104" / "ae.csv"
    f.write_bytes(f.read_bytes() + b'104,1040003,1,"Rash, generalised,05-APR-2019')
    fails(raw_copy, "ae", "104/ae.csv", "quoted value", "never closed", "truncated")


def test_short_last_line_is_a_truncated_file(raw_copy: Path) -> None:
    f = raw_copy / "101" / "ae.csv"
    data = f.read_bytes()
    f.write_bytes(data[: data.rstrip().rfind(b",Gr7")])  # the export stopped mid-row
    fails(raw_copy, "ae", "101/ae.csv", "row 7 has 7 of the 12 fields", "truncated")


def test_a_row_with_too_many_fields(raw_copy: Path) -> None:
    f = raw_copy / "101" / "lb.csv"
    f.write_text(f.read_text(encoding="utf-8") + "101,101-002,2019-03-01,ALT,1,2,U/L\n", encoding="utf-8")
    fails(raw_copy, "lb", "101/lb.csv", "row 5 has more fields than the header")


@pytest.mark.parametrize("content", [b"", b"\r\n\r\n", "\ufeff".encode("utf-8")])
def test_empty_file(raw_copy: Path, content: bytes) -> None:
    (raw_copy / "104" / "lb.csv").write_bytes(content)
    fails(raw_copy, "lb", "104/lb.csv", "empty", "no header")


def test_empty_workbook_sheet(raw_copy: Path, workbook) -> None:
    workbook(raw_copy / "103" / "ae.xlsx", "ae", [])
    fails(raw_copy, "ae", "103/ae.xlsx", "empty")


def test_renamed_workbook_sheet_lists_the_sheets_found(raw_copy: Path, workbook) -> None:
    workbook(raw_copy / "103" / "ae.xlsx", "Sheet1", [AE_HEADER.split(",")])
    fails(raw_copy, "ae", "103/ae.xlsx", "no sheet named 'ae'", "sheets found: 'Sheet1'")


def test_a_csv_renamed_to_xlsx_is_not_a_workbook(raw_copy: Path) -> None:
    (raw_copy / "103" / "ae.xlsx").write_text(AE_HEADER + "\n", encoding="utf-8")
    fails(raw_copy, "ae", "103/ae.xlsx", "not a readable Excel workbook")


def test_unknown_site_folder(raw_copy: Path) -> None:
    (raw_copy / "105").mkdir()
    (raw_copy / "105" / "ae.csv").write_text(AE_HEADER + "\n", encoding="utf-8")
    fails(raw_copy, "ae", "105/", "'105'", "not a site in specs/raw/sites.yaml")


def test_file_for_an_unknown_form(raw_copy: Path) -> None:
    (raw_copy / "101" / "vs.csv").write_text("SITEID,SUBJID,VSDAT\n", encoding="utf-8")
    # Any form's extract stops: the stray file would otherwise be silently ignored.
    fails(raw_copy, "dm", "101/vs.csv", "unknown form 'vs'")


def test_file_in_the_wrong_format_for_its_site(raw_copy: Path) -> None:
    (raw_copy / "103" / "lb.csv").write_text("SITEID,SUBJID,LBDAT,LBTESTCD,LBORRES,LBORRESU\n", encoding="utf-8")
    fails(raw_copy, "lb", "103/lb.csv", "site 103 delivers xlsx files")


def test_loose_file_in_the_raw_root(raw_copy: Path) -> None:
    (raw_copy / "ae.csv").write_text(AE_HEADER + "\n", encoding="utf-8")
    fails(raw_copy, "ae", "ae.csv", "directly in the raw folder")


def test_hidden_files_are_ignored(raw_copy: Path) -> None:
    (raw_copy / ".DS_Store").write_bytes(b"\x00")
    (raw_copy / "101" / ".~lock.ae.csv#").write_bytes(b"\x00")
    assert extract_form(raw_copy, "ae").counts["rows_read"].sum() == 15


def test_duplicate_column_names(raw_copy: Path) -> None:
    f = raw_copy / "101" / "lb.csv"
    f.write_text("SITEID,SUBJID,LBDAT,LBTESTCD,LBORRES,LBORRES\n101,101-001,2019-03-01,ALT,1,2\n", encoding="utf-8")
    fails(raw_copy, "lb", "101/lb.csv", "LBORRES more than once")


def test_values_under_a_blank_header(raw_copy: Path) -> None:
    f = raw_copy / "101" / "lb.csv"
    f.write_text("SITEID,SUBJID,LBDAT,LBTESTCD,LBORRES,LBORRESU,\n101,101-001,2019-03-01,ALT,1,U/L,oops\n", encoding="utf-8")
    fails(raw_copy, "lb", "101/lb.csv", "column 7 has values but no name")


def test_missing_raw_folder(tmp_path: Path) -> None:
    fails(tmp_path / "nowhere", "ae", "nowhere", "does not exist")


def test_unknown_form_name_is_a_key_error(raw_export: Path) -> None:
    with pytest.raises(KeyError):
        extract_form(raw_export, "vs")
