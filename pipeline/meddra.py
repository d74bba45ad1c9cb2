"""MedDRA coding: the sponsor's licensed MedDRA ASCII release, or the CTCAE v4.0 mapping.

MedDRA is licensed, so the project ships no MedDRA files. A sponsor with a licence points
``PIPELINE_MEDDRA_DIR`` at the ``MedAscii`` folder of its release (the MSSO distribution:
``llt.asc pt.asc hlt.asc hlt_pt.asc hlgt.asc hlgt_hlt.asc soc.asc soc_hlgt.asc mdhier.asc``,
one record per line, every field ended by ``$``). The version is the first field of
``meddra_release.asc`` in that folder, or ``PIPELINE_MEDDRA_VERSION`` when the release has
no such file. An AE's lowest level term (the CTCAE v4.0 term, itself a MedDRA LLT) is then
coded LLT -> PT -> the PT's primary SOC path (HLT, HLGT, SOC), every level with its code.

Without a release, :func:`code_llt` falls back to ``specs/terms/ctcae_meddra.csv`` (the
MedDRA v12.0 terms and codes CTCAE v4.0 publishes): LLT, PT and SOC only, HLT/HLGT null.

A file that breaks the layout raises :class:`MeddraFormatError` naming file, line and field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from pipeline.terms import load_ctcae_meddra

ENV_DIR = "PIPELINE_MEDDRA_DIR"
ENV_VERSION = "PIPELINE_MEDDRA_VERSION"
FALLBACK_VERSION = "12.0"  # the MedDRA version CTCAE v4.0 was built on
FALLBACK_SOURCE = "specs/terms/ctcae_meddra.csv (CTCAE v4.0 -> MedDRA v12.0)"

_CODES5 = ["whoart_code", "harts_code", "costart_sym", "icd9_code", "icd9cm_code", "icd10_code"]
# Field order of each ASCII file (MedDRA ASCII & Spreadsheet File Format documentation).
LAYOUT: dict[str, list[str]] = {
    "llt.asc": ["llt_code", "llt_name", "pt_code", *("llt_" + c for c in _CODES5), "llt_currency", "llt_jart_code"],
    "pt.asc": ["pt_code", "pt_name", "null_field", "pt_soc_code", *("pt_" + c for c in _CODES5), "pt_jart_code"],
    "hlt.asc": ["hlt_code", "hlt_name", *("hlt_" + c for c in _CODES5), "hlt_jart_code"],
    "hlgt.asc": ["hlgt_code", "hlgt_name", *("hlgt_" + c for c in _CODES5), "hlgt_jart_code"],
    "soc.asc": ["soc_code", "soc_name", "soc_abbrev", *("soc_" + c for c in _CODES5), "soc_jart_code"],
    "hlt_pt.asc": ["hlt_code", "pt_code"],
    "hlgt_hlt.asc": ["hlgt_code", "hlt_code"],
    "soc_hlgt.asc": ["soc_code", "hlgt_code"],
    "mdhier.asc": [
        "pt_code",
        "hlt_code",
        "hlgt_code",
        "soc_code",
        "pt_name",
        "hlt_name",
        "hlgt_name",
        "soc_name",
        "soc_abbrev",
        "null_field",
        "pt_soc_code",
        "primary_soc_fg",
    ],
}
# Fields that must hold a MedDRA code (8 digits); others may be blank.
CODE_FIELDS = {"llt_code", "pt_code", "hlt_code", "hlgt_code", "soc_code", "pt_soc_code"}
REQUIRED_FIELDS = CODE_FIELDS | {"llt_name", "pt_name", "hlt_name", "hlgt_name", "soc_name"}
OPTIONAL_CODES = {"pt_soc_code"}  # blank allowed in pt.asc (the primary SOC is in mdhier)

# The AE variables the coder returns, in SDTMIG order.
AE_VARS = [
    "AELLT",
    "AELLTCD",
    "AEDECOD",
    "AEPTCD",
    "AEHLT",
    "AEHLTCD",
    "AEHLGT",
    "AEHLGTCD",
    "AEBODSYS",
    "AEBDSYCD",
    "AESOC",
    "AESOCCD",
]


class MeddraFormatError(ValueError):
    """A MedDRA ASCII file that breaks the layout: the message names file, line and field."""


def parse_line(line: str, fields: list[str], where: str) -> list[str]:
    """One ``$``-terminated record -> its field values (surrounding blanks removed).

    ``where`` is ``<file>:<line>`` for the message. Raises :class:`MeddraFormatError` when the
    record is not ended by ``$`` or has another number of fields than ``fields``.
    """
    text = line.rstrip("\r\n")
    if not text.endswith("$"):
        raise MeddraFormatError(f"{where}: record does not end with '$' (expected {len(fields)} fields: {'$'.join(fields)}$)")
    parts = text[:-1].split("$")
    if len(parts) != len(fields):
        raise MeddraFormatError(f"{where}: {len(parts)} fields, expected {len(fields)} ({'$'.join(fields)}$)")
    values = [p.strip() for p in parts]
    for name, value in zip(fields, values):
        if (
            name in CODE_FIELDS
            and not (value == "" and name in OPTIONAL_CODES)
            and not (value.isascii() and value.isdigit() and len(value) == 8)
        ):
            raise MeddraFormatError(f"{where}: field {name} = {value!r} is not an 8-digit MedDRA code")
        if name in REQUIRED_FIELDS - CODE_FIELDS and value == "":
            raise MeddraFormatError(f"{where}: field {name} is blank")
    return values


def read_asc(path: Path) -> pd.DataFrame:
    """One MedDRA ASCII file -> a DataFrame of text columns named by :data:`LAYOUT`, plus ``_line``."""
    fields = LAYOUT[path.name]
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise MeddraFormatError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise MeddraFormatError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x})") from None
    numbered = [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    rows = [parse_line(ln, fields, f"{path}:{i}") for i, ln in numbered]
    lines = [i for i, _ in numbered]
    if not rows:
        raise MeddraFormatError(f"{path}: empty file")
    df = pd.DataFrame(rows, columns=fields, dtype=object)
    df["_line"] = lines
    return df


@dataclass(frozen=True)
class Release:
    """A MedDRA ASCII release: one DataFrame per file (keys of :data:`LAYOUT` without ``.asc``)."""

    folder: Path
    version: str
    tables: dict

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def _release_version(folder: Path) -> str:
    rel = folder / "meddra_release.asc"
    if rel.exists():
        first = rel.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
        version = first[0].split("$")[0].strip() if first else ""
        if version:
            return version
        raise MeddraFormatError(f"{rel}:1: field version is blank")
    env = os.environ.get(ENV_VERSION, "").strip()
    if env:
        return env
    raise MeddraFormatError(f"{folder}: no meddra_release.asc and {ENV_VERSION} is not set: the MedDRA version is unknown")


def _check_links(t: dict[str, pd.DataFrame], folder: Path) -> None:
    """Every code a file refers to exists where it is defined; every PT has one primary SOC path."""

    def missing(child: str, col: str, parent: str, pcol: str) -> None:
        bad = ~t[child][col].isin(set(t[parent][pcol]))
        if bad.any():
            r = t[child][bad].iloc[0]
            raise MeddraFormatError(f"{folder / (child + '.asc')}:{r['_line']}: field {col} = {r[col]} is not in {parent}.asc")

    missing("llt", "pt_code", "pt", "pt_code")
    missing("hlt_pt", "hlt_code", "hlt", "hlt_code")
    missing("hlt_pt", "pt_code", "pt", "pt_code")
    missing("hlgt_hlt", "hlgt_code", "hlgt", "hlgt_code")
    missing("hlgt_hlt", "hlt_code", "hlt", "hlt_code")
    missing("soc_hlgt", "soc_code", "soc", "soc_code")
    missing("soc_hlgt", "hlgt_code", "hlgt", "hlgt_code")
    md = t["mdhier"]
    links = (("hlt_pt", "hlt_code", "pt_code"), ("hlgt_hlt", "hlgt_code", "hlt_code"), ("soc_hlgt", "soc_code", "hlgt_code"))
    for name, a, b in links:
        known = set(zip(t[name][a], t[name][b]))
        bad = [(x, y) not in known for x, y in zip(md[a], md[b])]
        if any(bad):
            r = md[bad].iloc[0]
            raise MeddraFormatError(f"{folder / 'mdhier.asc'}:{r['_line']}: {a} {r[a]} / {b} {r[b]} is not a link of {name}.asc")
    bad_flag = ~md["primary_soc_fg"].isin(["Y", "N"])
    if bad_flag.any():
        r = md[bad_flag].iloc[0]
        raise MeddraFormatError(
            f"{folder / 'mdhier.asc'}:{r['_line']}: field primary_soc_fg = {r['primary_soc_fg']!r}, expected Y or N"
        )
    primaries = md[md["primary_soc_fg"].eq("Y")].groupby("pt_code")["_line"].agg(list)
    twice = primaries[primaries.map(len) > 1]
    if len(twice):
        raise MeddraFormatError(
            f"{folder / 'mdhier.asc'}:{twice.iloc[0][1]}: PT {twice.index[0]} has a second primary SOC path (first on line {twice.iloc[0][0]})"
        )
    none = sorted(set(t["pt"]["pt_code"]) - set(primaries.index))
    if none:
        line = t["pt"].loc[t["pt"]["pt_code"].eq(none[0]), "_line"].iloc[0]
        raise MeddraFormatError(f"{folder / 'pt.asc'}:{line}: PT {none[0]} has no primary SOC path in mdhier.asc")


def read_release(folder: Path) -> Release:
    """Read and cross-check a MedDRA ASCII release folder; returns a :class:`Release`.

    Raises :class:`MeddraFormatError` for a missing file, a malformed record or a broken link.
    """
    folder = Path(folder)
    absent = [f for f in LAYOUT if not (folder / f).is_file()]
    if absent:
        raise MeddraFormatError(f"{folder}: MedDRA ASCII file(s) missing: {', '.join(absent)}")
    tables = {name.removesuffix(".asc"): read_asc(folder / name) for name in LAYOUT}
    for name in ("llt", "pt", "hlt", "hlgt", "soc"):
        dup = tables[name][f"{name}_code"].duplicated()
        if dup.any():
            r = tables[name][dup].iloc[0]
            raise MeddraFormatError(
                f"{folder / (name + '.asc')}:{r['_line']}: field {name}_code = {r[name + '_code']} appears twice"
            )
    _check_links(tables, folder)
    return Release(folder=folder, version=_release_version(folder), tables=tables)


@lru_cache(maxsize=4)
def _cached_release(folder: str, mtimes: tuple) -> Release:
    return read_release(Path(folder))


def configured_release() -> Release | None:
    """The release ``PIPELINE_MEDDRA_DIR`` points at (read once per content), or None when unset."""
    folder = os.environ.get(ENV_DIR, "").strip()
    if not folder:
        return None
    p = Path(folder)
    mtimes = tuple((f, (p / f).stat().st_mtime_ns) for f in LAYOUT if (p / f).exists())
    return _cached_release(str(p.resolve()), mtimes)


def dictionary_version() -> str:
    """MedDRA version used for coding: the configured release's, else the fallback's (12.0)."""
    rel = configured_release()
    return rel.version if rel is not None else FALLBACK_VERSION


def hierarchy(release: Release) -> pd.DataFrame:
    """One row per LLT: its PT and the PT's primary SOC path, with names and codes (text)."""
    llt = release["llt"][["llt_code", "llt_name", "pt_code", "llt_currency"]]
    md = release["mdhier"]
    prim = md[md["primary_soc_fg"].eq("Y")][["pt_code", "hlt_code", "hlgt_code", "soc_code"]]
    pt = release["pt"][["pt_code", "pt_name"]]
    out = llt.merge(pt, on="pt_code", how="left").merge(prim, on="pt_code", how="left")
    out = out.merge(release["hlt"][["hlt_code", "hlt_name"]], on="hlt_code", how="left")
    out = out.merge(release["hlgt"][["hlgt_code", "hlgt_name"]], on="hlgt_code", how="left")
    return out.merge(release["soc"][["soc_code", "soc_name"]], on="soc_code", how="left")


def _fallback() -> pd.DataFrame:
    m = load_ctcae_meddra()
    blank = lambda s: s.where(s != "", None)  # noqa: E731 — an empty code stays null, never invented
    return pd.DataFrame(
        {
            "llt_name": m["ctcae_term"],
            "llt_code": blank(m["meddra_llt_code"]),
            "pt_name": m["meddra_pt"],
            "pt_code": blank(m["meddra_pt_code"]),
            "hlt_name": None,
            "hlt_code": None,
            "hlgt_name": None,
            "hlgt_code": None,
            "soc_name": m["soc"],
            "soc_code": blank(m["soc_code"]),
            "llt_currency": "Y",
        }
    )


def code_llt(llt: pd.Series, release: Release | None = None) -> pd.DataFrame:
    """Code lowest level term names: returns :data:`AE_VARS` plus ``known`` and ``current``.

    ``release`` is a MedDRA ASCII release (default: the configured one); without one, the
    CTCAE v4.0 mapping is used. An LLT is matched by its exact name; one the dictionary does
    not hold has ``known`` False and every variable null. ``current`` is the LLT's currency
    flag (``llt_currency`` = Y; always True in the fallback).
    """
    if release is None:
        release = configured_release()
    h = hierarchy(release) if release is not None else _fallback()
    h = h.drop_duplicates("llt_name").set_index("llt_name")
    m = h.reindex(llt.to_numpy())
    known = llt.notna().to_numpy() & m["pt_name"].notna().to_numpy()
    out = pd.DataFrame(
        {
            "AELLT": llt.where(known, None).to_numpy(),
            "AELLTCD": m["llt_code"].to_numpy(),
            "AEDECOD": m["pt_name"].to_numpy(),
            "AEPTCD": m["pt_code"].to_numpy(),
            "AEHLT": m["hlt_name"].to_numpy(),
            "AEHLTCD": m["hlt_code"].to_numpy(),
            "AEHLGT": m["hlgt_name"].to_numpy(),
            "AEHLGTCD": m["hlgt_code"].to_numpy(),
            "AEBODSYS": m["soc_name"].to_numpy(),
            "AEBDSYCD": m["soc_code"].to_numpy(),
            "AESOC": m["soc_name"].to_numpy(),
            "AESOCCD": m["soc_code"].to_numpy(),
        },
        index=llt.index,
        dtype=object,
    )
    out = out.where(out.notna(), None)
    out["known"] = known
    out["current"] = ~known | m["llt_currency"].eq("Y").to_numpy()
    return out
