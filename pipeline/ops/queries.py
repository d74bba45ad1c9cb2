"""Query listings for the sites: every data problem of a build, one file per site.

The problems come from three layers: the raw quarantine (a record broke the input
contract), SDTM mapping queries (a record could not be mapped) and ADaM issues (a
derivation met an impossible value). They are merged into one listing with the columns
LISTING_COLS, redacted, given stable ids, and written per site as CSV (UTF-8 with BOM, so
Excel shows Chinese text) and XLSX, both byte-for-byte reproducible.

A query id is derived from what the problem is (site, subject, form, field, rule, value)
and its occurrence order among identical problems, never from the row number, which
moves when a site re-exports. The id therefore stays the same night after night while
the problem stays, and the sites can answer queries by id.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font

from pipeline.specs.raw import RawSpec, load_raw_spec

# Filled in by the site (its answer) and the data manager (CANCEL / CLOSE) in the returned listing;
# read back by pipeline/transfers/responses.py. Blank when the listing is written.
RETURN_COLS = ["site_response", "dm_decision"]
QUERY_COLS = ["siteid", "subjid", "form", "file", "row", "field", "value", "rule", "message"]
ADAM_ISSUE_COLS = ["USUBJID", "dataset", "variable", "value", "rule", "message"]
# What a query is (its id, where and what): the first columns of the site listing, the register and the
# lifecycle listing (pipeline/transfers).
QUERY_IDENTITY_COLS = ["query_id", "siteid", "subjid", "form", "field", "value", "rule"]
# Written for the site after ids are assigned (pipeline/ops/site_messages.py); not part of a query's identity.
# ``message`` stays the text of the layer that found the problem.
SITE_TEXT_COLS = ["site_message", "site_message_zh", "allowed", "context"]
LISTING_COLS = [*QUERY_IDENTITY_COLS, *SITE_TEXT_COLS, "message", "file", "row", "status", *RETURN_COLS]
REDACTED = "<redacted>"
UNASSIGNED_SITE = "unassigned"
# SDTM/ADaM names of identifier data, in case a later layer reports one (the raw dictionary
# only names the CRF fields).
DERIVED_IDENTIFIERS = frozenset({"BRTHDTC", "BRTHDT", "BRTHDTM", "SUBJINIT", "PTNAME"})
# A fixed timestamp for the xlsx zip entries and docProps (DOS zip dates start in 1980).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_DOC_TIME = "2000-01-01T00:00:00Z"
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# Control characters that XML 1.0 (and so openpyxl) refuses.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def identifier_fields(spec: RawSpec | None = None) -> frozenset[str]:
    """Take the raw spec; return the names of identifier fields (dictionary identifier = Y) plus their SDTM/ADaM names."""
    spec = spec or load_raw_spec()
    return frozenset(f.name for form in spec.forms.values() for f in form.fields if f.identifier) | DERIVED_IDENTIFIERS


def _empty(cols: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})


def split_usubjid(usubjid: pd.Series, studyid: str, siteids: Iterable[str]) -> tuple[pd.Series, pd.Series]:
    """Take USUBJIDs (STUDYID-SITEID-SUBJID); return (siteid, subjid). Unparseable ones: ("", USUBJID).

    Matched against the known site ids because a site's SUBJID may itself contain hyphens (101-007).
    """
    u = usubjid.astype("string").fillna("")
    site = pd.Series("", index=u.index, dtype=object)
    subj = u.astype(object).copy()
    for sid in sorted(siteids, key=len, reverse=True):
        prefix = f"{studyid}-{sid}-"
        hit = u.str.startswith(prefix) & (site == "")
        site[hit] = sid
        subj[hit] = u[hit].str.slice(len(prefix))
    return site, subj


def adam_issues_as_queries(issues: pd.DataFrame, studyid: str, siteids: Iterable[str]) -> pd.DataFrame:
    """Take ADaM issues (ADAM_ISSUE_COLS); return them as query rows (QUERY_COLS), form = dataset, field = variable."""
    if issues is None or issues.empty:
        return _empty(QUERY_COLS)
    site, subj = split_usubjid(issues["USUBJID"], studyid, siteids)
    return pd.DataFrame(
        {
            "siteid": site.to_numpy(),
            "subjid": subj.to_numpy(),
            "form": issues["dataset"].astype(str).to_numpy(),
            "file": "",
            "row": pd.NA,
            "field": issues["variable"].astype(str).to_numpy(),
            "value": issues["value"].to_numpy(),
            "rule": issues["rule"].astype(str).to_numpy(),
            "message": issues["message"].to_numpy(),
        }
    )[QUERY_COLS]


# --- drop rules: a whole site, file, sheet or column missing or unexpected (raised by the raw layer) ---
# rule -> message template ({siteid}, {form}, {file}, {field}, {value}); one query per site and item.
DROP_RULES: dict[str, str] = {
    "SITE_MISSING": "Site {siteid} sent nothing in this drop (drop.partial_drops allows it); none of its records are in this build",
    "FORM_MISSING": "Site {siteid} sent no {form!r} file in this drop; none of its {form} records are in this build",
    "COLUMN_MISSING": "Column {field} of form {form!r} is missing from {file}; read as blank for every record of the file",
    "COLUMN_UNKNOWN": "Column {field} in {file} is not in the dictionary for form {form!r} (specs/raw/dictionary.csv); its values are not read",
    "SHEET_UNREAD": "Sheet {field!r} in {file} holds {value} row(s) but only the sheet named {form!r} is read; move its records there or remove it",
}


def drop_queries(events: Iterable[tuple[str, str, str, str, str, str]]) -> pd.DataFrame:
    """Take (rule, siteid, form, file, field, value) events; return query rows (QUERY_COLS, row blank)
    with the messages of DROP_RULES."""
    rows = [
        {
            "siteid": site,
            "subjid": "",
            "form": form,
            "file": file,
            "row": pd.NA,
            "field": field,
            "value": value,
            "rule": rule,
            "message": DROP_RULES[rule].format(siteid=site, form=form, file=file, field=field, value=value),
        }
        for rule, site, form, file, field, value in events
    ]
    return pd.DataFrame(rows, columns=QUERY_COLS) if rows else _empty(QUERY_COLS)


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Query rows with every column a plain string except ``row`` (nullable Int64)."""
    out = df.reindex(columns=QUERY_COLS).copy()
    for c in QUERY_COLS:
        if c == "row":
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int64")
        else:
            out[c] = out[c].astype("string").fillna("").str.strip().astype(object)
    return out


def redact(df: pd.DataFrame, identifiers: Iterable[str]) -> pd.DataFrame:
    """Take query rows; return them with the value of every identifier field replaced by REDACTED.

    A field such as ``BRTHDAT,RFICDAT`` (a rule over several fields) counts as an identifier
    when any part is one. The value is also cut out of the message, in case the layer that
    raised the problem quoted it there.
    """
    ids = {i.upper() for i in identifiers}
    out = df.copy()
    is_id = out["field"].map(lambda f: any(p.strip().upper() in ids for p in str(f).split(",")))
    for i in out.index[is_id.to_numpy(dtype=bool)]:
        raw_value = str(out.at[i, "value"])
        msg = str(out.at[i, "message"])
        parts = {p.strip() for p in [raw_value, *raw_value.split(",")]} - {REDACTED}
        # Longest first so the joined value goes before its parts; single characters are
        # left alone (replacing every "Z" would wreck the message and protect nothing).
        for part in sorted((p for p in parts if len(p) >= 2), key=lambda p: (-len(p), p)):
            msg = msg.replace(part, REDACTED)
        out.at[i, "message"] = msg
        out.at[i, "value"] = REDACTED
    return out


def assign_query_ids(df: pd.DataFrame) -> pd.DataFrame:
    """Take redacted query rows; return the listing (LISTING_COLS) sorted, with query_id and status OPEN.

    Identical problems (same site, subject, form, field, rule, value) are numbered 1..n in
    file then row order; the number joins the hash so two such problems keep distinct ids
    while the relative order of their records holds.
    """
    group = ["siteid", "subjid", "form", "field", "rule", "value"]
    out = df.sort_values([*group, "file", "row", "message"], kind="mergesort", na_position="last").reset_index(drop=True)
    occurrence = out.groupby(group, sort=False).cumcount() + 1

    def qid(row: tuple, n: int) -> str:
        text = "\x1f".join([*map(str, row), str(n)])
        return f"Q{row[0] or 'X'}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:10].upper()}"

    out["query_id"] = [qid(r, n) for r, n in zip(out[group].itertuples(index=False, name=None), occurrence)]
    if out["query_id"].duplicated().any():  # 40 bits per site: a clash would be a bug, not bad luck
        raise ValueError("query id collision: " + ", ".join(out.loc[out["query_id"].duplicated(), "query_id"]))
    out["status"] = "OPEN"
    for c in [*SITE_TEXT_COLS, *RETURN_COLS]:
        if c not in out:
            out[c] = ""
    # Subjects in natural order (GZ3-2 before GZ3-10), as a site lists them.
    out["_subj"] = out["subjid"].map(lambda s: re.sub(r"\d+", lambda m: m.group().zfill(12), s))
    out = out.sort_values(
        ["siteid", "_subj", "form", "file", "row", "field", "rule", "query_id"], kind="mergesort", na_position="last"
    )
    return out[LISTING_COLS].reset_index(drop=True)


def write_for_sites(listing: pd.DataFrame, spec: RawSpec, raw_dir: Path | None = None) -> pd.DataFrame:
    """Take a redacted listing; return it with ``site_message`` (English), ``site_message_zh`` (sites of a
    Chinese-speaking country), ``allowed`` and, when ``raw_dir`` is given, ``context`` written for the site."""
    from pipeline.ops import site_messages as sm
    from pipeline.terms import load_verbatim_dictionary

    if listing.empty:
        return listing
    out = listing.copy()
    ae_terms = tuple(sorted(set(load_verbatim_dictionary()["verbatim"])))
    en, zh, allowed = [], [], []
    for r in out.to_dict("records"):
        ok = sm.allowed_text(spec, r["form"], r["field"], r["rule"], r["siteid"], ae_terms, r["value"])
        m_en, m_zh = sm.site_messages(r, spec, ok)
        en.append(m_en)
        zh.append(m_zh if sm.is_chinese_site(spec, r["siteid"]) else "")
        allowed.append(ok[0])
    out["site_message"], out["site_message_zh"], out["allowed"] = en, zh, allowed
    if raw_dir is not None:
        out["context"] = sm.read_contexts(out, raw_dir, spec).to_numpy()
    # Templates quote ``value``, already redacted; context never shows identifier fields.
    return out


def build_listing(
    raw_quarantines: Iterable[pd.DataFrame],
    sdtm_queries: Iterable[pd.DataFrame],
    adam_issues: Iterable[pd.DataFrame],
    spec: RawSpec | None = None,
    raw_dir: Path | None = None,
) -> pd.DataFrame:
    """Take the raw quarantines, SDTM queries (QUERY_COLS) and ADaM issues; return one redacted listing
    (LISTING_COLS) with its messages written for the sites (``raw_dir``: where to read each record's context)."""
    spec = spec or load_raw_spec()
    frames = [f for f in [*raw_quarantines, *sdtm_queries] if f is not None and not f.empty]
    frames += [adam_issues_as_queries(i, spec.study, spec.sites) for i in adam_issues if i is not None and not i.empty]
    if not frames:
        return _empty(LISTING_COLS)
    rows = _normalise(pd.concat([f.reindex(columns=QUERY_COLS) for f in frames], ignore_index=True))
    # The same problem reported twice (e.g. by two SDTM domains reading one raw record) is one query.
    rows = rows.drop_duplicates(QUERY_COLS)
    return write_for_sites(assign_query_ids(redact(rows, identifier_fields(spec))), spec, raw_dir)


def site_file_stem(siteid: str) -> str:
    """Take a site id; return a safe file stem (``unassigned`` for a blank one)."""
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", str(siteid))
    return stem or UNASSIGNED_SITE


def split_by_site(listing: pd.DataFrame, siteids: Iterable[str]) -> dict[str, pd.DataFrame]:
    """Take the listing and the study's site ids; return {file stem: that site's rows}, every site present.

    A site with no open query still gets an (empty) listing, so last night's file of
    problems since fixed is overwritten rather than left behind.
    """
    out = {site_file_stem(s): listing.iloc[0:0] for s in siteids}
    for site, rows in listing.groupby("siteid", sort=True):
        out[site_file_stem(site)] = rows.reset_index(drop=True)
    return dict(sorted(out.items()))


def _csv_cell(v: object) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)):
        return ""
    s = str(v)
    # Excel runs a cell starting with = + - @ as a formula; site text is not trusted. Numbers stay as they are.
    if s[:1] in ("=", "+", "-", "@") and not _NUMBER.match(s):
        return "'" + s
    return s


def listing_csv_bytes(listing: pd.DataFrame, columns: list[str] | None = None) -> bytes:
    """Take a listing (and its columns, default LISTING_COLS); return CSV bytes: UTF-8 with BOM, CRLF
    line ends, every field as text."""
    cols = columns or LISTING_COLS
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(cols)
    for row in listing[cols].itertuples(index=False, name=None):
        w.writerow([_csv_cell(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


_WIDTHS = {
    "query_id": 18,
    "siteid": 7,
    "subjid": 12,
    "form": 8,
    "field": 12,
    "value": 18,
    "rule": 20,
    "message": 50,
    "site_message": 70,
    "site_message_zh": 50,
    "allowed": 40,
    "context": 50,
    "file": 16,
    "row": 6,
    "status": 8,
    "site_response": 50,
    "dm_decision": 12,
}


def _xlsx_raw(listing: pd.DataFrame, cols: list[str], sheet: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(cols)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r, row in enumerate(listing[cols].itertuples(index=False, name=None), start=2):
        values: list[int | str | None] = []
        for col, v in zip(cols, row):
            if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)):
                values.append(None)
            elif col == "row":
                values.append(int(v))
            else:
                values.append(_XML_ILLEGAL.sub("", str(v)))
        ws.append(values)
        for c, v in enumerate(values, start=1):
            # openpyxl turns a string starting with "=" into a formula; site text stays text.
            # (ws.cell is a lookup; ws[row] scans the sheet for its width, quadratic in rows.)
            if isinstance(v, str):
                ws.cell(row=r, column=c).data_type = "s"
    for i, col in enumerate(cols, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = _WIDTHS.get(col, 16)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def normalise_xlsx(data: bytes) -> bytes:
    """Take xlsx bytes; return the same workbook with fixed zip timestamps and docProps times."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = content.decode("utf-8")
                text = re.sub(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)", rf"\g<1>{_DOC_TIME}\g<3>", text)
                content = text.encode("utf-8")
            zi = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            zi.create_system = 0
            dst.writestr(zi, content)
    return out.getvalue()


def listing_xlsx_bytes(listing: pd.DataFrame, columns: list[str] | None = None, sheet: str = "queries") -> bytes:
    """Take a listing (and its columns, default LISTING_COLS); return a reproducible xlsx workbook
    (sheet ``sheet``, text cells, header frozen)."""
    return normalise_xlsx(_xlsx_raw(listing, columns or LISTING_COLS, sheet))


def site_files(listing: pd.DataFrame, siteids: Iterable[str]) -> dict[str, bytes]:
    """Take the listing and site ids; return {``<site>.csv`` / ``<site>.xlsx``: bytes} for every site."""
    files: dict[str, bytes] = {}
    for stem, rows in split_by_site(listing, siteids).items():
        files[f"{stem}.csv"] = listing_csv_bytes(rows)
        files[f"{stem}.xlsx"] = listing_xlsx_bytes(rows)
    return files


def counts_table(listing: pd.DataFrame, siteids: Iterable[str]) -> pd.DataFrame:
    """Take the listing; return query counts with one row per rule and one column per site, plus totals."""
    sites = sorted({*map(str, siteids), *listing["siteid"].astype(str)})
    if listing.empty:
        table = pd.DataFrame(0, index=pd.Index([], name="rule"), columns=sites)
    else:
        table = pd.crosstab(listing["rule"], listing["siteid"]).reindex(columns=sites, fill_value=0)
    table = table.sort_index()
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    table.columns = [c if c else UNASSIGNED_SITE for c in table.columns]
    return table.astype(int).reset_index().rename(columns={"index": "rule"})


def markdown_table(df: pd.DataFrame) -> str:
    """Take a small frame; return a markdown table (pipes in values escaped)."""
    if df.empty:
        return "_none_"
    # A drop query has no row: blank, not "nan".
    cells = (
        df.astype(object)
        .where(df.notna(), "")
        .astype(str)
        .apply(lambda c: c.str.replace("|", "\\|", regex=False).str.replace("\n", " ", regex=False))
    )
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(r) + " |" for r in cells.itertuples(index=False, name=None)]
    return "\n".join(lines)


def summary(listing: pd.DataFrame, siteids: Iterable[str], sample_rows: int = 20) -> Mapping[str, Any]:
    """Take the listing; return {total, by_site (dict), counts_md, sample_md} for the asset's metadata."""
    sites = list(siteids)
    sample = listing.head(sample_rows)
    more = len(listing) - len(sample)
    note = f"\n\n_{more} more queries not shown._" if more > 0 else ""
    by_site = {site_file_stem(s): 0 for s in sites}
    by_site.update({site_file_stem(k): int(v) for k, v in listing["siteid"].value_counts().sort_index().items()})
    return {
        "total": len(listing),
        "by_site": dict(sorted(by_site.items())),
        "counts_md": markdown_table(counts_table(listing, sites)),
        "sample_md": markdown_table(sample) + note,
    }
