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


def add_analysis_results(xml: bytes) -> bytes:
    """The ADaM define.xml with Analysis Results Metadata for the displays marked ``arm``."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
    root = etree.fromstring(xml, parser=parser)
    mdv = root.find(f".//{{{ODM_NS}}}MetaDataVersion")
    items = {e.get("OID") for e in mdv.iter(_q(ODM_NS, "ItemDef"))}
    groups = {e.get("OID") for e in mdv.iter(_q(ODM_NS, "ItemGroupDef"))}
    analyses = {a.id: a for a in load_analyses()}
    methods = load_methods()
    # Only analyses whose dataset this define describes (a define of other datasets gets no ARM).
    described = lambda aid: analyses[aid].kind in _READS and itemgroup_oid(_READS[analyses[aid].kind][0]) in groups  # noqa: E731
    displays = [d for d in load_displays() if d.arm and any(described(a) for a in d.analyses)]
    if not displays:
        return xml
    # Where clauses, before the first ItemGroupDef
    wanted: dict[str, tuple[str, str, str]] = {}
    for d in displays:
        for aid in filter(described, d.analyses):
            w = _where(analyses[aid])
            if w and item_oid(w[0], w[1]) in items:
                wanted[_wc_oid(*w)] = w
    first_ig = mdv.find(_q(ODM_NS, "ItemGroupDef"))
    for oid, (ds, var, value) in sorted(wanted.items()):
        wc = etree.Element(_q(DEF_NS, "WhereClauseDef"), {"OID": oid})
        rc = _sub(wc, ODM_NS, "RangeCheck", {"Comparator": "EQ", "SoftHard": "Soft"})
        rc.set(_q(DEF_NS, "ItemOID"), item_oid(ds, var))
        _sub(rc, ODM_NS, "CheckValue").text = value
        first_ig.addprevious(wc)
    # Leaves of the displays' RTF files, after the last element of the MetaDataVersion's own content
    for d in displays:
        leaf = _sub(mdv, DEF_NS, "leaf", {"ID": f"LF.{d.id.upper()}"})
        leaf.set(_q(XLINK_NS, "href"), TLF_HREF.format(id=d.id))
        _sub(leaf, DEF_NS, "title").text = f"{d.kind.capitalize()} {d.number} {d.title}"
    block = _sub(mdv, ARM_NS, "AnalysisResultDisplays")
    for d in displays:
        rd = _sub(block, ARM_NS, "ResultDisplay", {"OID": f"RD.{d.id.upper()}", "Name": f"{d.kind.capitalize()} {d.number}"})
        _description(rd, d.title)
        _sub(rd, DEF_NS, "DocumentRef", {"leafID": f"LF.{d.id.upper()}"})
        for aid in d.analyses:
            a = analyses[aid]
            if not described(aid):
                continue
            ds, variables, _var = _READS[a.kind]
            reason, purpose = _purpose(a)
            param = item_oid(ds, "PARAMCD") if _var == "PARAMCD" and item_oid(ds, "PARAMCD") in items else None
            ar = _sub(
                rd,
                ARM_NS,
                "AnalysisResult",
                {"OID": f"AR.{aid}", "ParameterOID": param, "AnalysisReason": reason, "AnalysisPurpose": purpose},
            )
            _description(ar, a.label)
            dss = _sub(ar, ARM_NS, "AnalysisDatasets")
            adset = _sub(dss, ARM_NS, "AnalysisDataset", {"ItemGroupOID": itemgroup_oid(ds)})
            w = _where(a)
            if w and _wc_oid(*w) in wanted:
                _sub(adset, DEF_NS, "WhereClauseRef", {"WhereClauseOID": _wc_oid(*w)})
            for v in variables:
                if item_oid(ds, v) in items:
                    _sub(adset, ARM_NS, "AnalysisVariable", {"ItemOID": item_oid(ds, v)})
            doc = _sub(ar, ARM_NS, "Documentation")
            _description(doc, methods[a.method].description)
            code = _sub(ar, ARM_NS, "ProgrammingCode", {"Context": "Python 3.11, pipeline package"})
            _sub(code, ARM_NS, "Code").text = (
                f"pipeline/tlf/ard.py computes analysis {aid} from ADaM into outputs/analysis/ard.parquet; "
                f"pipeline/tlf/{d.id}.py prints it. Re-run: python -m pipeline run --raw raw --out outputs"
            )
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
