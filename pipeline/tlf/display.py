"""A report display as data (titles, header, rows of printed text) and the blocks tables share.

A display module builds a :class:`Table` from the ARD alone (its ``build(ard, ...)``); the
writers (``rtf.py``, ``pdf.py``) print it, and the RTF check rebuilds it from the ARD on disk and
compares it with the RTF read back, cell by cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pipeline.specs.analysis import Display, load_displays
from pipeline.specs.study import load_study
from pipeline.tlf import fmt
from pipeline.tlf.ard import lookup

INDENT = "   "


@dataclass(frozen=True)
class Table:
    """What a display prints: ``header`` (one row), ``rows`` (text cells), relative column widths.

    ``page_by``: for listings, the column index whose value starts a new page group (printed as a
    group row, e.g. the site), or None.
    """

    display: Display
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...]
    page_by: int | None = None
    figure: bytes | None = None  # a figure display's PNG

    @property
    def titles(self) -> list[str]:
        d = self.display
        return [f"{d.kind.capitalize()} {d.number}", d.title, d.population]

    def markdown(self, max_rows: int = 60) -> str:
        """The table as GitHub markdown (the UI preview), capped at ``max_rows`` rows."""
        esc = lambda s: str(s).replace("|", "\\|").replace(INDENT, "&nbsp;&nbsp;&nbsp;")  # noqa: E731
        lines = [f"**{esc(t)}**" for t in self.titles] + [""]
        lines += ["| " + " | ".join(esc(h) for h in self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in self.rows[:max_rows]]
        if len(self.rows) > max_rows:
            lines.append(f"\n_{len(self.rows) - max_rows} more rows in the RTF/PDF._")
        lines += [""] + [f"_{esc(f)}_" for f in self.display.footnotes] + [f"_{esc(self.display.source)}_"]
        return "\n".join(lines)


def display(display_id: str) -> Display:
    for d in load_displays():
        if d.id == display_id:
            return d
    raise KeyError(display_id)


@dataclass
class Grid:
    """A table under construction: one label column, then one column per arm."""

    ard: pd.DataFrame
    n_analysis: str  # the subject-count analysis giving the N of each arm's header
    label: str = ""
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lk = lookup(self.ard)
        self.arms = [(a.armcd, a.arm) for a in load_study().arms]

    def v(self, analysis: str, op: str, group: str, cat1: str = "", cat2: str = "", tp: str = "") -> float | None:
        return self.lk.get((analysis, op, group, cat1, cat2, tp))

    def header(self) -> tuple[str, ...]:
        return (self.label, *(fmt.header(label, self.v(self.n_analysis, "n", cd)) for cd, label in self.arms))

    def section(self, label: str) -> None:
        self.rows.append((label, *("" for _ in self.arms)))

    def row(self, label: str, cell) -> None:
        """A row whose arm cells are ``cell(armcd)``."""
        self.rows.append((label, *(cell(cd) for cd, _ in self.arms)))

    def levels(self, analysis: str, cat2: str = "") -> list[str]:
        a = self.ard[self.ard["ANALYSIS_ID"].eq(analysis) & self.ard["OPERATION_ID"].eq("n")]
        if cat2:
            a = a[a["CAT2"].eq(cat2)]
        return list(dict.fromkeys(a["CAT1"]))

    def categorical(self, analysis: str, label: str) -> None:
        self.section(label)
        for lev in self.levels(analysis):
            self.row(
                INDENT + lev, lambda cd, lev=lev: fmt.n_pct(self.v(analysis, "n", cd, lev), self.v(analysis, "pct", cd, lev))
            )

    def continuous(self, analysis: str, label: str, dp: int = 1, thousands: bool = False) -> None:
        """n, Mean (SD), Median, Min, Max of a continuous analysis; ``dp`` decimals for mean and median."""
        self.section(label)
        v = lambda op: lambda cd: self.v(analysis, op, cd)  # noqa: E731
        self.row(INDENT + "n", lambda cd: fmt.count(v("n")(cd)))
        self.row(INDENT + "Mean (SD)", lambda cd: fmt.mean_sd(v("mean")(cd), v("sd")(cd), dp, thousands))
        self.row(INDENT + "Median", lambda cd: fmt.median(v("median")(cd), dp, thousands))
        self.row(INDENT + "Min, Max", lambda cd: fmt.min_max(v("min")(cd), v("max")(cd), max(dp - 1, 0), thousands))

    def table(self, display_id: str, widths: tuple[float, ...] | None = None) -> Table:
        n = len(self.arms) + 1
        return Table(display(display_id), self.header(), tuple(self.rows), widths or (3.0,) + (1.6,) * (n - 1))
