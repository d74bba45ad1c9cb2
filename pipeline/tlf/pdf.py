"""A PDF of each display (reportlab): the same titles, header, rows, footnotes and source as the RTF.

Deterministic: reportlab's invariant mode (fixed document id and dates), so the same table gives
the same bytes. Searchable text; the header repeats on every page.
"""

from __future__ import annotations

import io as _io
from pathlib import Path

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.platypus import Image, LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

from pipeline import io
from pipeline.tlf.display import INDENT, Table

rl_config.invariant = 1

_TITLE = ParagraphStyle("title", fontName="Times-Bold", fontSize=11, leading=14, alignment=1)
_CELL = ParagraphStyle("cell", fontName="Times-Roman", fontSize=8, leading=10)
_NOTE = ParagraphStyle("note", fontName="Times-Roman", fontSize=8, leading=10)


def _esc(s: str) -> str:
    s = str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s.replace(INDENT, "&nbsp;&nbsp;&nbsp;")


def _story(table: Table, png: Path | None) -> list:
    story = [Paragraph(_esc(t), _TITLE) for t in table.titles] + [Spacer(1, 0.3 * cm)]
    if png is not None:
        story.append(Image(str(png), width=22 * cm, height=13 * cm))
    else:
        width = landscape(A4)[0] - 3 * cm
        total = sum(table.widths)
        col_w = [width * w / total for w in table.widths]
        data = [[Paragraph(_esc(h), _CELL) for h in table.header]]
        data += [[Paragraph(_esc(c), _CELL) for c in row] for row in table.rows]
        t = LongTable(data, colWidths=col_w, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("LINEABOVE", (0, 0), (-1, 0), 0.8, colors.black),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                    ("LINEBELOW", (0, -1), (-1, -1), 0.8, colors.black),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story.append(t)
    story.append(Spacer(1, 0.3 * cm))
    story += [Paragraph(_esc(f), _NOTE) for f in table.display.footnotes]
    story.append(Paragraph(_esc(table.display.source), _NOTE))
    return story


def pdf_bytes(table: Table, png: Path | None = None) -> bytes:
    """The display as PDF bytes (landscape A4); ``png``: a figure display's image."""
    buf = _io.BytesIO()
    d = table.display
    doc = SimpleDocTemplate(
        buf,
        pagesize=landscape(A4),
        leftMargin=1.5 * cm,
        rightMargin=1.5 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
        title=f"{d.kind.capitalize()} {d.number} {d.title}",
        author="NCT02867280 pipeline",
        subject=d.population,
        creator="pipeline/tlf",
    )
    doc.build(_story(table, png))
    return buf.getvalue()


def write(table: Table, path: Path, png: Path | None = None) -> None:
    io.write_bytes(path, pdf_bytes(table, png))
