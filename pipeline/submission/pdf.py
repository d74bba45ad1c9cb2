"""A small document model rendered two ways: a PDF (reportlab) and a markdown preview (the UI).

The reviewer's guides and the annotated CRF are written as a list of blocks (headings,
paragraphs, tables) so one content gives the PDF a regulator reads and the markdown the Dagster
asset shows. The PDF has searchable text, one bookmark (outline entry) per heading, and no time
stamp or random id: ``invariant=1`` and the data cut-off as CreationDate/ModDate, so the same
content gives byte-identical files.
"""

from __future__ import annotations

import io as _io
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

PAGE = A4
MARGIN = 18 * mm
WIDTH = PAGE[0] - 2 * MARGIN


@dataclass
class Heading:
    level: int  # 1, 2, 3
    text: str


@dataclass
class Para:
    text: str
    style: str = "BodyText"  # BodyText | Code | Note


@dataclass
class TableBlock:
    header: list[str]
    rows: list[list[str]]
    widths: list[float] | None = None  # fractions of the text width
    marks: list[list[str]] | None = None  # per row: the labels whose page is recorded (aCRF targets)


@dataclass
class Break:
    pass


@dataclass
class Doc:
    """A document: title, subject and a list of blocks (see ``h``, ``p``, ``table``, ``page_break``)."""

    title: str
    subject: str = ""
    blocks: list = field(default_factory=list)

    def h(self, level: int, text: str) -> Doc:
        self.blocks.append(Heading(level, text))
        return self

    def p(self, text: str, style: str = "BodyText") -> Doc:
        self.blocks.append(Para(text, style))
        return self

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[object]],
        widths: Sequence[float] | None = None,
        marks: Sequence[Sequence[str]] | None = None,
    ) -> Doc:
        self.blocks.append(
            TableBlock(
                list(header),
                [["" if c is None else str(c) for c in r] for r in rows],
                list(widths) if widths else None,
                [list(m) for m in marks] if marks else None,
            )
        )
        return self

    def page_break(self) -> Doc:
        self.blocks.append(Break())
        return self

    def headings(self) -> list[str]:
        return [b.text for b in self.blocks if isinstance(b, Heading)]


# --------------------------------------------------------------------------- markdown


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def to_markdown(doc: Doc, max_rows: int = 60) -> str:
    """The document as markdown (tables cut to ``max_rows`` rows, with the count left out)."""
    out = [f"# {doc.title}"]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out.append("#" * min(b.level + 1, 6) + " " + b.text)
        elif isinstance(b, Para):
            out.append(f"`{b.text}`" if b.style == "Code" else b.text)
        elif isinstance(b, TableBlock):
            lines = ["| " + " | ".join(_md_cell(h) for h in b.header) + " |", "|" + "---|" * len(b.header)]
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in b.rows[:max_rows]]
            if len(b.rows) > max_rows:
                lines.append(f"| ... {len(b.rows) - max_rows} more rows |" + " |" * (len(b.header) - 1))
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


# --------------------------------------------------------------------------- PDF


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("Body", parent=base["BodyText"], fontName="Helvetica", fontSize=9.5, leading=12.5)
    return {
        "Title": ParagraphStyle("T", parent=base["Title"], fontName="Helvetica-Bold", fontSize=17, leading=21),
        "H1": ParagraphStyle("H1", parent=base["Heading1"], fontName="Helvetica-Bold", fontSize=14, leading=17, spaceBefore=8),
        "H2": ParagraphStyle("H2", parent=base["Heading2"], fontName="Helvetica-Bold", fontSize=11.5, leading=14, spaceBefore=6),
        "H3": ParagraphStyle("H3", parent=base["Heading3"], fontName="Helvetica-Bold", fontSize=10, leading=13, spaceBefore=4),
        "BodyText": body,
        "Note": ParagraphStyle("Note", parent=body, fontSize=8.5, leading=11, textColor=colors.HexColor("#444444")),
        "Code": ParagraphStyle("Code", parent=body, fontName="Courier", fontSize=8.5, leading=10.5),
        "Cell": ParagraphStyle("Cell", parent=body, fontSize=8, leading=10),
        "HeadCell": ParagraphStyle("HeadCell", parent=body, fontName="Helvetica-Bold", fontSize=8, leading=10),
    }


# Characters the standard PDF fonts (WinAnsi) lack, written as ASCII.
_ASCII = str.maketrans({"\u2212": "-", "\u2264": "<=", "\u2265": ">=", "\u2192": "->", "\u00d7": "x", "\u2260": "!="})


def _text(s: str) -> str:
    """Plain text for a reportlab Paragraph (markup characters escaped, line breaks kept)."""
    return escape(s.translate(_ASCII)).replace("\n", "<br/>")


class _Template(SimpleDocTemplate):
    """Records the page of every heading (bookmark + outline entry) and of every marked table row."""

    def __init__(self, buf, date: str, **kw):
        super().__init__(buf, **kw)
        self._date = date
        self.marks: dict[str, list[int]] = {}
        self._n = 0

    def handle_pageBegin(self):
        super().handle_pageBegin()
        d = self._date
        self.canv.setDateFormatter(lambda *_a: f"D:{d}000000Z")

    def afterFlowable(self, flowable):
        level = getattr(flowable, "_outline_level", None)
        if level is not None:
            self._n += 1
            key = f"h{self._n}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(flowable.getPlainText(), key, level=level, closed=level > 0)
        for label in getattr(flowable, "_marks", ()):
            pages = self.marks.setdefault(label, [])
            if self.page not in pages:
                pages.append(self.page)


def _footer(title: str):
    def draw(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(MARGIN, 10 * mm, title)
        canvas.drawRightString(PAGE[0] - MARGIN, 10 * mm, f"Page {doc.page}")
        canvas.restoreState()

    return draw


def render_pdf(doc: Doc, date: str) -> tuple[bytes, dict[str, list[int]]]:
    """The PDF bytes of ``doc`` and the pages (1-based, physical) of every marked label.

    ``date``: ISO 8601 date (the data cut-off) written as the PDF's CreationDate and ModDate.
    Each table row is its own one-row table, so a row never splits across pages and its page is
    known.
    """
    st = _styles()
    buf = _io.BytesIO()
    tpl = _Template(
        buf,
        date.replace("-", ""),
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=doc.title,
        subject=doc.subject,
        author="",
        creator="nct02867280-pipeline",
        producer="ReportLab",
        invariant=1,
    )
    story: list = [Paragraph(_text(doc.title), st["Title"])]
    levels_seen = 0
    for b in doc.blocks:
        if isinstance(b, Heading):
            level = max(0, min(b.level - 1, levels_seen))  # outline levels may deepen one at a time
            levels_seen = level + 1
            para = Paragraph(_text(b.text), st[f"H{min(b.level, 3)}"])
            para._outline_level = level
            story.append(para)
        elif isinstance(b, Para):
            story.append(Paragraph(_text(b.text), st[b.style if b.style in st else "BodyText"]))
        elif isinstance(b, TableBlock):
            story += _table(b, st)
            story.append(Spacer(1, 4))
        elif isinstance(b, Break):
            story.append(PageBreak())
    tpl.build(story, onFirstPage=_footer(doc.title), onLaterPages=_footer(doc.title))
    return buf.getvalue(), tpl.marks


def _table(b: TableBlock, st: dict[str, ParagraphStyle]) -> list:
    n = len(b.header)
    fr = b.widths or [1.0 / n] * n
    widths = [WIDTH * f / sum(fr) for f in fr]
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ]
    )
    head = Table([[Paragraph(_text(h), st["HeadCell"]) for h in b.header]], colWidths=widths)
    head.setStyle(grid)
    head.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#DDE4EE"))]))
    out: list = [head]
    for i, row in enumerate(b.rows):
        t = Table([[Paragraph(_text(c), st["Cell"]) for c in row]], colWidths=widths)
        t.setStyle(grid)
        if b.marks and b.marks[i]:
            t._marks = tuple(b.marks[i])
        out.append(t)
    return out
