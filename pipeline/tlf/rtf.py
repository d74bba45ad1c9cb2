"""RTF in the submission convention (rtflite): titles, one header row, body, footnotes, source line.

:func:`write` prints a :class:`~pipeline.tlf.display.Table`; :func:`read_cells` reads an RTF file
written here back into its rows of cell text, which the display check compares with the ARD.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from pathlib import Path

import polars as pl
import rtflite as rtf

from pipeline import io
from pipeline.tlf.display import Table

ROWS_PER_PAGE = 28  # body rows per landscape page (9-point text), header repeated on each page
# rtflite's cost per cell grows with the rows of the document (each cell re-reads attribute matrices
# of the whole body): a listing of 4,000 records took over 30 minutes. A listing of more than
# LISTING_ONE_DOCUMENT_ROWS records is printed as consecutive documents of LISTING_BLOCK_ROWS records
# (two pages of single-line rows) joined into one RTF file by rtflite's assemble_rtf, a page break
# between them: every record is in the file, in order; titles and column header repeat on every page
# as before; footnotes and source end the last block.
LISTING_ONE_DOCUMENT_ROWS = 100
LISTING_BLOCK_ROWS = 50


def _frame(table: Table) -> pl.DataFrame:
    cols = [f"c{i}" for i in range(len(table.header))]
    data = {c: [r[i] for r in table.rows] for i, c in enumerate(cols)}
    return pl.DataFrame(data, schema=dict.fromkeys(cols, pl.String))


def document(table: Table, notes: bool = True) -> rtf.RTFDocument:
    """The rtflite document of a table or listing (a figure: see :func:`write_figure`); ``notes``:
    with the footnotes and source (False: a listing's block before its last)."""
    n = len(table.header)
    widths = list(table.widths)
    just = [["l"] + ["c"] * (n - 1)] if table.page_by is None else [["l"] * n]
    body = rtf.RTFBody(
        col_rel_width=widths,
        text_justification=just,
        text_convert=[[False]],
        text_font_size=[[9]],
        page_by=[f"c{table.page_by}"] if table.page_by is not None else None,
        pageby_row="first_row" if table.page_by is not None else "column",
    )
    return rtf.RTFDocument(
        df=_frame(table),
        rtf_page=rtf.RTFPage(orientation=table.display.orientation, nrow=ROWS_PER_PAGE),
        rtf_title=rtf.RTFTitle(text=table.titles, text_convert=[False]),
        rtf_column_header=[
            rtf.RTFColumnHeader(text=list(table.header), col_rel_width=widths, text_convert=[[False]], text_font_size=[[9]])
        ],
        rtf_body=body,
        rtf_footnote=rtf.RTFFootnote(text=list(table.display.footnotes), text_convert=[[False]])
        if table.display.footnotes and notes
        else None,
        rtf_source=rtf.RTFSource(text=[table.display.source], text_convert=[[False]]) if notes else None,
    )


def blocks(table: Table, size: int = LISTING_BLOCK_ROWS, one: int = LISTING_ONE_DOCUMENT_ROWS) -> list[Table]:
    """A listing of more than ``one`` rows as consecutive tables of at most ``size`` rows; any other
    table (page_by None, or at most ``one`` rows) as itself. Together they hold every row, in order."""
    if table.page_by is None or len(table.rows) <= one:
        return [table]
    return [dataclasses.replace(table, rows=table.rows[i : i + size]) for i in range(0, len(table.rows), size)]


def write(table: Table, path: Path) -> None:
    """Write ``table`` as RTF to ``path`` (atomically; same table, same bytes); a long listing in
    blocks (:func:`blocks`) joined into the one file."""
    parts = blocks(table, LISTING_BLOCK_ROWS, LISTING_ONE_DOCUMENT_ROWS)  # read at call time (tests set them)
    if len(parts) == 1:
        io.write_text(path, document(table).rtf_encode())
        return
    with tempfile.TemporaryDirectory(prefix="rtf_blocks_") as tmp:
        files = []
        for k, part in enumerate(parts):
            f = Path(tmp) / f"{k:06d}.rtf"
            f.write_text(document(part, notes=k == len(parts) - 1).rtf_encode(), encoding="utf-8")
            files.append(str(f))
        joined = Path(tmp) / "joined.rtf"
        rtf.assemble_rtf(files, str(joined))
        io.write_text(path, joined.read_text(encoding="utf-8"))


def write_figure(table: Table, png: Path, path: Path) -> None:
    """Write a figure display: titles, the PNG, footnotes and source."""
    doc = rtf.RTFDocument(
        rtf_page=rtf.RTFPage(orientation=table.display.orientation),
        rtf_title=rtf.RTFTitle(text=table.titles, text_convert=[False]),
        rtf_figure=rtf.RTFFigure(figures=str(png), fig_width=8.0, fig_height=5.0),
        rtf_footnote=rtf.RTFFootnote(text=list(table.display.footnotes), as_table=False, text_convert=[[False]]),
        rtf_source=rtf.RTFSource(text=[table.display.source], text_convert=[[False]]),
    )
    io.write_text(path, doc.rtf_encode())


_CELL = re.compile(r"\\fs\d+\{\\f\d+ ?(.*?)\}\\cell")
_UNI = re.compile(r"\\u(-?\d+)\??")


def _unescape(s: str) -> str:
    s = _UNI.sub(lambda m: chr(int(m.group(1)) % 65536), s)
    s = s.replace("\\line", "\n").replace("\\{", "{").replace("\\}", "}").replace("\\\\", "\\")
    return s


def read_cells(path: Path) -> list[tuple[str, ...]]:
    """The rows of cell text of an RTF table written by :func:`write` (header rows included, per page)."""
    text = Path(path).read_text(encoding="utf-8")
    rows = []
    for chunk in text.split("\\row"):
        cells = [_unescape(c) for c in _CELL.findall(chunk)]
        if cells:
            rows.append(tuple(cells))
    return rows
