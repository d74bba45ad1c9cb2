"""A long listing is printed in blocks of rtflite documents joined into one RTF file
(pipeline/tlf/rtf.py): every record in order, nothing truncated, footnotes once at the end; a
listing at or under the one-document size is rtflite's single document, byte for byte."""

from __future__ import annotations

import pytest

from pipeline.tlf import rtf
from pipeline.tlf.display import Table, display

HEADER = ("Site", "Subject", "Treatment", "Date of death", "Imputed", "Study day")
WIDTHS = (0.8, 1.2, 2.6, 1.4, 0.9, 1.0)


def _listing(n: int, page_by: int | None = 0) -> Table:
    # 23 rows: sites 101 (rows 0-13) and 104 (rows 14-22), each row's subject unique
    rows = tuple(
        ("101" if i < 14 else "104", f"S{i:03d}", "No adjuvant therapy", f"2020-01-{i % 28 + 1:02d}", "", str(i + 1))
        for i in range(n)
    )
    return Table(display("l16_2_7_1_deaths"), HEADER, rows, WIDTHS, page_by=page_by)


def _data_rows(cells: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    # rtflite prints the page_by column (site) as a group row: the data rows have the other 5 cells
    return [c for c in cells if len(c) == len(HEADER) - 1 and c != HEADER[1:]]


def test_blocks_at_their_boundaries():
    t = _listing(10)
    assert rtf.blocks(t, size=4, one=10) == [t]  # at the one-document size: one document
    t11 = _listing(11)
    parts = rtf.blocks(t11, size=4, one=10)
    assert [len(p.rows) for p in parts] == [4, 4, 3]
    assert tuple(r for p in parts for r in p.rows) == t11.rows
    table = _listing(11, page_by=None)  # a table (no page_by) is never split
    assert rtf.blocks(table, size=4, one=10) == [table]


def test_a_long_listing_keeps_every_record_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(rtf, "LISTING_ONE_DOCUMENT_ROWS", 10)
    monkeypatch.setattr(rtf, "LISTING_BLOCK_ROWS", 5)
    t = _listing(23)
    path = tmp_path / "l.rtf"
    rtf.write(t, path)
    text = path.read_text(encoding="utf-8")
    cells = rtf.read_cells(path)
    assert _data_rows(cells) == [r[1:] for r in t.rows]  # 23 records, none lost, same order
    assert text.startswith("{\\rtf1") and text.count("{\\rtf1") == 1  # one RTF document
    assert text.count("{") == text.count("}")  # the joined blocks' groups close (no escaped braces here)
    # 5 blocks: titles on each block's page, footnote and source once, after the last record
    assert text.count("Listing 16.2.7.1") == 5
    src = t.display.source
    assert text.count(src) == 1 and text.index(src) > text.index("S022")
    groups = [c[0] for c in cells if len(c) == 1 and c[0] in ("101", "104")]
    assert groups[0] == "101" and groups[-1] == "104" and groups.index("104") > 0  # the site rows go on


def test_a_listing_within_one_document_is_rtflites_single_document(tmp_path, monkeypatch):
    monkeypatch.setattr(rtf, "LISTING_ONE_DOCUMENT_ROWS", 10)
    monkeypatch.setattr(rtf, "LISTING_BLOCK_ROWS", 5)
    t = _listing(10)
    rtf.write(t, tmp_path / "l.rtf")
    assert (tmp_path / "l.rtf").read_text(encoding="utf-8") == rtf.document(t).rtf_encode()


@pytest.mark.parametrize("n", [101, 150])
def test_default_sizes_split_above_one_hundred_records(n):
    parts = rtf.blocks(_listing(n))
    assert len(parts) == -(-n // rtf.LISTING_BLOCK_ROWS) and sum(len(p.rows) for p in parts) == n
