"""Define-XML 2.1 for one layer (SDTM or ADaM), generated from the dataset specs and CT.

What comes from where:

- datasets (ItemGroupDef): the spec's name, label, class, structure, keys, comment;
- variables (ItemDef/ItemRef): name, label, type, codelist, origin, sources, derivation,
  display format and core (Mandatory) from the spec; Length and integer/float from the
  data when frames are given, so define.xml states the lengths the XPT files really have;
- codelists: ``pipeline.specs.ct.load_ct()`` (NCI codes as ``Alias Context="nci:ExtCodeID"``);
- standards: SDTMIG 3.4 / ADaMIG 1.3 and the CT version of ``specs/trial/study.yaml``;
- CreationDateTime: ``common.creation_datetime`` (SOURCE_DATE_EPOCH or the code's commit time), never the wall clock.

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


def _sub(parent: etree._Element, tag: str, attrib: Mapping[str, str | None] | None = None, ns: str = ODM_NS) -> etree._Element:
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


class _Codelists:
    """The CodeLists define.xml needs: each spec codelist (or union of them) and external dictionary
    referenced, with the values the data uses."""

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

    def write(self, mdv: etree._Element, ct_std: str) -> None:
        for oid in sorted(self.used):
            use = self.used[oid]
            types = use["types"]
            if len(types) > 1:
                self.problems.append(f"{oid}: used by variables of different types {sorted(types)} ({', '.join(use['vars'])})")
            dtype = "text" if "text" in types or not types else min(types)
            if dtype not in ("text", "integer", "float"):
                dtype = "text"
            if use["dictionary"]:
                self._write_external(mdv, oid, use["dictionary"], dtype)
                continue
            parts = [self.ct[n] for n in use["names"]]
            all_cdisc = all(c.is_cdisc for c in parts)
            el = _sub(
                mdv,
                "CodeList",
                {
                    "OID": oid,
                    "Name": " / ".join(c.label or c.name for c in parts),
                    "DataType": dtype,
                    # A union of codelists is the sponsor's, not one CT codelist: no CT standard, no NCI code.
                    _q(DEF_NS, "StandardOID"): ct_std if all_cdisc and len(parts) == 1 else None,
                },
            )
            decode = any(_use_decode(c) for c in parts)
            seen: set[str] = set()
            n = 0
            for cl in parts:
                for t in _codelist_terms(cl, use["values"]):
                    if t.value in seen:
                        continue
                    seen.add(t.value)
                    n += 1
                    ext = "Yes" if cl.is_cdisc and t.sponsor else None
                    tag = "CodeListItem" if decode else "EnumeratedItem"
                    item = _sub(el, tag, {"CodedValue": t.value, "OrderNumber": n, _q(DEF_NS, "ExtendedValue"): ext})
                    if decode:
                        d = _sub(item, "Decode")
                        tt = _sub(d, "TranslatedText")
                        tt.set(_q(XML_NS, "lang"), "en")
                        tt.text = t.decode or t.value
                    if t.code and not t.sponsor:
                        _sub(item, "Alias", {"Context": "nci:ExtCodeID", "Name": t.code})
            if len(parts) == 1 and parts[0].is_cdisc:
                _sub(el, "Alias", {"Context": "nci:ExtCodeID", "Name": parts[0].code})

    def _write_external(self, mdv: etree._Element, oid: str, dictionary: str, dtype: str) -> None:
        name, version = _split_dictionary(dictionary)
        if version is None and name == "MedDRA":  # the version of the release the AEs were coded with
            version = meddra.dictionary_version()
        if version is None and name != "ISO 3166":
            self.problems.append(
                f"{oid}: external dictionary {dictionary!r} has no version in the spec (ExternalCodeList/@Version)"
            )
        el = _sub(mdv, "CodeList", {"OID": oid, "Name": dictionary, "DataType": dtype})
        _sub(el, "ExternalCodeList", {"Dictionary": name, "Version": version})


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


def _origin(el: etree._Element, it: _Item, problems: list[str]) -> None:
    key = (it.origin or "").strip().lower()
    if key not in ORIGINS:
        problems.append(f"{it.where}: origin {it.origin!r} is not a Define-XML 2.1 origin type")
        return
    typ, source = ORIGINS[key]
    o = _sub(el, "Origin", {"Type": typ, "Source": source}, ns=DEF_NS)
    sources = [s for s in it.sources if s]
    if typ == "Predecessor":
        if sources:
            _description(o, ", ".join(sources))
        else:
            problems.append(f"{it.where}: Predecessor origin without a source variable")
    elif typ != "Derived" and (it.derivation or sources):
        # Derived values are described by their MethodDef; the others say here where they come from.
        _description(o, it.derivation or ", ".join(sources))


def _method(it: _Item, ds: str, var: str, suffix: str | None, problems: list[str]) -> None:
    if (it.origin or "").strip().lower() != "derived":
        return
    if it.derivation:
        it.method = method_oid(ds, var) + (f".{suffix}" if suffix else "")
    else:
        problems.append(f"{it.where}: Derived without a derivation (define.xml needs a MethodDef)")


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
    """
    from pipeline.specs.ct import load_ct

    lay = layer(layer_name)
    study = load_study()
    ct = load_ct() if ct is None else ct
    frames = frames or {}
    stamp, _ = creation_datetime(data_cutoff)
    problems: list[str] = []
    specs = sorted(specs, key=_dataset_sort_key)
    classes = _enumeration("ItemGroupClass")
    subclasses = _enumeration("ItemGroupSubClass")
    codelists = _Codelists(ct, problems)

    # --- Gather every item first; the elements are then written in the schema's order.
    items: dict[str, list[_Item]] = {}  # dataset -> its variables
    vlm: dict[str, list[tuple[_Item, list[tuple[str, str]]]]] = {}  # ValueListDef OID -> (item, where)
    for spec in specs:
        frame = submission_frame(frames[spec.name], spec) if spec.name in frames else None
        text: dict[str, pd.Series] = {}  # values as text, computed only for the columns that need it

        def as_text(name: str, frame=frame, text=text) -> pd.Series:
            if name not in text:
                text[name] = _as_text(frame[name])
            return text[name]

        items[spec.name] = []
        for v in spec.variables:
            col = frame[v.name] if frame is not None else None
            dtype, length, digits = _typing(v.name, v.type, v.format, v.length, col)
            if dtype == "text" and v.name in (widths or {}).get(spec.name, {}):
                length = widths[spec.name][v.name]
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
            cls_names = tuple(
                getattr(v, "codelists", None) or ((v.codelist,) if isinstance(v.codelist, str) else tuple(v.codelist or ()))
            )
            if cls_names:
                used = _used(as_text(v.name)) if frame is not None else None
                it.codelist = codelists.ref(cls_names, dtype, it.where, used)
            elif getattr(v, "dictionary", None):
                it.codelist = codelists.external(v.dictionary, dtype, it.where)
            _method(it, spec.name, v.name, None, problems)
            items[spec.name].append(it)
        by_name = {it.name: it for it in items[spec.name]}
        for n, vl in enumerate(getattr(spec, "value_level", ()) or (), start=1):
            parent = by_name.get(vl.variable)
            if parent is None:
                problems.append(f"{spec.name}: value-level metadata for unknown variable {vl.variable}")
                continue
            pv = (
                spec.variable(vl.variable)
                if hasattr(spec, "variable")
                else next(v for v in spec.variables if v.name == vl.variable)
            )
            where = [(k, str(val)) for k, val in vl.where]
            suffix = _slug(".".join(val for _, val in where))
            if any(suffix == _slug(".".join(val for _, val in w)) for _i, w in vlm.get(f"VL.{spec.name}.{vl.variable}", [])):
                suffix += f".{n}"
            sub = None
            if frame is not None:
                mask = pd.Series(True, index=frame.index)
                for k, val in where:
                    mask &= (as_text(k) == val) if k in frame.columns else False
                sub = frame.loc[mask, vl.variable]
            typ = vl.type or pv.type
            dtype, length, digits = _typing(pv.name, typ, pv.format, vl.length or pv.length, sub)
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
            vl_oid = f"VL.{spec.name}.{vl.variable}"
            parent.value_list = vl_oid
            vlm.setdefault(vl_oid, []).append((it, where))

    # --- ODM root, study, metadata version and standards
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
    ig_std = f"STD.{lay.ig_name}.{lay.ig_version}"
    ct_std = f"STD.CT.SDTM.{study.ct_version}"
    stds = _sub(mdv, "Standards", ns=DEF_NS)
    _sub(
        stds,
        "Standard",
        {"OID": ig_std, "Name": lay.ig_name, "Type": "IG", "Version": lay.ig_version, "Status": "Final"},
        ns=DEF_NS,
    )
    if any(u["names"] and all(ct[n].is_cdisc for n in u["names"]) for u in codelists.used.values()):
        # specs/ct holds the SDTM CT package of the recorded NCI-EVS release; ADaM reuses its codelists.
        _sub(
            stds,
            "Standard",
            {
                "OID": ct_std,
                "Name": "CDISC/NCI",
                "Type": "CT",
                "PublishingSet": "SDTM",
                "Version": study.ct_version,
                "Status": "Final",
            },
            ns=DEF_NS,
        )

    # --- Value-level metadata
    for vl_oid in sorted(vlm):
        vld = _sub(mdv, "ValueListDef", {"OID": vl_oid}, ns=DEF_NS)
        for n, (it, _w) in enumerate(vlm[vl_oid], start=1):
            ref = _sub(vld, "ItemRef", {"ItemOID": it.oid, "OrderNumber": n, "Mandatory": "No", "MethodOID": it.method})
            _sub(ref, "WhereClauseRef", {"WhereClauseOID": "WC" + it.oid[2:]}, ns=DEF_NS)
    for vl_oid in sorted(vlm):
        ds = vl_oid.split(".")[1]
        for it, where in vlm[vl_oid]:
            wc = _sub(mdv, "WhereClauseDef", {"OID": "WC" + it.oid[2:]}, ns=DEF_NS)
            for k, val in where:
                rc = _sub(wc, "RangeCheck", {"Comparator": "EQ", "SoftHard": "Soft", _q(DEF_NS, "ItemOID"): item_oid(ds, k)})
                _sub(rc, "CheckValue").text = val

    # --- ItemGroupDefs
    for spec in specs:
        cls = (spec.cls or "").upper()
        structure = (spec.structure or "").strip()
        if not structure:
            problems.append(f"{spec.name}: no structure in the spec (def:Structure is required)")
        # One record per subject (DM, ADSL) is the only non-repeating structure.
        repeating = "No" if structure.rstrip(".").lower() == "one record per subject" else "Yes"
        ig = _sub(
            mdv,
            "ItemGroupDef",
            {
                "OID": itemgroup_oid(spec.name),
                "Name": spec.name,
                "SASDatasetName": spec.name,
                # Define-XML 2.1: a SUPP-- dataset's Domain is its parent domain (SUPPRS -> RS).
                "Domain": (spec.name.removeprefix("SUPP") if spec.name.startswith("SUPP") else spec.name)
                if lay.name == "sdtm"
                else None,
                "Repeating": repeating,
                "IsReferenceData": "Yes" if cls == "TRIAL DESIGN" else "No",
                "Purpose": lay.purpose,
                _q(DEF_NS, "Structure"): structure or "Not specified",
                _q(DEF_NS, "StandardOID"): ig_std,
                _q(DEF_NS, "ArchiveLocationID"): leaf_id(spec.name),
                _q(DEF_NS, "CommentOID"): comment_oid(spec.name) if spec.comment else None,
            },
        )
        _description(ig, spec.label)
        keys = list(spec.keys or [])
        names = [v.name for v in spec.variables]
        for k in keys:
            if k not in names:
                problems.append(f"{spec.name}: key {k} is not a variable of the dataset")
        for n, (v, it) in enumerate(zip(spec.variables, items[spec.name]), start=1):
            _sub(
                ig,
                "ItemRef",
                {
                    "ItemOID": it.oid,
                    "OrderNumber": n,
                    "Mandatory": "Yes" if (v.core or "").strip().lower() == "req" else "No",
                    "KeySequence": keys.index(v.name) + 1 if v.name in keys else None,
                    "MethodOID": it.method,
                    "Role": v.role if lay.name == "sdtm" and v.role else None,
                },
            )
        if cls in classes:
            c = _sub(ig, "Class", {"Name": cls}, ns=DEF_NS)
            sub = (getattr(spec, "subclass", None) or "").upper()
            if sub and sub in subclasses:
                _sub(c, "SubClass", {"Name": sub}, ns=DEF_NS)
            elif sub:
                problems.append(f"{spec.name}: subclass {sub!r} is not a Define-XML 2.1 subclass")
        else:
            problems.append(f"{spec.name}: class {spec.cls!r} is not a Define-XML 2.1 class")
        leaf = _sub(ig, "leaf", {"ID": leaf_id(spec.name), _q(XLINK_NS, "href"): xpt_name(spec.name)}, ns=DEF_NS)
        _sub(leaf, "title", ns=DEF_NS).text = xpt_name(spec.name)

    # --- ItemDefs: dataset variables, then the value-level items
    all_items = [it for spec in specs for it in items[spec.name]] + [it for k in sorted(vlm) for it, _w in vlm[k]]
    for it in all_items:
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
        _origin(el, it, problems)
        if it.value_list:
            _sub(el, "ValueListRef", {"ValueListOID": it.value_list}, ns=DEF_NS)

    codelists.write(mdv, ct_std)
    if lay.name == "adam":
        _adam_standards(mdv, stds, specs, study.ct_version, problems)

    # --- MethodDefs (derivations of the spec)
    for it in all_items:
        if it.method:
            text = it.derivation.strip()
            if it.sources:
                text += f" (source: {', '.join(it.sources)})"
            m = _sub(mdv, "MethodDef", {"OID": it.method, "Name": f"Algorithm to derive {it.where}", "Type": "Computation"})
            _description(m, text)

    # --- CommentDefs (the sponsor's choices recorded in the spec comments)
    for spec in specs:
        if spec.comment:
            c = _sub(mdv, "CommentDef", {"OID": comment_oid(spec.name)}, ns=DEF_NS)
            _description(c, " ".join(spec.comment.split()))

    _documents(mdv, lay.name, all_items)

    doc = etree.ElementTree(root)
    root.addprevious(etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{STYLESHEET}"'))
    body = etree.tostring(doc, encoding="unicode", pretty_print=True)
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")
    return DefineResult(xml, problems)


# --- ADaM additions: the dataset's own IG (ADaM-OCCDSIG for OCCDS) and ADaM controlled terminology


def _adam_ct_codelists(root: Path | None = None) -> set[str]:
    """Names of the CDISC ADaM CT codelists of ``specs/ct/adam_ct.csv`` (those with an NCI codelist code)."""
    import csv

    from pipeline.specs.paths import SPECS_DIR

    path = (root or SPECS_DIR) / "ct" / "adam_ct.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return {r["codelist"] for r in csv.DictReader(fh) if r["codelist_code"]}


def _adam_standards(
    mdv: etree._Element, stds: etree._Element, specs: Sequence[DatasetSpec], ct_version: str, problems: list[str]
) -> None:
    """def:Standard of each dataset-level IG a spec names (``standard: ADaM-OCCDSIG 1.1``) and of ADaM CT; the
    ItemGroupDefs and CodeLists concerned point at them (def:StandardOID)."""
    names = _enumeration("StandardName")
    for spec in specs:
        if not spec.standard:
            continue
        name, version = spec.standard.rsplit(" ", 1)
        if name not in names:
            problems.append(f"{spec.name}: standard {name!r} is not a Define-XML 2.1 standard name")
            continue
        oid = f"STD.{name}.{version}"
        if stds.find(f"{{{DEF_NS}}}Standard[@OID='{oid}']") is None:
            # An IG standard goes before the CT standards (Define-XML 2.1 lists IGs first).
            ig = [e for e in stds if e.get("Type") == "IG"]
            el = etree.Element(
                _q(DEF_NS, "Standard"), {"OID": oid, "Name": name, "Type": "IG", "Version": version, "Status": "Final"}
            )
            ig[-1].addnext(el) if ig else stds.insert(0, el)
        mdv.find(f"{{{ODM_NS}}}ItemGroupDef[@OID='{itemgroup_oid(spec.name)}']").set(_q(DEF_NS, "StandardOID"), oid)
    adam_ct = {codelist_oid(n) for n in _adam_ct_codelists()}
    lists = [cl for cl in mdv.findall(f"{{{ODM_NS}}}CodeList") if cl.get("OID") in adam_ct]
    if lists:
        oid = f"STD.CT.ADaM.{ct_version}"
        _sub(
            stds,
            "Standard",
            {"OID": oid, "Name": "CDISC/NCI", "Type": "CT", "PublishingSet": "ADaM", "Version": ct_version, "Status": "Final"},
            ns=DEF_NS,
        )
        for cl in lists:
            cl.set(_q(DEF_NS, "StandardOID"), oid)
    sdtm_ct = f"STD.CT.SDTM.{ct_version}"
    used = {e.get(_q(DEF_NS, "StandardOID")) for e in mdv.iter() if e.get(_q(DEF_NS, "StandardOID"))}
    for std in stds.findall(f"{{{DEF_NS}}}Standard[@OID='{sdtm_ct}']"):
        if sdtm_ct not in used:
            stds.remove(std)  # no SDTM CT codelist left in this define


# --- The documents define.xml links to (the m5 tree puts them beside it): leaf ID, file, title.
DOCUMENTS = {
    "sdtm": (
        ("LF.ACRF", "acrf.pdf", "Annotated Case Report Form"),
        ("LF.CSDRG", "csdrg.pdf", "Clinical Study Data Reviewer's Guide"),
    ),
    "adam": (("LF.ADRG", "adrg.pdf", "Analysis Data Reviewer's Guide"),),
}


def _documents(mdv: etree._Element, layer_name: str, items: Sequence[_Item]) -> None:
    """``def:AnnotatedCRF`` (SDTM) and ``def:SupplementalDoc`` after ``def:Standards``, the aCRF pages
    on every Collected origin (``def:DocumentRef`` + ``def:PDFPageRef``), and a ``def:leaf`` per
    document at the end of the MetaDataVersion."""
    docs = DOCUMENTS.get(layer_name, ())
    if not docs:
        return
    anchor = mdv.find(_q(DEF_NS, "Standards"))
    crf = [d for d in docs if d[1] == "acrf.pdf"]
    supp = [d for d in docs if d[1] != "acrf.pdf"]
    for tag, group in (("SupplementalDoc", supp), ("AnnotatedCRF", crf)):
        if group:
            el = etree.Element(_q(DEF_NS, tag))
            for leaf, _f, _t in group:
                _sub(el, "DocumentRef", {"leafID": leaf}, ns=DEF_NS)
            anchor.addnext(el)  # AnnotatedCRF ends up first, then SupplementalDoc
    if crf:
        from pipeline.submission.acrf import page_map

        pages = page_map()
        where = {it.oid: it.where for it in items}
        for item_def in mdv.iter(_q(ODM_NS, "ItemDef")):
            o = item_def.find(_q(DEF_NS, "Origin"))
            if o is None or o.get("Type") != "Collected":
                continue
            w = where.get(item_def.get("OID"), "")
            if not pages.get(w):
                continue  # no raw source in specs/raw (test specs); tests/test_submission_m5.py requires one for the study
            ref = _sub(o, "DocumentRef", {"leafID": crf[0][0]}, ns=DEF_NS)
            _sub(ref, "PDFPageRef", {"PageRefs": " ".join(map(str, pages[w])), "Type": "PhysicalRef"}, ns=DEF_NS)
    for leaf, href, title in docs:
        el = _sub(mdv, "leaf", {"ID": leaf, _q(XLINK_NS, "href"): href}, ns=DEF_NS)
        _sub(el, "title", ns=DEF_NS).text = title


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
