"""RTF in the submission convention (rtflite): titles, one header row, body, footnotes, source line.

:func:`write` prints a :class:`~pipeline.tlf.display.Table`; :func:`read_cells` reads an RTF file
written here back into its rows of cell text, which the display check compares with the ARD.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import rtflite as rtf

from pipeline import io
from pipeline.tlf.display import Table

ROWS_PER_PAGE = 28  # body rows per landscape page (9-point text), header repeated on each page


def _frame(table: Table) -> pl.DataFrame:
    cols = [f"c{i}" for i in range(len(table.header))]
    data = {c: [r[i] for r in table.rows] for i, c in enumerate(cols)}
    return pl.DataFrame(data, schema=dict.fromkeys(cols, pl.String))


def document(table: Table) -> rtf.RTFDocument:
    """The rtflite document of a table or listing (a figure display: see :func:`figure_document`)."""
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
        if table.display.footnotes
        else None,
        rtf_source=rtf.RTFSource(text=[table.display.source], text_convert=[[False]]),
    )


def write(table: Table, path: Path) -> None:
    """Write ``table`` as RTF to ``path`` (atomically; same table, same bytes)."""
    text = document(table).rtf_encode() if hasattr(rtf.RTFDocument, "rtf_encode") else None
    if text is None:  # pragma: no cover - older rtflite
        raise RuntimeError("rtflite without RTFDocument.rtf_encode")
    io.write_text(path, text)


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
