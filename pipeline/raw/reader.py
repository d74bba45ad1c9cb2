"""Read one site's export of one CRF form into a frame of strings, with lineage.

Files arrive as ``<raw>/<siteid>/<form>.csv`` or ``.xlsx`` (sites.yaml says which, and
the CSV encoding). Everything is read as text so nothing is silently coerced: ``"007"``
stays ``"007"``, ``"NA"`` stays ``"NA"``; only real Excel date cells become ISO dates.
A problem with the file as a whole raises :class:`RawFileError`, whose message names
the file and says what is wrong in words a data manager can pass on to the site.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from python_calamine import CalamineError, CalamineWorkbook, ZipError

from pipeline.columns import TEXT
from pipeline.raw.limits import RawLimits, load_limits
from pipeline.raw.workbook import WorkbookLimitError, check_sheet, inspect_workbook
from pipeline.specs.raw import Form, RawSpec, Site

LINEAGE = ("_site", "_file", "_row")


class RawFileError(ValueError):
    """A raw file that cannot be read as agreed in the data transfer agreement."""


def relative_name(path: Path) -> str:
    """The file's name relative to the raw root, posix style (``102/ae.csv``)."""
    return f"{path.parent.name}/{path.name}"


def form_path(raw_root: Path, site: Site, form: Form) -> Path:
    """Where ``site``'s export of ``form`` is expected."""
    return Path(raw_root) / site.siteid / f"{form.name}.{site.file_format}"


def _outside_link(entry: Path, root: Path) -> Path | None:
    """Where a link leads when it leaves ``root`` (resolved); None for anything else."""
    if not entry.is_symlink():
        return None
    target = entry.resolve()
    return None if target == root or target.is_relative_to(root) else target


def _refuse_link(entry: Path, root: Path, limits: RawLimits) -> None:
    target = _outside_link(entry, root)
    if target is not None and not limits.follow_links:
        what = "folder" if entry.is_dir() else "file"
        rel = relative_name(entry) if entry.parent != root else f"{entry.name}/"
        raise RawFileError(
            f"{rel}: a link to the {what} {target}, outside the raw folder; exports are copied into the raw folder, "
            f"not linked (drop.follow_links in specs/raw/sites.yaml)"
        )


def scan_raw_root(raw_root: Path, spec: RawSpec, limits: RawLimits | None = None) -> list[str]:
    """Check the raw folder holds a whole drop: known site folders and known form files only.

    Raises RawFileError for a folder holding no export, a folder that is not a site in
    sites.yaml, a file that is not ``<form>.<format>`` for a form in forms.yaml, a file in
    the wrong format for its site, a link leading out of the raw folder (unless
    drop.follow_links) and a declared site that sent nothing (unless drop.partial_drops).
    Returns the sites that sent nothing when partial drops are allowed. Hidden files
    (``.DS_Store``) are ignored.
    """
    limits = limits or load_limits()
    raw_root = Path(raw_root)
    if not raw_root.is_dir():
        raise RawFileError(f"{raw_root}: the raw export folder does not exist")
    root = raw_root.resolve()
    sent: set[str] = set()
    for entry in sorted(raw_root.iterdir()):
        if entry.name.startswith("."):
            continue
        _refuse_link(entry, root, limits)
        if not entry.is_dir():
            raise RawFileError(f"{entry.name}: a file directly in the raw folder; exports belong in <siteid>/<form>.csv|xlsx")
        site = spec.sites.get(entry.name)
        if site is None:
            raise RawFileError(
                f"{entry.name}/: folder for site {entry.name!r}, which is not a site in specs/raw/sites.yaml (known sites: {', '.join(sorted(spec.sites))})"
            )
        for f in sorted(entry.iterdir()):
            if f.name.startswith("."):
                continue
            rel = relative_name(f)
            _refuse_link(f, root, limits)
            if f.stem not in spec.forms:
                raise RawFileError(
                    f"{rel}: file for an unknown form {f.stem!r} (forms in specs/raw/forms.yaml: {', '.join(spec.forms)})"
                )
            if f.suffix.lower() != f".{site.file_format}":
                raise RawFileError(
                    f"{rel}: site {site.siteid} delivers {site.file_format} files (specs/raw/sites.yaml), not {f.suffix or 'files without extension'}"
                )
            sent.add(site.siteid)
    if not sent:
        raise RawFileError(
            f"{raw_root}: the raw folder holds no export (no <siteid>/<form>.csv|xlsx of a site in specs/raw/sites.yaml)"
        )
    silent = [s for s in sorted(spec.sites) if s not in sent]
    if silent and not limits.partial_drops:
        raise RawFileError(
            f"{', '.join(s + '/' for s in silent)}: site(s) {', '.join(silent)} of specs/raw/sites.yaml sent nothing in this drop; "
            f"a drop holds every site's export, so nothing is built from it (drop.partial_drops in specs/raw/sites.yaml accepts a partial drop)"
        )
    return silent


def _decode(data: bytes, site: Site, rel: str) -> str:
    """Bytes to text with the site's agreed encoding, strictly."""
    try:
        text = data.decode(site.encoding)
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise RawFileError(
            f"{rel}: cannot be decoded as {site.encoding} (the encoding agreed for site {site.siteid} in sites.yaml): "
            f"invalid byte 0x{data[e.start]:02x} at byte offset {e.start} (line {line}); was the file saved in another encoding?"
        ) from None
    # A UTF-8 BOM from a site that declared plain utf-8 is harmless: drop it.
    return text.removeprefix("\ufeff")


def _csv_grid(path: Path, site: Site, rel: str) -> pd.DataFrame:
    """The CSV as a grid of str/None (None = field absent from a short record); row 0 is the header."""
    limits = load_limits()
    size = path.stat().st_size
    if size > limits.file_bytes:
        raise RawFileError(
            f"{rel}: {size} bytes on disk, more than limits.file_bytes ({limits.file_bytes}) in specs/raw/sites.yaml; not read"
        )
    text = _decode(path.read_bytes(), site, rel)
    if not text.strip():
        raise RawFileError(f"{rel}: the file is empty (no header row)")
    if text.count("\n") > limits.rows + 1:
        raise RawFileError(f"{rel}: more than limits.rows ({limits.rows}) lines in specs/raw/sites.yaml; not read")
    fast = _plain_csv_grid(text)
    if fast is not None:
        return fast
    # A field of any length is read (the file's size is bounded); one too long is quarantined (FIELD_TOO_LONG).
    csv.field_size_limit(max(csv.field_size_limit(), limits.file_bytes))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as e:
        if "unexpected end of data" in str(e):
            raise RawFileError(
                f"{rel}: the file ends inside a quoted value (a quote opened on or before line {reader.line_num} is never closed); the file looks truncated"
            ) from None
        raise RawFileError(f"{rel}: malformed CSV at line {reader.line_num}: {e}") from None
    # A record with fewer fields than the header is padded with None, so it can be told from an empty field.
    return pd.DataFrame(rows, dtype=object)


def _plain_csv_grid(text: str) -> pd.DataFrame | None:
    """The grid ``_csv_grid`` reads, parsed by Arrow's CSV reader in C; None when the file needs
    the csv module: any quote, NUL or bare CR, or a record whose field count differs from the
    header's (short, long or blank lines), whose handling and messages live in the slow path.

    Without quotes a CSV record is a line and a field is what lies between commas, so both
    parsers read the same cells.
    """
    if '"' in text or "\x00" in text or text.count("\r") != text.count("\r\n"):
        return None
    if "\n\n" in text or "\n\r\n" in text or text.startswith(("\n", "\r\n")):
        return None  # Arrow reads a blank line as a record of empty fields, the csv module as no fields
    header = text.split("\n", 1)[0].removesuffix("\r")
    width = header.count(",") + 1
    if width < 2:  # a blank line would read as a valid one-field record
        return None
    ragged = []

    def invalid(row) -> str:
        ragged.append(row.number)
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False),
            parse_options=pacsv.ParseOptions(quote_char=False, ignore_empty_lines=False, invalid_row_handler=invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(width)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    if ragged or table.num_columns != width:
        return None
    return pd.DataFrame({i: pd.Series(table.column(i), dtype=TEXT) for i in range(width)})


def _cell_text(v: object) -> str | None:
    """An Excel cell value as the text a data manager sees; date cells as ISO 8601."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat(timespec="seconds")
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v)


def _column_text(col: pd.Series) -> pd.Series:
    """A column of Excel cell values as text (None stays None), converting each distinct value once."""
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    table = np.array([_cell_text(v) for v in uniques] + [None], dtype=object)
    return pd.Series(table[codes], index=col.index, dtype=object)


def _unreadable(rel: str, e: Exception) -> str:
    """The message for a workbook the reader cannot open, in words a site can act on."""
    what = (
        "it is not a complete .xlsx (zip) archive: cut short in transfer, or saved in another format"
        if isinstance(e, ZipError)
        else "the workbook's contents cannot be read"
    )
    return f"{rel}: not a readable Excel workbook; {what} ({type(e).__name__}: {e})"


def _xlsx_grid(path: Path, form: Form, rel: str) -> tuple[pd.DataFrame, list[tuple[str, int]]]:
    """The form's sheet as a grid of str/None (row 0 is the header, Excel row 1), and the other
    sheets that hold cells, as (sheet name, rows used): never read, so they are reported."""
    if path.stat().st_size == 0:
        raise RawFileError(f"{rel}: the file is empty (no header row)")
    limits = load_limits()
    try:
        sheets = inspect_workbook(path, rel, limits)  # sizes and used areas bounded before calamine sees the file
    except WorkbookLimitError as e:
        raise RawFileError(str(e)) from None
    # calamine (Rust) reads a sheet ~10x faster than openpyxl and gives the same typed cells:
    # cached formula values, dates as date/datetime, numbers as int/float, "" for an empty cell.
    try:
        wb = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as e:
        raise RawFileError(_unreadable(rel, e)) from None
    try:
        names = {n.strip().casefold(): n for n in wb.sheet_names}
        sheet = names.get(form.name.casefold())
        if sheet is None:
            found = ", ".join(repr(n) for n in wb.sheet_names)
            raise RawFileError(f"{rel}: the workbook has no sheet named {form.name!r} (sheets found: {found})")
        info = (sheets or {}).get(sheet)
        if sheets is not None and info is None:
            raise RawFileError(f"{rel}: sheet {sheet!r} is not where the workbook's own index says; the file looks damaged")
        if info is not None:
            try:
                check_sheet(info, rel, limits)
            except WorkbookLimitError as e:
                raise RawFileError(str(e)) from None
        # skip_empty_area=False: the grid starts at A1, so row numbers are the ones Excel shows.
        rows = wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except CalamineError as e:
        raise RawFileError(_unreadable(rel, e)) from None
    finally:
        wb.close()
    unread = [(n, i.rows) for n, i in (sheets or {}).items() if n != sheet and i.values]
    if not rows:
        raise RawFileError(f"{rel}: sheet {sheet!r} is empty (no header row)")
    grid = pd.DataFrame(rows, dtype=object)
    # Each distinct cell value is turned into its text once.
    grid = grid.apply(_column_text)
    # Excel has no short records: an empty cell is an empty value.
    return grid.where(grid.notna(), ""), unread


def _non_blank(col: pd.Series) -> pd.Series:
    """True where a cell holds more than whitespace (checked once per distinct value)."""
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    keep = np.append(pd.Series(np.asarray(uniques, dtype=object), dtype=object).astype(str).str.strip().ne("").to_numpy(), False)
    return pd.Series(keep[codes], index=col.index)


def _header(grid: pd.DataFrame, rel: str) -> list[str]:
    """Column names from row 0: NFKC, trimmed, upper case; checks blanks and duplicates."""
    raw = grid.iloc[0].fillna("").astype(str)
    names = [unicodedata.normalize("NFKC", h).replace("\ufeff", "").strip().upper() for h in raw]
    if not any(names):
        raise RawFileError(f"{rel}: the header row (row 1) is empty")
    body = grid.iloc[1:]
    for i, name in enumerate(names):
        if not name and body[i].fillna("").astype(str).str.strip().ne("").any():
            raise RawFileError(f"{rel}: column {i + 1} has values but no name in the header row")
    seen = pd.Series(names)
    dup = sorted(set(seen[seen.duplicated() & (seen != "")]))
    if dup:
        raise RawFileError(f"{rel}: the header names column(s) {', '.join(dup)} more than once")
    return names


def read_form_file(path: Path, site: Site, form: Form) -> pd.DataFrame:
    """Read ``site``'s export of ``form`` from ``path``.

    Returns one row per record (blank lines dropped) with every column of the file as
    ``str`` (empty cells are ``""``), header names normalised (NFKC, upper case), plus the
    lineage columns ``_site`` (the site folder), ``_file`` (``102/ae.csv``) and ``_row``
    (the row number as Excel shows it: header row 1, first record row 2). Unknown extra
    columns are kept. ``attrs["unread_sheets"]``: other sheets of a workbook that hold cells,
    as (name, rows used). Raises RawFileError for any problem with the file as a whole, and
    for nothing else: whatever the bytes, no other exception leaves this function.
    """
    path = Path(path)
    rel = relative_name(path)
    try:
        return _read_form_file(path, site, form, rel)
    except RawFileError:
        raise
    except BaseException as e:  # a parser's own failure on hostile bytes (a Rust panic is a BaseException)
        if isinstance(e, (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)):
            raise
        raise RawFileError(f"{rel}: the file cannot be read ({type(e).__name__}: {str(e)[:200]})") from None


def _read_form_file(path: Path, site: Site, form: Form, rel: str) -> pd.DataFrame:
    if path.parent.name != site.siteid:
        raise RawFileError(f"{rel}: read as site {site.siteid} but it sits in folder {path.parent.name!r}")
    if path.suffix.lower() != f".{site.file_format}":
        raise RawFileError(
            f"{rel}: site {site.siteid} delivers {site.file_format} files (specs/raw/sites.yaml), not {path.suffix}"
        )
    if path.stem != form.name:
        raise RawFileError(f"{rel}: read as form {form.name!r} but the file is named {path.name!r}")
    if not path.is_file():
        raise RawFileError(f"{rel}: file not found")

    grid, unread = (_csv_grid(path, site, rel), []) if site.file_format == "csv" else _xlsx_grid(path, form, rel)
    # The header's own length (a CSV header row is padded with None when a record is longer).
    width = int(grid.iloc[0].notna().to_numpy().nonzero()[0].max(initial=-1)) + 1
    body = grid.iloc[1:].copy()
    body.insert(0, "_row", np.arange(2, len(body) + 2, dtype="int64"))
    cells = body.drop(columns="_row")
    filled = cells.apply(_non_blank)
    blank = ~filled.any(axis=1)
    body, cells, filled = body[~blank], cells[~blank], filled[~blank]

    over = filled.iloc[:, width:].any(axis=1)
    if over.any():
        row = int(body.loc[over, "_row"].iloc[0])
        raise RawFileError(f"{rel}: row {row} has more fields than the header row ({width} columns)")
    names = _header(grid.iloc[:, :width], rel)
    cells = cells.iloc[:, :width]
    short = cells.isna().any(axis=1)
    if short.any():
        row = int(body.loc[short, "_row"].iloc[0])
        have = int(cells.loc[short].iloc[0].notna().sum())
        last = " (the last row: the file looks truncated)" if row == int(body["_row"].iloc[-1]) else ""
        raise RawFileError(f"{rel}: row {row} has {have} of the {width} fields of the header{last}")

    missing = [f.name for f in form.fields if f.required and f.name not in names]
    if missing:
        raise RawFileError(f"{rel}: required column(s) missing from the header: {', '.join(missing)}")

    out = cells.set_axis(names, axis=1)
    out = out.loc[:, [n for n in names if n]].astype(TEXT)  # every cell is a str by now
    out.insert(0, "_site", site.siteid)
    out.insert(1, "_file", rel)
    out.insert(2, "_row", body["_row"].to_numpy())
    out = out.reset_index(drop=True)
    out.attrs["unread_sheets"] = unread
    return out
