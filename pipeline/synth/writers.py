"""Serialise site forms: CSV in the site's encoding, or a byte-reproducible XLSX workbook.

The XLSX is written directly as SpreadsheetML (one sheet named after the form, inline
strings, real date cells with a date number format) into a zip whose entry timestamps and
docProps dates are fixed to the data cut, so the same data gives the same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pandas as pd

EXCEL_EPOCH = dt.date(1899, 12, 30)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def csv_bytes(df: pd.DataFrame, encoding: str, newline: str) -> bytes:
    """Header + rows as CSV text encoded with ``encoding`` (strict: unencodable text is an error)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline)
    w.writerow(df.columns)
    w.writerows(df.itertuples(index=False, name=None))
    return buf.getvalue().encode(encoding)


def _col_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _cell(ref: str, v) -> str:
    if v is None or (isinstance(v, str) and v == ""):
        return ""
    if isinstance(v, str):
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(v)}</t></is></c>'
    if isinstance(v, dt.date):
        return f'<c r="{ref}" s="1"><v>{(v - EXCEL_EPOCH).days}</v></c>'
    if isinstance(v, bool):
        return f'<c r="{ref}" t="b"><v>{int(v)}</v></c>'
    if isinstance(v, int):
        return f'<c r="{ref}"><v>{v}</v></c>'
    if isinstance(v, float):
        return f'<c r="{ref}"><v>{v!r}</v></c>'
    raise TypeError(f"cannot write {type(v).__name__} to xlsx")


def _column_cells(letter: str, values) -> list[str]:
    """XML of one column's cells for data rows 2..n+1 (empty string for an empty cell)."""
    out = []
    for i, v in enumerate(values, start=2):
        t = type(v)
        if t is str:
            out.append(f'<c r="{letter}{i}" t="inlineStr"><is><t xml:space="preserve">{escape(v)}</t></is></c>' if v else "")
        elif t is float:
            out.append(f'<c r="{letter}{i}"><v>{v!r}</v></c>')
        elif t is int:
            out.append(f'<c r="{letter}{i}"><v>{v}</v></c>')
        else:
            out.append(_cell(f"{letter}{i}", v))
    return out


def _sheet_xml(df: pd.DataFrame) -> str:
    letters = [_col_letter(i) for i in range(df.shape[1])]
    head = "".join(_cell(f"{L}1", str(h)) for L, h in zip(letters, df.columns))
    out = [
        (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<dimension ref="A1:{letters[-1]}{len(df) + 1}"/><sheetData><row r="1">{head}</row>'
        )
    ]
    cols = [_column_cells(L, df.iloc[:, j].tolist()) for j, L in enumerate(letters)]
    out.extend(f'<row r="{i}">{"".join(cells)}</row>' for i, cells in enumerate(zip(*cols), start=2))
    out.append("</sheetData></worksheet>")
    return "".join(out)


def xlsx_bytes(df: pd.DataFrame, sheet: str, stamp: dt.datetime) -> bytes:
    """One-sheet workbook (sheet ``sheet``); every timestamp inside is ``stamp``."""
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
            '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/>'
            "</Relationships>"
        ),
        "docProps/core.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<dc:creator>EDC export</dc:creator>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{iso}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{iso}</dcterms:modified>'
            "</cp:coreProperties>"
        ),
        "docProps/app.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
            "<Application>Microsoft Excel</Application></Properties>"
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<sheets><sheet name="{escape(sheet)}" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        # Style 1 = built-in number format 14 (a date), so date cells read back as dates.
        "xl/styles.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>"
        ),
        "xl/worksheets/sheet1.xml": _sheet_xml(df),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in parts.items():
            info = zipfile.ZipInfo(name, date_time=stamp.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            zf.writestr(info, text.encode("utf-8"), compresslevel=6)
    return buf.getvalue()


def write_site(forms: dict, site, out_dir: Path, stamp: dt.datetime) -> list[Path]:
    """Write every form of one site (a ``pipeline.specs.raw.Site``) under ``out_dir/<siteid>/``.

    CSV files use the site's encoding from sites.yaml; sites exporting through Excel on
    Windows (every encoding but plain UTF-8) end lines with CRLF. Returns the paths written.
    """
    paths = []
    for form, df in forms.items():
        if site.file_format == "xlsx":
            path = out_dir / site.siteid / f"{form}.xlsx"
            write_atomic(path, xlsx_bytes(df, form, stamp))
        else:
            nl = "\n" if site.encoding == "utf-8" else "\r\n"
            path = out_dir / site.siteid / f"{form}.csv"
            write_atomic(path, csv_bytes(df, site.encoding, nl))
        paths.append(path)
    return paths
