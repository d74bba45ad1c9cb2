"""The display check: every cell an RTF table prints equals what its ARD rows give.

The RTF file is read back from disk and compared, row by row and cell by cell, with the display
rebuilt from the ARD file on disk (``outputs/analysis/ard.parquet``), so a number changed in the
RTF, or an RTF written from other data, fails the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.tlf import rtf
from pipeline.tlf.display import Table


@dataclass(frozen=True)
class Mismatch:
    row: int  # 1-based body row; 0 = the header
    column: int  # 1-based
    expected: str
    printed: str


def body_rows(table: Table, cells: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The RTF's rows without the header repeated on each page and the footnote row."""
    squash = lambda s: " ".join(s.split())  # noqa: E731
    notes = {squash(" ".join(table.display.footnotes))} | {squash(f) for f in table.display.footnotes}
    out = [r for r in cells if r != tuple(table.header)]
    return [r for r in out if not (len(r) == 1 and squash(r[0]) in notes)]


def compare(table: Table, rtf_path: Path) -> list[Mismatch]:
    """Cells of ``rtf_path`` that differ from ``table`` (the display rebuilt from the ARD)."""
    cells = rtf.read_cells(rtf_path)
    out: list[Mismatch] = []
    if not cells or cells[0] != tuple(table.header):
        got = cells[0] if cells else ()
        for j, heading in enumerate(table.header):
            printed = got[j] if j < len(got) else ""
            if printed != heading:
                out.append(Mismatch(0, j + 1, heading, printed))
    body = body_rows(table, cells)
    for i in range(max(len(body), len(table.rows))):
        exp = table.rows[i] if i < len(table.rows) else ()
        got = body[i] if i < len(body) else ()
        for j in range(max(len(exp), len(got))):
            e = exp[j] if j < len(exp) else ""
            g = got[j] if j < len(got) else ""
            if e != g:
                out.append(Mismatch(i + 1, j + 1, e, g))
    return out
