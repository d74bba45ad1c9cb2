"""Define-XML 2.1 for one layer (SDTM or ADaM), generated from the dataset specs and CT.

What comes from where:

- datasets (ItemGroupDef): the spec's name, label, class, structure, keys, comment;
- variables (ItemDef/ItemRef): name, label, type, codelist, origin, sources, derivation,
  display format and core (Mandatory) from the spec; Length and integer/float from the
  data when frames are given, so define.xml states the lengths the XPT files really have;
- codelists: ``pipeline.specs.ct.load_ct()`` (NCI codes as ``Alias Context="nci:ExtCodeID"``);
- standards: SDTMIG 3.4 / ADaMIG 1.3 and the CT version of ``specs/trial/study.yaml``;
- CreationDateTime: ``common.creation_datetime`` (SOURCE_DATE_EPOCH or the code's commit time), never the wall clock.

:func:`build_define` first collects, per section, plain records from the specs, CT and data
(``_collect_variables`` and ``_collect_value_level``: ItemDefs, ValueListDefs and WhereClauseDefs;
``_collect_item_group``: ItemGroupDefs; ``_collect_origin``; ``_Codelists.collect``: CodeLists;
``_collect_standards``; ``_collect_methods``; ``_collect_comments``; ``_collect_documents``: the
aCRF and reviewer's guides), then writes each record as its element (``_write_*``) in the order of
the Define-XML 2.1 schema. The ADaM define's Analysis Results Metadata is added by
:mod:`pipeline.submission.define_arm`.

The builder never writes a dangling reference or an XSD-invalid value: what the specs do not
support (a codelist missing from CT, a Derived variable without a derivation, a class outside
the Define-XML enumeration ...) is left out and reported in ``DefineResult.problems``, which is
what a reviewer's tool would flag. ``define.html`` is the CDISC stylesheet's rendering
(shipped by the ``defineutils`` package), and the stylesheet is written beside define.xml so
the XML also opens in a browser.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from lxml import etree

from pipeline import io, meddra
from pipeline.columns import take_text
from pipeline.specs.study import load_study
from pipeline.submission.common import (
    PACKAGE,
    all_str,
    char_width,
    codelist_oid,
    comment_oid,
    creation_datetime,
    is_iso8601_char,
    is_iso8601_duration,
    item_oid,
    itemgroup_oid,
    layer,
    leaf_id,
    mdv_oid,
    method_oid,
    numeric_kind,
    package_version,
    submission_frame,
    temporal_kind_of,
    xpt_name,
)

if TYPE_CHECKING:
    from pipeline.specs.ct import Codelist
    from pipeline.specs.datasets import DatasetSpec

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NSMAP = {None: ODM_NS, "def": DEF_NS, "xlink": XLINK_NS}
DEFINE_VERSION = "2.1.0"
STYLESHEET = "define2-1.xsl"

# Dataset order in define.xml (and in the reviewer's table of contents): by class as the
# IGs list them, then by name.
CLASS_ORDER = [
    "TRIAL DESIGN",
    "SPECIAL PURPOSE",
    "INTERVENTIONS",
    "EVENTS",
    "FINDINGS",
    "FINDINGS ABOUT",
    "RELATIONSHIP",
    "STUDY REFERENCE",
    "SUBJECT LEVEL ANALYSIS DATASET",
    "OCCURRENCE DATA STRUCTURE",
    "BASIC DATA STRUCTURE",
    "REFERENCE DATA STRUCTURE",
    "ADAM OTHER",
]

# Spec origin -> (def:Origin Type, Source). Source says who supplied the value (Define-XML 2.1).
ORIGINS = {
    "collected": ("Collected", "Investigator"),
    "crf": ("Collected", "Investigator"),
    "edt": ("Collected", "Vendor"),
    "derived": ("Derived", "Sponsor"),
    "assigned": ("Assigned", "Sponsor"),
    "protocol": ("Protocol", "Sponsor"),
    "predecessor": ("Predecessor", None),
    "not available": ("Not Available", None),
}


def _defineutils_dir() -> Path:
    # Found, not imported: importing defineutils loads xmlschema (0.15 s) for two data folders.
    spec = importlib.util.find_spec("defineutils")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("defineutils is not installed (it ships the Define-XML schema and stylesheet)")
    return Path(spec.origin).parent


def _schema_dir() -> Path:
    return _defineutils_dir() / "validate" / "schema"


def stylesheet_path() -> Path:
    """The CDISC Define-XML 2.1 stylesheet shipped by ``defineutils`` (MIT, Lex Jansen)."""
    return _defineutils_dir() / "definehtml" / STYLESHEET


@lru_cache(maxsize=1)
def _xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(_schema_dir() / "cdisc-define-2.1" / "define2-1-0.xsd")))


@lru_cache(maxsize=4)
def _enumeration(type_name: str) -> frozenset[str]:
    """The values of a simple type of the Define-XML 2.1 XSD (read from the schema itself)."""
    doc = etree.parse(str(_schema_dir() / "cdisc-define-2.1" / "define-enumerations.xsd"))
    xs = "http://www.w3.org/2001/XMLSchema"
    st = doc.find(f"{{{xs}}}simpleType[@name='{type_name}']")
    return frozenset(e.get("value") for e in st.iter(f"{{{xs}}}enumeration")) if st is not None else frozenset()


@dataclass
class DefineResult:
    """A define.xml document and what in the specs keeps it from being complete."""

    xml: bytes
    problems: list[str] = field(default_factory=list)


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _sub(parent: etree._Element, tag: str, attrib: Mapping[str, object] | None = None, ns: str = ODM_NS) -> etree._Element:
    """Child element with the attributes whose value is not None, in the order given."""
    el = etree.SubElement(parent, _q(ns, tag))
    for k, v in (attrib or {}).items():
        if v is not None:
            el.set(k, str(v))
    return el


def _description(parent: etree._Element, text: str) -> None:
    d = _sub(parent, "Description")
    t = _sub(d, "TranslatedText")
    t.set(_q(XML_NS, "lang"), "en")
    t.text = text


def _dataset_sort_key(spec: DatasetSpec) -> tuple[int, str]:
    cls = (spec.cls or "").upper()
    return (CLASS_ORDER.index(cls) if cls in CLASS_ORDER else len(CLASS_ORDER), spec.name)


def _slug(text: str) -> str:
    """An OID-friendly rendering of a value (letters, digits, underscores)."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "X"


def _as_text(col: pd.Series) -> pd.Series:
    """Values as the text define.xml compares and lists them in (integral numbers without .0)."""
    if pd.api.types.is_numeric_dtype(col):

        def text(x):
            return None if pd.isna(x) else (str(int(x)) if float(x).is_integer() else repr(float(x)))

        exact = col.dtype == np.float64  # factorize's equality is ==, and equal floats have one text
    else:

        def text(x):
            return None if x is None or (isinstance(x, float) and pd.isna(x)) else str(x)

        exact = all_str(col)  # str values and None/NaN only (factorize makes those -1)
    if exact and len(col):
        # The text of each distinct value once (a column has few), instead of one call per row.
        codes, uniques = pd.factorize(col)
        if col.dtype == object and not all(x is None or isinstance(x, float) for x in col.to_numpy()[codes < 0]):
            return col.map(text)  # another missing marker (pd.NA ...) has a text of its own
        # As TEXT: value-level masks (==) and the set of values used then run in Arrow.
        return take_text([text(u) for u in uniques], codes, col.index)
    return col.map(text)


def _used(values: pd.Series) -> set[str]:
    """The distinct non-missing values of a column of texts."""
    return set(values.dropna().unique())


@dataclass
class _Item:
    """What define.xml says about one variable of one dataset, or one value-level case of it."""

    oid: str
    name: str
    label: str
    data_type: str
    length: int | None
    digits: int | None
    fmt: str | None
    origin: str | None
    sources: tuple[str, ...]
    derivation: str | None
    where: str  # "AE.AETERM" or "LB.LBORRES [LBTESTCD = ALB]", for messages and method names
    codelist: str | None = None  # CodeList OID
    method: str | None = None  # MethodDef OID
    value_list: str | None = None  # ValueListDef OID (parent variables with value-level metadata)


_DATE = r"\d{4}-\d{2}-\d{2}"
_PARTIAL_DATE = r"\d{4}(-\d{2}(-\d{2})?)?"


def _iso_date_type(values: pd.Series | None) -> str:
    """Define-XML DataType of ISO 8601 date values: ``date`` when every value is a complete date,
    ``partialDate`` when some lack the day or month (ODM 1.3.2: YYYY[-MM[-DD]]), ``datetime``
    (which admits partial values) when any carries a time or the values are not known."""
    if values is None:
        return "datetime"
    v = values.dropna().astype(str)
    if len(v) and v.str.fullmatch(_DATE).all():
        return "date"
    if len(v) and v.str.fullmatch(_PARTIAL_DATE).all():
        return "partialDate"
    return "datetime"


def _typing(
    name: str, typ: str, fmt: str | None, spec_length: int | None, col: pd.Series | None
) -> tuple[str, int | None, int | None]:
    """(DataType, Length, SignificantDigits); Length and integer/float from the data when present."""
    if temporal_kind_of(typ, fmt):
        return "integer", 8, None  # SAS day/second numbers shown through a DATE9./DATETIME20. format
    if typ == "Num":
        if col is None:
            return "float", 8, None
        kind, digits = numeric_kind(col)
        return kind, 8, digits if kind == "float" else None
    if is_iso8601_char(name, typ):
        return "datetime", None, None
    if is_iso8601_duration(name, typ):
        return "durationDatetime", None, None
    return "text", (char_width(col) if col is not None else (spec_length or 1)), None


# --------------------------------------------------------------------------- what is collected
#
# Collectors read the specs, CT and frames and return plain records (below); writers turn each
# record into its Define-XML 2.1 element. Problems are reported by the collectors, in the order a
# reader meets them: variables and value-level cases, datasets, origins, codelists, standards.

ValueLists = dict[str, list[tuple[_Item, list[tuple[str, str]]]]]  # ValueListDef OID -> (item, where clause)


@dataclass(frozen=True)
class _Term:
    """One term of a CodeList: a CodeListItem when it has a decode, else an EnumeratedItem."""

    value: str
    order: int
    extended: bool  # def:ExtendedValue="Yes": a sponsor term added to a CDISC codelist
    decode: str | None
    nci_code: str | None  # Alias nci:ExtCodeID of a CDISC term


@dataclass
class _CodeListDef:
    """One CodeList: the terms of a spec codelist (or union of them), or an external dictionary."""

    oid: str
    name: str
    data_type: str
    cdisc: bool = False  # every codelist of the union is CDISC CT (the CT standard is then declared)
    standard: str | None = None  # def:StandardOID
    terms: list[_Term] = field(default_factory=list)
    alias: bool = False  # a CodeList-level Alias nci:ExtCodeID (a single CDISC codelist)
    nci_code: str | None = None
    dictionary: str | None = None  # ExternalCodeList/@Dictionary (None: not external)
    version: str | None = None


@dataclass
class _ItemGroupDef:
    """One ItemGroupDef: the dataset's attributes, label, ItemRefs, def:Class and its def:leaf."""

    name: str
    attrs: dict[str, object]  # in the order written; def:StandardOID may be replaced by the dataset's own IG
    label: str
    refs: list[dict[str, object]]
    cls: str | None
    subclass: str | None


@dataclass(frozen=True)
class _OriginDef:
    """def:Origin of an ItemDef: type, source, description and the aCRF pages of a Collected value."""

    type: str
    source: str | None
    description: str | None
    crf_leaf: str | None = None
    pages: tuple[int, ...] = ()


@dataclass(frozen=True)
class _MethodDef:
    """One ``MethodDef`` (Type Computation): the derivation of a Derived item."""

    oid: str
    name: str
    description: str


@dataclass(frozen=True)
class _CommentDef:
    """One ``def:CommentDef``: a dataset's spec comment (the sponsor's choices)."""

    oid: str
    description: str


@dataclass
class _Standards:
    """def:Standard attributes in the order written, and the IG standard of each dataset."""

    standards: list[dict[str, object]]
    dataset: dict[str, str]


@dataclass(frozen=True)
class _Documents:
    """The documents define.xml links: (leaf ID, file, title) of the aCRF and of the supplemental docs."""

    crf: tuple[tuple[str, str, str], ...]
    supplemental: tuple[tuple[str, str, str], ...]

    @property
    def all(self) -> tuple[tuple[str, str, str], ...]:
        return self.crf + self.supplemental


class _Codelists:
    """Collector of the CodeLists define.xml needs: each spec codelist (or union of them) and external
    dictionary referenced by a variable, with the values the data uses."""

    def __init__(self, ct: Mapping[str, Codelist], problems: list[str]):
        self.ct = ct
        self.problems = problems
        self.used: dict[str, dict] = {}  # OID -> {"names", "dictionary", "types", "values", "vars"}

    def ref(self, names: tuple[str, ...], dtype: str, where: str, values: set[str] | None) -> str | None:
        """CodeList OID for ``names`` (None when one is not in specs/ct: reported)."""
        missing = [n for n in names if n not in self.ct]
        if missing:
            self.problems.append(f"{where}: codelist {', '.join(missing)} is not in specs/ct (no CodeListRef written)")
            return None
        oid = codelist_oid(".".join(names))
        use = self.used.setdefault(oid, {"names": names, "dictionary": None, "types": set(), "values": set(), "vars": []})
        use["types"].add(dtype)
        use["vars"].append(where)
        if values:
            use["values"] |= values
            allowed = {t.value for n in names for t in self.ct[n].terms}
            bad = sorted(values - allowed)
            if bad:
                self.problems.append(f"{where}: values {bad[:10]} are not terms of codelist {'/'.join(names)}")
        return oid

    def external(self, dictionary: str, dtype: str, where: str) -> str:
        """CodeList OID of an external dictionary (MedDRA, ISO 3166 ...), one per data type."""
        oid = codelist_oid(_slug(dictionary).upper() + ("" if dtype == "text" else f".{dtype.upper()}"))
        use = self.used.setdefault(oid, {"names": (), "dictionary": dictionary, "types": set(), "values": set(), "vars": []})
        use["types"].add(dtype)
        use["vars"].append(where)
        return oid

    def collect(self, ct_std: str) -> list[_CodeListDef]:
        """The CodeLists (``CodeList``) in OID order; ``ct_std``: the def:StandardOID of a single CDISC codelist."""
        out = []
        for oid in sorted(self.used):
            use = self.used[oid]
            types = use["types"]
            if len(types) > 1:
                self.problems.append(f"{oid}: used by variables of different types {sorted(types)} ({', '.join(use['vars'])})")
            dtype = "text" if "text" in types or not types else min(types)
            if dtype not in ("text", "integer", "float"):
                dtype = "text"
            if use["dictionary"]:
                out.append(self._external_def(oid, use["dictionary"], dtype))
            else:
                out.append(self._codelist_def(oid, [self.ct[n] for n in use["names"]], use["values"], dtype, ct_std))
        return out

    @staticmethod
    def _codelist_def(oid: str, parts: list[Codelist], used: set[str], dtype: str, ct_std: str) -> _CodeListDef:
        """A CodeList of specs/ct terms: a union of codelists is the sponsor's (no CT standard, no NCI code)."""
        all_cdisc = all(c.is_cdisc for c in parts)
        single = all_cdisc and len(parts) == 1
        decode = any(_use_decode(c) for c in parts)
        terms: list[_Term] = []
        seen: set[str] = set()
        for cl in parts:
            for t in _codelist_terms(cl, used):
                if t.value in seen:
                    continue
                seen.add(t.value)
                terms.append(
                    _Term(
                        t.value,
                        len(terms) + 1,
                        bool(cl.is_cdisc and t.sponsor),
                        (t.decode or t.value) if decode else None,
                        t.code if t.code and not t.sponsor else None,
                    )
                )
        return _CodeListDef(
            oid,
            " / ".join(c.label or c.name for c in parts),
            dtype,
            cdisc=bool(parts) and all_cdisc,
            standard=ct_std if single else None,
            terms=terms,
            alias=len(parts) == 1 and parts[0].is_cdisc,
            nci_code=parts[0].code if len(parts) == 1 else None,
        )

    def _external_def(self, oid: str, dictionary: str, dtype: str) -> _CodeListDef:
        """A CodeList of an external dictionary, with the version the spec (or the MedDRA release) gives."""
        name, version = _split_dictionary(dictionary)
        if version is None and name == "MedDRA":  # the version of the release the AEs were coded with
            version = meddra.dictionary_version()
        if version is None and name != "ISO 3166":
            self.problems.append(
                f"{oid}: external dictionary {dictionary!r} has no version in the spec (ExternalCodeList/@Version)"
            )
        return _CodeListDef(oid, dictionary, dtype, dictionary=name, version=version)


def _split_dictionary(text: str) -> tuple[str, str | None]:
    """``"CTCAE v4.0"`` -> ("CTCAE", "4.0"); ``"MedDRA"`` -> ("MedDRA", None); names as the
    Define-XML enumeration spells them where one matches."""
    known = sorted(_enumeration("ExternalCodeListDictionary"), key=len, reverse=True)
    for k in known:
        if text.upper().startswith(k.upper()):
            rest = text[len(k) :].strip()
            m = re.match(r"^v?(?:ersion\s*)?(\d+(?:\.\d+)*)$", rest, flags=re.IGNORECASE)
            return k, (m.group(1) if m else None)
    m = re.match(r"^(.*?)\s+v?(\d+(?:\.\d+)*)$", text)
    return (m.group(1), m.group(2)) if m else (text, None)


def _codelist_terms(cl: Codelist, used: set[str]) -> list:
    """The terms listed: for CDISC codelists those the data uses (all when nothing is known),
    for sponsor and trial codelists all of them (the sponsor defines them whole)."""
    if cl.is_cdisc:
        hit = [t for t in cl.terms if t.value in used]
        if hit:
            return hit
    return list(cl.terms)


def _use_decode(cl: Codelist) -> bool:
    """Sponsor codelists carry their decode; of the trial codelists only the codes (ARMCD -> ARM).

    CDISC submission values are listed as they stand (EnumeratedItem), their NCI code
    identifying them.
    """
    if cl.origin == "SPONSOR":
        return any(t.decode and t.decode != t.value for t in cl.terms)
    if cl.origin == "TRIAL":
        return cl.name.upper().endswith("CD")
    return False


# --------------------------------------------------------------------------- collectors


class _FrameText:
    """A dataset's columns as text (:func:`_as_text`), each computed once and only when asked for."""

    def __init__(self, frame: pd.DataFrame | None):
        self.frame = frame
        self.cache: dict[str, pd.Series] = {}

    def __call__(self, name: str) -> pd.Series:
        if name not in self.cache:
            assert self.frame is not None
            self.cache[name] = _as_text(self.frame[name])
        return self.cache[name]


def _method(it: _Item, ds: str, var: str, suffix: str | None, problems: list[str]) -> None:
    """Set the MethodDef OID of a Derived item (a Derived item without a derivation is reported)."""
    if (it.origin or "").strip().lower() != "derived":
        return
    if it.derivation:
        it.method = method_oid(ds, var) + (f".{suffix}" if suffix else "")
    else:
        problems.append(f"{it.where}: Derived without a derivation (define.xml needs a MethodDef)")


def _variable_codelists(v) -> tuple[str, ...]:
    """The spec codelist names of a variable (``codelists`` or ``codelist``, one name or a list)."""
    names = getattr(v, "codelists", None)
    if names:
        return tuple(names)
    return (v.codelist,) if isinstance(v.codelist, str) else tuple(v.codelist or ())


def _collect_variables(
    spec: DatasetSpec,
    frame: pd.DataFrame | None,
    text: _FrameText,
    widths: Mapping[str, int],
    codelists: _Codelists,
    problems: list[str],
) -> list[_Item]:
    """The ItemDefs of a dataset's variables (``ItemDef``, one per spec variable, in spec order).

    Length and integer/float from ``frame`` when given (``widths``, the XPT's allotted Char
    lengths, win); CodeListRef to the spec codelist or external dictionary; MethodOID of a Derived variable.
    """
    out = []
    for v in spec.variables:
        col = frame[v.name] if frame is not None else None
        dtype, length, digits = _typing(v.name, v.type, v.format, v.length, col)
        if dtype == "text" and v.name in widths:
            length = widths[v.name]
        it = _Item(
            item_oid(spec.name, v.name),
            v.name,
            v.label,
            dtype,
            length,
            digits,
            v.format,
            v.origin,
            tuple(v.sources or ()),
            v.derivation,
            f"{spec.name}.{v.name}",
        )
        names = _variable_codelists(v)
        dictionary = getattr(v, "dictionary", None)
        if names:
            it.codelist = codelists.ref(names, dtype, it.where, _used(text(v.name)) if frame is not None else None)
        elif dictionary:
            it.codelist = codelists.external(str(dictionary), dtype, it.where)
        _method(it, spec.name, v.name, None, problems)
        out.append(it)
    return out


def _collect_value_level(
    spec: DatasetSpec,
    frame: pd.DataFrame | None,
    text: _FrameText,
    variables: list[_Item],
    codelists: _Codelists,
    problems: list[str],
    vlm: ValueLists,
) -> None:
    """The value-level items of a dataset into ``vlm``: one ``ItemDef`` per case of the spec's
    ``value_level``, each with its ``def:WhereClauseDef`` (RangeCheck EQ on the where variables);
    the parent variable gets the ``def:ValueListDef`` OID ``VL.<dataset>.<variable>``."""
    by_name = {it.name: it for it in variables}
    for n, vl in enumerate(getattr(spec, "value_level", ()) or (), start=1):
        parent = by_name.get(vl.variable)
        if parent is None:
            problems.append(f"{spec.name}: value-level metadata for unknown variable {vl.variable}")
            continue
        pv = spec.variable(vl.variable) if hasattr(spec, "variable") else next(v for v in spec.variables if v.name == vl.variable)
        where = [(k, str(val)) for k, val in vl.where]
        vl_oid = f"VL.{spec.name}.{vl.variable}"
        suffix = _slug(".".join(val for _, val in where))
        if any(suffix == _slug(".".join(val for _, val in w)) for _i, w in vlm.get(vl_oid, [])):
            suffix += f".{n}"
        sub = None
        if frame is not None:
            mask = pd.Series(True, index=frame.index)
            for k, val in where:
                mask &= (text(k) == val) if k in frame.columns else False
            sub = frame.loc[mask, vl.variable]
        dtype, length, digits = _typing(pv.name, vl.type or pv.type, pv.format, vl.length or pv.length, sub)
        if pv.type == "Char" and dtype in ("integer", "float"):
            # A number held in a character result (--ORRES): its length is the text's.
            length = char_width(sub) if sub is not None else (vl.length or pv.length)
        qnam = dict(where).get("QNAM")
        if pv.type == "Char" and qnam and is_iso8601_char(qnam, "Char"):
            # A supplemental qualifier named --DTC holds ISO 8601 dates (SUPPRS.QVAL of RECURDTC).
            dtype, length, digits = _iso_date_type(sub), None, None
        where_text = " and ".join(f"{k} = {val}" for k, val in where)
        it = _Item(
            f"{item_oid(spec.name, vl.variable)}.{suffix}",
            vl.variable,
            (vl.label or f"{vl.variable} where {where_text}") + (f" ({vl.unit})" if getattr(vl, "unit", None) else ""),
            dtype,
            length,
            digits,
            pv.format,
            vl.origin,
            tuple(vl.sources or ()),
            vl.derivation,
            f"{spec.name}.{vl.variable} [{where_text}]",
        )
        vl_names = tuple(getattr(vl, "codelists", None) or ())
        if vl_names:
            used = _used(_as_text(sub)) if sub is not None else None
            it.codelist = codelists.ref(vl_names, dtype, it.where, used)
        _method(it, spec.name, vl.variable, suffix, problems)
        parent.value_list = vl_oid
        vlm.setdefault(vl_oid, []).append((it, where))


def _collect_item_group(
    spec: DatasetSpec,
    variables: list[_Item],
    layer_name: str,
    purpose: str,
    ig_std: str,
    problems: list[str],
) -> _ItemGroupDef:
    """The ``ItemGroupDef`` of a dataset: name, domain, repeating, purpose, ``def:Structure``, ``def:Class``,
    ItemRefs (Mandatory from the spec's core, KeySequence from its keys, Role in SDTM) and its ``def:leaf``."""
    cls = (spec.cls or "").upper()
    structure = (spec.structure or "").strip()
    if not structure:
        problems.append(f"{spec.name}: no structure in the spec (def:Structure is required)")
    # One record per subject (DM, ADSL) is the only non-repeating structure.
    repeating = "No" if structure.rstrip(".").lower() == "one record per subject" else "Yes"
    attrs: dict[str, object] = {
        "OID": itemgroup_oid(spec.name),
        "Name": spec.name,
        "SASDatasetName": spec.name,
        # Define-XML 2.1: a SUPP-- dataset's Domain is its parent domain (SUPPRS -> RS).
        "Domain": spec.name.removeprefix("SUPP") if layer_name == "sdtm" else None,
        "Repeating": repeating,
        "IsReferenceData": "Yes" if cls == "TRIAL DESIGN" else "No",
        "Purpose": purpose,
        _q(DEF_NS, "Structure"): structure or "Not specified",
        _q(DEF_NS, "StandardOID"): ig_std,
        _q(DEF_NS, "ArchiveLocationID"): leaf_id(spec.name),
        _q(DEF_NS, "CommentOID"): comment_oid(spec.name) if spec.comment else None,
    }
    keys = list(spec.keys or [])
    names = [v.name for v in spec.variables]
    for k in keys:
        if k not in names:
            problems.append(f"{spec.name}: key {k} is not a variable of the dataset")
    refs: list[dict[str, object]] = [
        {
            "ItemOID": it.oid,
            "OrderNumber": n,
            "Mandatory": "Yes" if (v.core or "").strip().lower() == "req" else "No",
            "KeySequence": keys.index(v.name) + 1 if v.name in keys else None,
            "MethodOID": it.method,
            "Role": v.role if layer_name == "sdtm" and v.role else None,
        }
        for n, (v, it) in enumerate(zip(spec.variables, variables, strict=False), start=1)
    ]
    group_cls, subclass = None, None
    if cls in _enumeration("ItemGroupClass"):
        group_cls = cls
        sub = (getattr(spec, "subclass", None) or "").upper()
        if sub and sub in _enumeration("ItemGroupSubClass"):
            subclass = sub
        elif sub:
            problems.append(f"{spec.name}: subclass {sub!r} is not a Define-XML 2.1 subclass")
    else:
        problems.append(f"{spec.name}: class {spec.cls!r} is not a Define-XML 2.1 class")
    return _ItemGroupDef(spec.name, attrs, spec.label, refs, group_cls, subclass)


def _collect_origin(it: _Item, crf: tuple[str, Mapping[str, Sequence[int]]] | None, problems: list[str]) -> _OriginDef | None:
    """The ``def:Origin`` of an item: Type and Source from the spec origin (:data:`ORIGINS`), the description
    (a Predecessor's source variables; the source or derivation of a non-Derived value) and, for a Collected
    value, the aCRF pages annotating it (``crf``: the aCRF leaf ID and item ``where`` -> pages)."""
    key = (it.origin or "").strip().lower()
    if key not in ORIGINS:
        problems.append(f"{it.where}: origin {it.origin!r} is not a Define-XML 2.1 origin type")
        return None
    typ, source = ORIGINS[key]
    sources = [s for s in it.sources if s]
    description = None
    if typ == "Predecessor":
        if sources:
            description = ", ".join(sources)
        else:
            problems.append(f"{it.where}: Predecessor origin without a source variable")
    elif typ != "Derived" and (it.derivation or sources):
        # Derived values are described by their MethodDef; the others say here where they come from.
        description = it.derivation or ", ".join(sources)
    if typ == "Collected" and crf is not None and crf[1].get(it.where):
        # no raw source in specs/raw (test specs): no page; tests/test_submission_m5.py requires one for the study
        return _OriginDef(typ, source, description, crf[0], tuple(crf[1][it.where]))
    return _OriginDef(typ, source, description)


def _collect_methods(items: Sequence[_Item]) -> list[_MethodDef]:
    """One ``MethodDef`` (Type Computation) per Derived item: the spec derivation and its sources."""
    out = []
    for it in items:
        if it.method:
            text = (it.derivation or "").strip()
            if it.sources:
                text += f" (source: {', '.join(it.sources)})"
            out.append(_MethodDef(it.method, f"Algorithm to derive {it.where}", text))
    return out


def _collect_comments(specs: Sequence[DatasetSpec]) -> list[_CommentDef]:
    """One ``def:CommentDef`` per dataset with a spec ``comment`` (the sponsor's choices), whitespace folded."""
    return [_CommentDef(comment_oid(s.name), " ".join(s.comment.split())) for s in specs if s.comment]


def _collect_documents(layer_name: str) -> _Documents:
    """The documents of :data:`DOCUMENTS` a layer's define.xml links: the aCRF (``def:AnnotatedCRF``) and the
    reviewer's guides (``def:SupplementalDoc``), each a ``def:leaf``."""
    docs = DOCUMENTS.get(layer_name, ())
    return _Documents(tuple(d for d in docs if d[1] == "acrf.pdf"), tuple(d for d in docs if d[1] != "acrf.pdf"))


def _adam_ct_codelists(root: Path | None = None) -> set[str]:
    """Names of the CDISC ADaM CT codelists of ``specs/ct/adam_ct.csv`` (those with an NCI codelist code)."""
    import csv

    from pipeline.specs.paths import SPECS_DIR

    path = (root or SPECS_DIR) / "ct" / "adam_ct.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return {r["codelist"] for r in csv.DictReader(fh) if r["codelist_code"]}


def _standard(oid: str, name: str, typ: str, version: str, publishing_set: str | None = None) -> dict[str, object]:
    """The attributes of one ``def:Standard`` (Status Final), in the schema's order."""
    return {"OID": oid, "Name": name, "Type": typ, "PublishingSet": publishing_set, "Version": version, "Status": "Final"}


def _dataset_standards(specs: Sequence[DatasetSpec], problems: list[str]) -> dict[str, tuple[str, str, str]]:
    """Dataset -> (OID, name, version) of the dataset-level IG its spec names (``standard: ADaM-OCCDSIG 1.1``)."""
    names = _enumeration("StandardName")
    out = {}
    for spec in specs:
        if not spec.standard:
            continue
        name, version = spec.standard.rsplit(" ", 1)
        if name not in names:
            problems.append(f"{spec.name}: standard {name!r} is not a Define-XML 2.1 standard name")
            continue
        out[spec.name] = (f"STD.{name}.{version}", name, version)
    return out


def _collect_standards(
    layer_name: str,
    ig: tuple[str, str],
    ct_version: str,
    specs: Sequence[DatasetSpec],
    codelists: list[_CodeListDef],
    problems: list[str],
) -> _Standards:
    """The ``def:Standards``: the layer's IG (``ig``: name, version), in ADaM each dataset-level IG a spec
    names (IGs first), and the CDISC/NCI CT packages the CodeLists use (SDTM: specs/ct holds the SDTM CT
    of the recorded NCI-EVS release, which ADaM reuses; ADaM: the codelists of ``specs/ct/adam_ct.csv``).
    Sets each CodeList's def:StandardOID; returns the standards and each dataset's IG standard."""
    ig_std = f"STD.{ig[0]}.{ig[1]}"
    sdtm_ct = f"STD.CT.SDTM.{ct_version}"
    igs = [_standard(ig_std, ig[0], "IG", ig[1])]
    dataset: dict[str, str] = {}
    cts = []
    if any(cl.cdisc for cl in codelists):
        cts.append(_standard(sdtm_ct, "CDISC/NCI", "CT", ct_version, "SDTM"))
    if layer_name == "adam":
        for ds, (oid, name, version) in _dataset_standards(specs, problems).items():
            if all(s["OID"] != oid for s in igs):
                igs.append(_standard(oid, name, "IG", version))
            dataset[ds] = oid
        adam_ct = {codelist_oid(n) for n in _adam_ct_codelists()}
        adam_lists = [cl for cl in codelists if cl.oid in adam_ct]
        if adam_lists:
            oid = f"STD.CT.ADaM.{ct_version}"
            cts.append(_standard(oid, "CDISC/NCI", "CT", ct_version, "ADaM"))
            for cl in adam_lists:
                cl.standard = oid
        if all(cl.standard != sdtm_ct for cl in codelists):
            cts = [s for s in cts if s["OID"] != sdtm_ct]  # no SDTM CT codelist left in this define
    return _Standards(igs + cts, dataset)


# --------------------------------------------------------------------------- writers


def _write_odm(study, lay, stamp: str) -> tuple[etree._Element, etree._Element]:
    """The ``ODM`` root (Snapshot, def:Context Submission), ``Study`` with its ``GlobalVariables`` and the
    ``MetaDataVersion`` (def:DefineVersion 2.1.0); returns the root and the MetaDataVersion."""
    root = etree.Element(_q(ODM_NS, "ODM"), nsmap=NSMAP)
    for k, val in [
        ("FileType", "Snapshot"),
        ("FileOID", f"{study.studyid}.{lay.name.upper()}.DEFINE"),
        ("CreationDateTime", stamp),
        ("ODMVersion", "1.3.2"),
        ("SourceSystem", PACKAGE),
        ("SourceSystemVersion", package_version()),
        (_q(DEF_NS, "Context"), "Submission"),
    ]:
        root.set(k, val)
    st = _sub(root, "Study", {"OID": study.studyid})
    gv = _sub(st, "GlobalVariables")
    _sub(gv, "StudyName").text = study.studyid
    _sub(gv, "StudyDescription").text = " ".join(study.title.split())
    _sub(gv, "ProtocolName").text = study.studyid
    mdv = _sub(
        st,
        "MetaDataVersion",
        {
            "OID": mdv_oid(lay.name, study.studyid),
            "Name": f"{study.studyid} {lay.ig_name} {lay.ig_version}",
            "Description": f"{lay.purpose} datasets of {study.studyid}",
            _q(DEF_NS, "DefineVersion"): DEFINE_VERSION,
        },
    )
    return root, mdv


def _write_standards(mdv: etree._Element, standards: _Standards) -> None:
    """``def:Standards`` with one ``def:Standard`` per standard."""
    stds = _sub(mdv, "Standards", ns=DEF_NS)
    for attrs in standards.standards:
        _sub(stds, "Standard", attrs, ns=DEF_NS)


def _write_document_refs(mdv: etree._Element, docs: _Documents) -> None:
    """``def:AnnotatedCRF`` then ``def:SupplementalDoc``, each a ``def:DocumentRef`` per document leaf."""
    for tag, group in (("AnnotatedCRF", docs.crf), ("SupplementalDoc", docs.supplemental)):
        if group:
            el = _sub(mdv, tag, ns=DEF_NS)
            for leaf, _f, _t in group:
                _sub(el, "DocumentRef", {"leafID": leaf}, ns=DEF_NS)


def _where_clause_oid(it: _Item) -> str:
    """OID of the ``def:WhereClauseDef`` of a value-level item (``IT.LB.LBORRES.ALB`` -> ``WC.LB.LBORRES.ALB``)."""
    return "WC" + it.oid[2:]


def _write_value_lists(mdv: etree._Element, vlm: ValueLists) -> None:
    """One ``def:ValueListDef`` per parent variable: an ItemRef per value-level item with its WhereClauseRef."""
    for vl_oid in sorted(vlm):
        vld = _sub(mdv, "ValueListDef", {"OID": vl_oid}, ns=DEF_NS)
        for n, (it, _w) in enumerate(vlm[vl_oid], start=1):
            ref = _sub(vld, "ItemRef", {"ItemOID": it.oid, "OrderNumber": n, "Mandatory": "No", "MethodOID": it.method})
            _sub(ref, "WhereClauseRef", {"WhereClauseOID": _where_clause_oid(it)}, ns=DEF_NS)


def _write_where_clauses(mdv: etree._Element, vlm: ValueLists) -> None:
    """One ``def:WhereClauseDef`` per value-level item: a RangeCheck (EQ, Soft) per where variable."""
    for vl_oid in sorted(vlm):
        ds = vl_oid.split(".")[1]
        for it, where in vlm[vl_oid]:
            wc = _sub(mdv, "WhereClauseDef", {"OID": _where_clause_oid(it)}, ns=DEF_NS)
            for k, val in where:
                rc = _sub(wc, "RangeCheck", {"Comparator": "EQ", "SoftHard": "Soft", _q(DEF_NS, "ItemOID"): item_oid(ds, k)})
                _sub(rc, "CheckValue").text = val


def _write_item_group(mdv: etree._Element, group: _ItemGroupDef, standard: str | None) -> None:
    """An ``ItemGroupDef``: Description, ItemRefs, ``def:Class`` (with ``def:SubClass``) and the XPT ``def:leaf``;
    ``standard`` (a dataset-level IG) replaces the layer IG's def:StandardOID."""
    attrs = dict(group.attrs)
    if standard is not None:
        attrs[_q(DEF_NS, "StandardOID")] = standard
    ig = _sub(mdv, "ItemGroupDef", attrs)
    _description(ig, group.label)
    for ref in group.refs:
        _sub(ig, "ItemRef", ref)
    if group.cls is not None:
        c = _sub(ig, "Class", {"Name": group.cls}, ns=DEF_NS)
        if group.subclass:
            _sub(c, "SubClass", {"Name": group.subclass}, ns=DEF_NS)
    leaf = _sub(ig, "leaf", {"ID": leaf_id(group.name), _q(XLINK_NS, "href"): xpt_name(group.name)}, ns=DEF_NS)
    _sub(leaf, "title", ns=DEF_NS).text = xpt_name(group.name)


def _write_origin(el: etree._Element, origin: _OriginDef) -> None:
    """``def:Origin`` with its Description and, for a Collected value, ``def:DocumentRef``/``def:PDFPageRef``."""
    o = _sub(el, "Origin", {"Type": origin.type, "Source": origin.source}, ns=DEF_NS)
    if origin.description is not None:
        _description(o, origin.description)
    if origin.crf_leaf is not None:
        ref = _sub(o, "DocumentRef", {"leafID": origin.crf_leaf}, ns=DEF_NS)
        _sub(ref, "PDFPageRef", {"PageRefs": " ".join(map(str, origin.pages)), "Type": "PhysicalRef"}, ns=DEF_NS)


def _write_item_def(mdv: etree._Element, it: _Item, origin: _OriginDef | None) -> None:
    """An ``ItemDef``: type, length, digits, display format, Description, CodeListRef, Origin, ValueListRef."""
    el = _sub(
        mdv,
        "ItemDef",
        {
            "OID": it.oid,
            "Name": it.name,
            "DataType": it.data_type,
            "Length": it.length,
            "SignificantDigits": it.digits,
            "SASFieldName": it.name,
            _q(DEF_NS, "DisplayFormat"): it.fmt or None,
        },
    )
    _description(el, it.label)
    if it.codelist:
        _sub(el, "CodeListRef", {"CodeListOID": it.codelist})
    if origin is not None:
        _write_origin(el, origin)
    if it.value_list:
        _sub(el, "ValueListRef", {"ValueListOID": it.value_list}, ns=DEF_NS)


def _write_codelist(mdv: etree._Element, cl: _CodeListDef) -> None:
    """A ``CodeList``: its CodeListItems (with Decode) or EnumeratedItems and NCI Aliases, or an ExternalCodeList."""
    el = _sub(mdv, "CodeList", {"OID": cl.oid, "Name": cl.name, "DataType": cl.data_type, _q(DEF_NS, "StandardOID"): cl.standard})
    if cl.dictionary is not None:
        _sub(el, "ExternalCodeList", {"Dictionary": cl.dictionary, "Version": cl.version})
        return
    for t in cl.terms:
        tag = "EnumeratedItem" if t.decode is None else "CodeListItem"
        item = _sub(
            el, tag, {"CodedValue": t.value, "OrderNumber": t.order, _q(DEF_NS, "ExtendedValue"): "Yes" if t.extended else None}
        )
        if t.decode is not None:
            d = _sub(item, "Decode")
            tt = _sub(d, "TranslatedText")
            tt.set(_q(XML_NS, "lang"), "en")
            tt.text = t.decode
        if t.nci_code:
            _sub(item, "Alias", {"Context": "nci:ExtCodeID", "Name": t.nci_code})
    if cl.alias:
        _sub(el, "Alias", {"Context": "nci:ExtCodeID", "Name": cl.nci_code})


def _write_method(mdv: etree._Element, m: _MethodDef) -> None:
    """A ``MethodDef`` (Type Computation) with its Description."""
    el = _sub(mdv, "MethodDef", {"OID": m.oid, "Name": m.name, "Type": "Computation"})
    _description(el, m.description)


def _write_comment(mdv: etree._Element, c: _CommentDef) -> None:
    """A ``def:CommentDef`` with its Description."""
    el = _sub(mdv, "CommentDef", {"OID": c.oid}, ns=DEF_NS)
    _description(el, c.description)


def _write_leaves(mdv: etree._Element, docs: _Documents) -> None:
    """A ``def:leaf`` (href and title) per linked document, at the end of the MetaDataVersion."""
    for leaf, href, title in docs.all:
        el = _sub(mdv, "leaf", {"ID": leaf, _q(XLINK_NS, "href"): href}, ns=DEF_NS)
        _sub(el, "title", ns=DEF_NS).text = title


def _serialize(root: etree._Element) -> bytes:
    """The document as UTF-8 bytes: XML declaration, the stylesheet processing instruction, pretty-printed."""
    root.addprevious(etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{STYLESHEET}"'))
    body = etree.tostring(etree.ElementTree(root), encoding="unicode", pretty_print=True)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")


# --------------------------------------------------------------------------- the document


def build_define(
    layer_name: str,
    specs: Sequence[DatasetSpec],
    frames: Mapping[str, pd.DataFrame] | None = None,
    ct: Mapping[str, Codelist] | None = None,
    data_cutoff: str | None = None,
    widths: Mapping[str, Mapping[str, int]] | None = None,
) -> DefineResult:
    """Define-XML 2.1 for the datasets ``specs`` of ``layer_name`` ("sdtm" | "adam").

    ``widths`` (dataset -> variable -> bytes): the XPT files' allotted Char lengths, which
    override the lengths observed in ``frames``.

    ``frames`` (dataset name -> in-memory frame) give the observed character lengths, the
    integer/float types and the codelist terms actually used; without them the spec lengths
    and whole codelists are written. ``ct`` defaults to ``load_ct()``. Returns the XML bytes
    and the problems found in the specs (empty: nothing here a reviewer's tool would flag).
    Everything is collected first, then written in the order of the Define-XML 2.1 schema.
    """
    from pipeline.specs.ct import load_ct

    lay = layer(layer_name)
    study = load_study()
    frames = frames or {}
    widths = widths or {}
    stamp, _ = creation_datetime(data_cutoff)
    problems: list[str] = []
    specs = sorted(specs, key=_dataset_sort_key)
    codelists = _Codelists(load_ct() if ct is None else ct, problems)
    ig_std = f"STD.{lay.ig_name}.{lay.ig_version}"

    items: dict[str, list[_Item]] = {}  # dataset -> its variables
    vlm: ValueLists = {}
    for spec in specs:
        frame = submission_frame(frames[spec.name], spec) if spec.name in frames else None
        text = _FrameText(frame)
        items[spec.name] = _collect_variables(spec, frame, text, widths.get(spec.name, {}), codelists, problems)
        _collect_value_level(spec, frame, text, items[spec.name], codelists, problems, vlm)
    groups = [_collect_item_group(s, items[s.name], lay.name, lay.purpose, ig_std, problems) for s in specs]
    all_items = [it for spec in specs for it in items[spec.name]] + [it for k in sorted(vlm) for it, _w in vlm[k]]
    docs = _collect_documents(lay.name)
    crf = None
    if docs.crf:
        from pipeline.submission.acrf import page_map

        crf = (docs.crf[0][0], page_map())
    origins = [_collect_origin(it, crf, problems) for it in all_items]
    lists = codelists.collect(f"STD.CT.SDTM.{study.ct_version}")
    standards = _collect_standards(lay.name, (lay.ig_name, lay.ig_version), study.ct_version, specs, lists, problems)

    root, mdv = _write_odm(study, lay, stamp)
    _write_standards(mdv, standards)
    _write_document_refs(mdv, docs)
    _write_value_lists(mdv, vlm)
    _write_where_clauses(mdv, vlm)
    for g in groups:
        _write_item_group(mdv, g, standards.dataset.get(g.name))
    for it, origin in zip(all_items, origins, strict=True):
        _write_item_def(mdv, it, origin)
    for cl in lists:
        _write_codelist(mdv, cl)
    for m in _collect_methods(all_items):
        _write_method(mdv, m)
    for c in _collect_comments(specs):
        _write_comment(mdv, c)
    _write_leaves(mdv, docs)
    return DefineResult(_serialize(root), problems)


# --- The documents define.xml links to (the m5 tree puts them beside it): leaf ID, file, title.
DOCUMENTS = {
    "sdtm": (
        ("LF.ACRF", "acrf.pdf", "Annotated Case Report Form"),
        ("LF.CSDRG", "csdrg.pdf", "Clinical Study Data Reviewer's Guide"),
    ),
    "adam": (("LF.ADRG", "adrg.pdf", "Analysis Data Reviewer's Guide"),),
}


def validate_define(xml: bytes) -> list[str]:
    """XSD errors of a define.xml against the Define-XML 2.1 schema (empty list: valid)."""
    schema = _xsd()
    doc = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True)).getroottree()
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def render_html(xml: bytes) -> bytes:
    """The human-readable define.html: define.xml transformed by the CDISC 2.1 stylesheet."""
    transform = etree.XSLT(etree.parse(str(stylesheet_path())))
    result = transform(etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True)).getroottree())
    return bytes(result)


def write_define(
    out_dir: Path,
    layer_name: str,
    specs: Sequence[DatasetSpec],
    frames: Mapping[str, pd.DataFrame] | None = None,
    ct: Mapping[str, Codelist] | None = None,
    data_cutoff: str | None = None,
    widths: Mapping[str, Mapping[str, int]] | None = None,
) -> DefineResult:
    """Write ``define.xml``, ``define.html`` and the stylesheet into ``out_dir``; returns the result.

    XSD errors (a bug of this module, since the builder leaves out what it cannot express)
    are added to ``problems`` rather than hiding the file from the reviewer.
    """
    out_dir = Path(out_dir)
    res = build_define(layer_name, specs, frames, ct, data_cutoff, widths)
    if layer_name == "adam":
        from pipeline.submission.define_arm import add_analysis_results, validate_arm

        res.xml = add_analysis_results(res.xml)
        res.problems += [f"XSD (ARM 1.0): {e}" for e in validate_arm(res.xml)]
    else:
        res.problems += [f"XSD: {e}" for e in validate_define(res.xml)]
    io.write_bytes(out_dir / "define.xml", res.xml)
    io.write_bytes(out_dir / "define.html", render_html(res.xml))
    io.write_bytes(out_dir / STYLESHEET, stylesheet_path().read_bytes())
    return res
