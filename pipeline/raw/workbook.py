"""An .xlsx looked at before it is parsed: its sizes bounded, its sheets and their used area known.

calamine (Rust) builds a sheet as one dense grid from A1 to its last cell, and a failed
allocation aborts the process (signal 6) instead of raising. So a workbook is first read
with :mod:`zipfile`, streaming, with every size bounded by ``limits:`` of specs/raw/sites.yaml:
the file on disk, the members' declared and actual decompressed sizes, each member's
compression ratio, and per sheet the rows and cells of its used area (from the
``<dimension>`` it declares and from the cell references it really holds). Only a workbook
within the bounds is handed to calamine.
"""

from __future__ import annotations

import html
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.raw.limits import RawLimits

CHUNK = 1 << 20
_RATIO_FLOOR = 1 << 20  # members smaller than this are not judged by their ratio
_SMALL_PART = 16 << 20  # workbook.xml and its relations: small by nature
_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
_SHEET = re.compile(rb"<(?:\w+:)?sheet\b[^>]*>")
_ATTR = re.compile(rb'([\w:]+)="([^"]*)"')
_REL = re.compile(rb"<(?:\w+:)?Relationship\b[^>]*>")
_CELL_REF = re.compile(rb'<(?:\w+:)?c\b[^>]*?\br="([A-Z]{1,4})(\d{1,9})"')
_CELL = re.compile(rb"<(?:\w+:)?c[\s/>]")
_VALUE = re.compile(rb"<(?:\w+:)?(?:v|is)>")  # a cell with a value, not only a format
_ROW_REF = re.compile(rb'<(?:\w+:)?row\b[^>]*?\br="(\d{1,9})"')
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\b[^>]*?\bref="([A-Z]{1,4})?(\d{1,9})?(?::([A-Z]{1,4})(\d{1,9}))?"')
_OVERLAP = 256  # a tag cut by a chunk boundary is seen whole in the next window


class WorkbookLimitError(ValueError):
    """A workbook beyond the bounds of specs/raw/sites.yaml (the message names file and bound)."""


@dataclass(frozen=True)
class SheetInfo:
    """A sheet's used area: the last row and column holding a cell, and the number of cells."""

    name: str
    member: str
    rows: int
    cols: int
    cells: int
    values: int = 0  # cells holding a value

    @property
    def area(self) -> int:
        return self.rows * self.cols


def column_number(letters: str) -> int:
    """``A`` -> 1, ``XFD`` -> 16384."""
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n


def column_letters(n: int) -> str:
    s = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def _attrs(tag: bytes) -> dict[str, str]:
    return {
        k.decode().split(":")[-1] if k != b"r:id" else "r:id": html.unescape(v.decode("utf-8", "replace"))
        for k, v in _ATTR.findall(tag)
    }


def _stream(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, rel: str, what: str):
    """Yield the decompressed member in chunks, stopping with an error past ``cap`` bytes (a lying header)."""
    seen = 0
    with zf.open(info) as fh:
        while block := fh.read(CHUNK):
            seen += len(block)
            if seen > cap:
                raise WorkbookLimitError(f"{rel}: member {info.filename} expands beyond {cap} bytes ({what})")
            yield block


def _read_small(zf: zipfile.ZipFile, name: str, rel: str) -> bytes | None:
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    data = b"".join(_stream(zf, info, _SMALL_PART, rel, "a workbook part that should be a few kilobytes"))
    if _DOCTYPE.search(data):
        raise WorkbookLimitError(f"{rel}: {name} declares a DOCTYPE or entities, which a workbook never needs; refused")
    return data


def _sheet_members(zf: zipfile.ZipFile, rel: str) -> list[tuple[str, str]]:
    """(sheet name, zip member) for every sheet of xl/workbook.xml, in workbook order."""
    book = _read_small(zf, "xl/workbook.xml", rel)
    rels = _read_small(zf, "xl/_rels/workbook.xml.rels", rel)
    if book is None or rels is None:
        return []
    targets = {}
    for tag in _REL.findall(rels):
        a = _attrs(tag)
        t = a.get("Target", "")
        targets[a.get("Id", "")] = t.lstrip("/") if t.startswith("/") else f"xl/{t}"
    out = []
    for tag in _SHEET.findall(book):
        a = _attrs(tag)
        member = targets.get(a.get("r:id", a.get("id", "")))
        if member:
            out.append((a.get("name", ""), member))
    return out


def _scan_sheet(zf: zipfile.ZipFile, name: str, member: str, cap: int, rel: str) -> tuple[SheetInfo, int]:
    """The sheet's used area from its XML, streaming; returns (info, bytes read)."""
    try:
        info = zf.getinfo(member)
    except KeyError:
        return SheetInfo(name, member, 0, 0, 0), 0
    rows = cols = cells = values = 0
    declared: tuple[int, int] | None = None
    tail = b""
    read = 0
    for block in _stream(zf, info, cap, rel, f"limits.xlsx_expanded_bytes in specs/raw/sites.yaml, sheet {name!r}"):
        read += len(block)
        window = tail + block
        # A tag ending within the tail was whole in the previous window and counted there.
        cells += sum(1 for m in _CELL.finditer(window) if m.end() > len(tail))
        values += sum(1 for m in _VALUE.finditer(window) if m.end() > len(tail))
        for m in _CELL_REF.finditer(window):
            cols = max(cols, column_number(m.group(1).decode()))
            rows = max(rows, int(m.group(2)))
        for m in _ROW_REF.finditer(window):
            rows = max(rows, int(m.group(1)))
        if declared is None:
            d = _DIMENSION.search(window)
            if d:
                c2, r2 = (d.group(3), d.group(4)) if d.group(3) else (d.group(1), d.group(2))
                declared = (int(r2 or 0), column_number(c2.decode()) if c2 else 0)
        tail = window[-_OVERLAP:]
    if declared:
        rows, cols = max(rows, declared[0]), max(cols, declared[1])
    return SheetInfo(name, member, rows, cols, cells, values), read


def inspect_workbook(path: Path, rel: str, limits: RawLimits) -> dict[str, SheetInfo] | None:
    """The sheets of the workbook at ``path`` ({name: SheetInfo}), every bound checked.

    Returns None for a file zipfile cannot open as an archive (calamine then names the damage
    in its own words). Raises WorkbookLimitError naming the file and the bound it breaks.
    """
    size = Path(path).stat().st_size
    if size > limits.file_bytes:
        raise WorkbookLimitError(
            f"{rel}: {size} bytes on disk, more than limits.file_bytes ({limits.file_bytes}) in specs/raw/sites.yaml"
        )
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    with zf:
        infos = zf.infolist()
        declared = sum(i.file_size for i in infos)
        if declared > limits.xlsx_expanded_bytes:
            raise WorkbookLimitError(
                f"{rel}: the workbook expands from {size} to {declared} bytes, more than limits.xlsx_expanded_bytes "
                f"({limits.xlsx_expanded_bytes}) in specs/raw/sites.yaml; a zip bomb or not an export; not read"
            )
        for i in infos:
            if i.file_size > _RATIO_FLOOR and i.file_size > limits.xlsx_ratio * max(i.compress_size, 1):
                raise WorkbookLimitError(
                    f"{rel}: member {i.filename} expands {i.file_size / max(i.compress_size, 1):.0f} times "
                    f"({i.compress_size} to {i.file_size} bytes), more than limits.xlsx_ratio ({limits.xlsx_ratio:g}) "
                    f"in specs/raw/sites.yaml; a zip bomb or not an export; not read"
                )
        budget = limits.xlsx_expanded_bytes
        try:
            shared = zf.getinfo("xl/sharedStrings.xml")
        except KeyError:
            shared = None
        if shared is not None:  # read in full by calamine: its real size counts against the budget
            budget -= sum(len(b) for b in _stream(zf, shared, budget, rel, "limits.xlsx_expanded_bytes in specs/raw/sites.yaml"))
        sheets: dict[str, SheetInfo] = {}
        for name, member in _sheet_members(zf, rel):
            info, read = _scan_sheet(zf, name, member, max(budget, 0), rel)
            budget -= read
            sheets[name] = info
    return sheets


def check_sheet(info: SheetInfo, rel: str, limits: RawLimits) -> None:
    """Raise WorkbookLimitError when the sheet's used area is beyond limits.rows / limits.cells."""
    last = f"{column_letters(info.cols)}{info.rows}" if info.rows and info.cols else f"row {info.rows}"
    if info.rows > limits.rows or info.area > limits.cells or info.cells > limits.cells:
        raise WorkbookLimitError(
            f"{rel}: sheet {info.name!r} reaches cell {last} ({info.rows} rows x {info.cols} columns = {info.area} cells, "
            f"{info.cells} cells written), beyond limits.rows ({limits.rows}) or limits.cells ({limits.cells}) in "
            f"specs/raw/sites.yaml; a cell typed far outside the table? not read"
        )
