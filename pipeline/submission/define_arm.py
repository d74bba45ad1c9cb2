"""Define-XML Analysis Results Metadata (ARM 1.0) in the ADaM define.xml.

For each display of ``specs/analysis/displays.yaml`` marked ``arm: true`` (the primary RFS
analysis and the key secondary ones) one ``arm:ResultDisplay`` pointing at its RTF (a
``def:leaf``), with one ``arm:AnalysisResult`` per analysis the display prints: its reason and
purpose, the ADaM dataset, the records (a ``def:WhereClauseDef`` on PARAMCD or the TEAE flag)
and the variables it analyses, the method's description and the program that prints it.

:func:`add_analysis_results` takes and returns the define.xml bytes the builder made (it adds
WhereClauseDefs before the first ItemGroupDef, leaves after the last element of their kind and
the ARM block last, as the Define-XML 2.1 and ARM 1.0 schemas order them); :func:`validate_arm`
validates against defineutils' ARM 1.0 schema, which includes Define-XML 2.1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from pipeline.specs.analysis import Analysis, load_analyses, load_displays, load_methods
from pipeline.submission.common import item_oid, itemgroup_oid

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
ARM_NS = "http://www.cdisc.org/ns/arm/v1.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
TLF_HREF = "../tlf/{id}.rtf"  # the RTF beside define.xml's folder (outputs/adam -> outputs/tlf)

# What an analysis of each kind reads: (dataset, analysis variables, where-clause variable, value)
_READS = {
    "survival": ("ADTTE", ("AVAL", "CNSR"), "PARAMCD"),
    "tte_events": ("ADTTE", ("CNSR", "EVNTDESC"), "PARAMCD"),
    "exposure": ("ADEX", ("AVAL",), "PARAMCD"),
    "ae_overview": ("ADAE", ("USUBJID", "ATOXGRN"), "TRTEMFL"),
    "ae_soc_pt": ("ADAE", ("AEBODSYS", "AEDECOD"), "TRTEMFL"),
    "ae_worst_grade": ("ADAE", ("AEDECOD", "ATOXGRN"), "TRTEMFL"),
    "subjects": ("ADSL", ("USUBJID",), None),
    "deaths": ("ADSL", ("DTHFL",), None),
}


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _sub(parent, ns: str, tag: str, attrib: dict | None = None):
    return etree.SubElement(parent, _q(ns, tag), {k: str(v) for k, v in (attrib or {}).items() if v is not None})


def _description(parent, text: str) -> None:
    d = _sub(parent, ODM_NS, "Description")
    t = _sub(d, ODM_NS, "TranslatedText")
    t.set(_q(XML_NS, "lang"), "en")
    t.text = " ".join(text.split())


def _purpose(a: Analysis) -> tuple[str, str]:
    from pipeline.tlf.ars import purpose  # one rule for ARS and ARM

    return purpose(a)


def _where(a: Analysis) -> tuple[str, str, str] | None:
    """(dataset, variable, value) of the analysis' record selection, or None (all records)."""
    ds, _vars, var = _READS[a.kind]
    if var is None:
        return None
    value = a.paramcd if var == "PARAMCD" else "Y"
    if value is None:  # load_analyses requires the paramcd of every analysis that reads PARAMCD
        raise ValueError(f"analysis {a.id} reads PARAMCD but names no paramcd")
    return ds, var, value


def _wc_oid(ds: str, var: str, value: str) -> str:
    return f"WC.ARM.{ds}.{var}.{re.sub(r'[^A-Za-z0-9]+', '', value)}"


WhereClauses = dict[str, tuple[str, str, str]]  # WhereClauseDef OID -> (dataset, variable, value)


@dataclass(frozen=True)
class _ArmResult:
    """One ``arm:AnalysisResult``: what an analysis of a display reads, why, and by which method and program."""

    oid: str
    parameter: str | None  # ParameterOID (PARAMCD of a BDS dataset)
    reason: str
    purpose: str
    label: str
    dataset: str  # ItemGroupOID
    where_clause: str | None  # WhereClauseOID
    variables: tuple[str, ...]  # ItemOIDs of the analysis variables
    documentation: str
    code: str


@dataclass(frozen=True)
class _ArmDisplay:
    """One ``arm:ResultDisplay`` with its RTF ``def:leaf`` and its analysis results."""

    oid: str
    name: str
    title: str
    leaf: str
    href: str
    leaf_title: str
    results: tuple[_ArmResult, ...]


def _described(analyses: dict[str, Analysis], groups: set[str]):
    """Whether an analysis reads a dataset this define describes (a define of other datasets gets no ARM)."""
    return lambda aid: analyses[aid].kind in _READS and itemgroup_oid(_READS[analyses[aid].kind][0]) in groups


def _collect_where_clauses(displays, analyses: dict[str, Analysis], described, items: set[str]) -> WhereClauses:
    """The ``def:WhereClauseDef`` of each record selection the displays' analyses make (PARAMCD or the TEAE
    flag), for those whose variable the define has."""
    wanted: WhereClauses = {}
    for d in displays:
        for aid in filter(described, d.analyses):
            w = _where(analyses[aid])
            if w and item_oid(w[0], w[1]) in items:
                wanted[_wc_oid(*w)] = w
    return wanted


def _collect_result(aid: str, a: Analysis, display_id: str, items: set[str], wanted: WhereClauses, methods) -> _ArmResult:
    """The ``arm:AnalysisResult`` of analysis ``aid`` of a display: reason and purpose (as ARS states them),
    dataset, where clause, the analysis variables the define has, the method's description and the program."""
    ds, variables, var = _READS[a.kind]
    reason, purpose = _purpose(a)
    param = item_oid(ds, "PARAMCD") if var == "PARAMCD" and item_oid(ds, "PARAMCD") in items else None
    w = _where(a)
    return _ArmResult(
        f"AR.{aid}",
        param,
        reason,
        purpose,
        a.label,
        itemgroup_oid(ds),
        _wc_oid(*w) if w and _wc_oid(*w) in wanted else None,
        tuple(item_oid(ds, v) for v in variables if item_oid(ds, v) in items),
        methods[a.method].description,
        f"pipeline/tlf/ard.py computes analysis {aid} from ADaM into outputs/analysis/ard.parquet; "
        f"pipeline/tlf/{display_id}.py prints it. Re-run: python -m pipeline run --raw raw --out outputs",
    )


def _collect_displays(
    displays, analyses: dict[str, Analysis], described, items: set[str], wanted: WhereClauses
) -> list[_ArmDisplay]:
    """One ``arm:ResultDisplay`` per display marked ``arm``, with a result per analysis the define describes."""
    methods = load_methods()
    return [
        _ArmDisplay(
            f"RD.{d.id.upper()}",
            f"{d.kind.capitalize()} {d.number}",
            d.title,
            f"LF.{d.id.upper()}",
            TLF_HREF.format(id=d.id),
            f"{d.kind.capitalize()} {d.number} {d.title}",
            tuple(_collect_result(aid, analyses[aid], d.id, items, wanted, methods) for aid in d.analyses if described(aid)),
        )
        for d in displays
    ]


def _write_where_clauses(mdv, wanted: WhereClauses) -> None:
    """The ``def:WhereClauseDef``s (RangeCheck EQ, Soft), in OID order, before the first ItemGroupDef."""
    first_ig = mdv.find(_q(ODM_NS, "ItemGroupDef"))
    for oid, (ds, var, value) in sorted(wanted.items()):
        wc = etree.Element(_q(DEF_NS, "WhereClauseDef"), {"OID": oid})
        rc = _sub(wc, ODM_NS, "RangeCheck", {"Comparator": "EQ", "SoftHard": "Soft"})
        rc.set(_q(DEF_NS, "ItemOID"), item_oid(ds, var))
        _sub(rc, ODM_NS, "CheckValue").text = value
        first_ig.addprevious(wc)


def _write_leaves(mdv, displays: list[_ArmDisplay]) -> None:
    """A ``def:leaf`` per display's RTF, after the last element of the MetaDataVersion's own content."""
    for d in displays:
        leaf = _sub(mdv, DEF_NS, "leaf", {"ID": d.leaf})
        leaf.set(_q(XLINK_NS, "href"), d.href)
        _sub(leaf, DEF_NS, "title").text = d.leaf_title


def _write_result(rd, r: _ArmResult) -> None:
    """An ``arm:AnalysisResult``: Description, AnalysisDatasets, Documentation and ProgrammingCode."""
    ar = _sub(
        rd,
        ARM_NS,
        "AnalysisResult",
        {"OID": r.oid, "ParameterOID": r.parameter, "AnalysisReason": r.reason, "AnalysisPurpose": r.purpose},
    )
    _description(ar, r.label)
    dss = _sub(ar, ARM_NS, "AnalysisDatasets")
    adset = _sub(dss, ARM_NS, "AnalysisDataset", {"ItemGroupOID": r.dataset})
    if r.where_clause:
        _sub(adset, DEF_NS, "WhereClauseRef", {"WhereClauseOID": r.where_clause})
    for v in r.variables:
        _sub(adset, ARM_NS, "AnalysisVariable", {"ItemOID": v})
    doc = _sub(ar, ARM_NS, "Documentation")
    _description(doc, r.documentation)
    code = _sub(ar, ARM_NS, "ProgrammingCode", {"Context": "Python 3.11, pipeline package"})
    _sub(code, ARM_NS, "Code").text = r.code


def _write_result_displays(mdv, displays: list[_ArmDisplay]) -> None:
    """``arm:AnalysisResultDisplays``, last in the MetaDataVersion: a ResultDisplay per display with its results."""
    block = _sub(mdv, ARM_NS, "AnalysisResultDisplays")
    for d in displays:
        rd = _sub(block, ARM_NS, "ResultDisplay", {"OID": d.oid, "Name": d.name})
        _description(rd, d.title)
        _sub(rd, DEF_NS, "DocumentRef", {"leafID": d.leaf})
        for r in d.results:
            _write_result(rd, r)


def add_analysis_results(xml: bytes) -> bytes:
    """The ADaM define.xml with Analysis Results Metadata for the displays marked ``arm``."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
    root = etree.fromstring(xml, parser=parser)
    mdv = root.find(f".//{{{ODM_NS}}}MetaDataVersion")
    items = {e.get("OID") for e in mdv.iter(_q(ODM_NS, "ItemDef"))}
    groups = {e.get("OID") for e in mdv.iter(_q(ODM_NS, "ItemGroupDef"))}
    analyses = {a.id: a for a in load_analyses()}
    described = _described(analyses, groups)
    displays = [d for d in load_displays() if d.arm and any(described(a) for a in d.analyses)]
    if not displays:
        return xml
    wanted = _collect_where_clauses(displays, analyses, described, items)
    arm = _collect_displays(displays, analyses, described, items, wanted)
    _write_where_clauses(mdv, wanted)
    _write_leaves(mdv, arm)
    _write_result_displays(mdv, arm)
    etree.cleanup_namespaces(root, top_nsmap={"arm": ARM_NS})
    body = etree.tostring(root.getroottree(), encoding="unicode", pretty_print=True)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")


@lru_cache(maxsize=1)
def _arm_xsd() -> etree.XMLSchema:
    from pipeline.submission.define import _schema_dir

    return etree.XMLSchema(etree.parse(str(_schema_dir() / "cdisc-arm-1.0" / "arm1-0-0.xsd")))


def validate_arm(xml: bytes) -> list[str]:
    """Errors of a define.xml with ARM against the ARM 1.0 schema (Define-XML 2.1 included); [] = valid."""
    schema = _arm_xsd()
    doc = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True)).getroottree()
    return [] if schema.validate(doc) else [f"line {e.line}: {e.message}" for e in schema.error_log]
