"""Define-XML 2.1: valid against the CDISC XSD, content from the specs, lengths from the data,
problems in the specs reported, byte-identical on a second build, define.html rendered."""

from __future__ import annotations

from pathlib import Path

import pytest
from defineutils.validate import DefineSchemaValidationError, DefineSchemaValidator
from lxml import etree
from test_submission_common import (
    CUTOFF,
    adam_frame,
    adam_spec,
    sdtm_frame,
    sdtm_spec,
    toy_ct,
    var,
    vlm_frame,
    vlm_spec,
)

from pipeline.submission.define import (
    build_define,
    render_html,
    validate_define,
    write_define,
)

NS = {
    "odm": "http://www.cdisc.org/ns/odm/v1.3",
    "def": "http://www.cdisc.org/ns/def/v2.1",
    "xlink": "http://www.w3.org/1999/xlink",
}
DEF = "{http://www.cdisc.org/ns/def/v2.1}"


def _xsd_valid(path, arm: bool = False) -> None:
    """Validate with defineutils (xmlschema), independent of the lxml check in the module.

    ``arm``: against the ARM 1.0 schema (Define-XML 2.1 with Analysis Results Metadata), as the
    ADaM define.xml carries it."""
    import defineutils

    xsd = Path(defineutils.__file__).parent / "validate" / "schema" / "cdisc-arm-1.0" / "arm1-0-0.xsd"
    DefineSchemaValidator(path, xsd if arm else None).validate_define_file()


@pytest.fixture
def sdtm_define(tmp_path):
    res = write_define(tmp_path, "sdtm", [sdtm_spec()], {"AE": sdtm_frame()}, ct=toy_ct(), data_cutoff=CUTOFF)
    return tmp_path, res, etree.parse(str(tmp_path / "define.xml"))


@pytest.fixture
def adam_define(tmp_path):
    res = write_define(tmp_path, "adam", [adam_spec()], {"ADTT": adam_frame()}, ct=toy_ct(), data_cutoff=CUTOFF)
    return tmp_path, res, etree.parse(str(tmp_path / "define.xml"))


def test_sdtm_define_is_xsd_valid(sdtm_define):
    d, res, _ = sdtm_define
    _xsd_valid(d / "define.xml")
    assert validate_define((d / "define.xml").read_bytes()) == []
    assert res.problems == []


def test_adam_define_is_xsd_valid(adam_define):
    d, res, _ = adam_define
    _xsd_valid(d / "define.xml", arm=True)
    assert res.problems == []


def test_xsd_check_is_live(sdtm_define, tmp_path):
    _d, _, doc = sdtm_define
    leaf = doc.find(".//def:leaf", NS)
    leaf.tag = f"{DEF}leafy"
    bad = tmp_path / "bad.xml"
    doc.write(str(bad))
    with pytest.raises(DefineSchemaValidationError):
        _xsd_valid(bad)
    assert validate_define(bad.read_bytes())


def test_creation_time_is_source_date_epoch_not_the_data_cut(monkeypatch, tmp_path):
    # 1672574400 s after 1970-01-01 = 19,358.5 days = 2023-01-01 12:00:00 UTC.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1672574400")
    write_define(tmp_path, "sdtm", [sdtm_spec()], {"AE": sdtm_frame()}, ct=toy_ct(), data_cutoff=CUTOFF)
    assert etree.parse(str(tmp_path / "define.xml")).getroot().get("CreationDateTime") == "2023-01-01T12:00:00"


def test_header_standards_and_creation_time(sdtm_define, adam_define):
    _, _, sd = sdtm_define
    _, _, ad = adam_define
    root = sd.getroot()
    assert root.get("CreationDateTime") != "2022-12-31T00:00:00"  # the data cut is not the creation time
    assert root.get("ODMVersion") == "1.3.2" and root.get(f"{DEF}Context") == "Submission"
    stds = {(s.get("Name"), s.get("Type"), s.get("Version")) for s in sd.iterfind(".//def:Standard", NS)}
    assert ("SDTMIG", "IG", "3.4") in stds
    from pipeline.specs.study import load_study

    assert ("CDISC/NCI", "CT", load_study().ct_version) in stds
    assert ("ADaMIG", "IG", "1.3") in {
        (s.get("Name"), s.get("Type"), s.get("Version")) for s in ad.iterfind(".//def:Standard", NS)
    }


def test_item_group(sdtm_define, adam_define):
    _, _, sd = sdtm_define
    ig = sd.find(".//odm:ItemGroupDef", NS)
    assert ig.get("OID") == "IG.AE" and ig.get("Name") == "AE" and ig.get("Domain") == "AE"
    assert ig.get("Purpose") == "Tabulation" and ig.get("Repeating") == "Yes" and ig.get("IsReferenceData") == "No"
    assert ig.get(f"{DEF}Structure") == "One record per adverse event per subject"
    assert ig.find("def:Class", NS).get("Name") == "EVENTS"
    leaf = ig.find("def:leaf", NS)
    assert leaf.get("{http://www.w3.org/1999/xlink}href") == "ae.xpt" and leaf.get("ID") == ig.get(f"{DEF}ArchiveLocationID")
    refs = {r.get("ItemOID"): r for r in ig.iterfind("odm:ItemRef", NS)}
    assert [r.get("OrderNumber") for r in refs.values()] == [str(i) for i in range(1, 12)]
    assert {k: r.get("KeySequence") for k, r in refs.items() if r.get("KeySequence")} == {
        "IT.AE.STUDYID": "1",
        "IT.AE.USUBJID": "2",
        "IT.AE.AEDECOD": "3",
        "IT.AE.AESTDTC": "4",
    }
    assert refs["IT.AE.STUDYID"].get("Mandatory") == "Yes" and refs["IT.AE.AESEV"].get("Mandatory") == "No"
    assert refs["IT.AE.AESEQ"].get("MethodOID") == "MT.AE.AESEQ" and refs["IT.AE.AETERM"].get("MethodOID") is None
    assert refs["IT.AE.AETERM"].get("Role") == "Topic"
    # The dataset comment (a sponsor choice) is a CommentDef.
    com = sd.find(f".//def:CommentDef[@OID='{ig.get(f'{DEF}CommentOID')}']", NS)
    assert "Toy AE domain" in com.findtext(".//odm:TranslatedText", namespaces=NS)
    _, _, ad = adam_define
    aig = ad.find(".//odm:ItemGroupDef", NS)
    assert aig.get("Purpose") == "Analysis" and aig.get("Domain") is None
    assert aig.find("def:Class", NS).get("Name") == "BASIC DATA STRUCTURE"
    assert all(r.get("Role") is None for r in aig.iterfind("odm:ItemRef", NS))  # roles are SDTM-only


def _item(doc, oid):
    return doc.find(f".//odm:ItemDef[@OID='{oid}']", NS)


def test_item_defs_types_lengths_and_origins(sdtm_define, adam_define):
    _, _, sd = sdtm_define
    term = _item(sd, "IT.AE.AETERM")
    assert term.get("DataType") == "text" and term.get("Length") == str(len("Hand-foot skin reaction"))
    assert term.findtext("odm:Description/odm:TranslatedText", namespaces=NS) == "Reported Term for the Adverse Event"
    assert term.find("def:Origin", NS).attrib == {"Type": "Collected", "Source": "Investigator"}
    dtc = _item(sd, "IT.AE.AESTDTC")
    assert dtc.get("DataType") == "datetime" and dtc.get("Length") is None
    assert _item(sd, "IT.AE.AESEQ").get("DataType") == "integer"
    wt = _item(sd, "IT.AE.AEWT")
    assert wt.get("DataType") == "float" and wt.get("SignificantDigits") == "2"
    assert _item(sd, "IT.AE.STUDYID").find("def:Origin", NS).get("Type") == "Protocol"
    _, _, ad = adam_define
    adt = _item(ad, "IT.ADTT.ADT")
    assert (adt.get("DataType"), adt.get("Length"), adt.get(f"{DEF}DisplayFormat")) == ("integer", "8", "DATE9.")
    pred = _item(ad, "IT.ADTT.STARTDT").find("def:Origin", NS)
    assert pred.get("Type") == "Predecessor" and pred.findtext(".//odm:TranslatedText", namespaces=NS) == "ADSL.HEPDT"
    m = ad.find(".//odm:MethodDef[@OID='MT.ADTT.AVAL']", NS)
    assert m.get("Type") == "Computation" and m.findtext(".//odm:TranslatedText", namespaces=NS) == "ADT - STARTDT + 1"


def test_codelists_with_nci_codes_and_sponsor_codelists(sdtm_define, adam_define):
    _, _, sd = sdtm_define
    assert _item(sd, "IT.AE.AESEV").find("odm:CodeListRef", NS).get("CodeListOID") == "CL.AESEV"
    sev = sd.find(".//odm:CodeList[@OID='CL.AESEV']", NS)
    assert sev.get(f"{DEF}StandardOID", "").startswith("STD.CT.")
    # Only the terms the data uses, each with its NCI code; the codelist's own code last.
    items = sev.findall("odm:EnumeratedItem", NS)
    assert [(i.get("CodedValue"), i.find("odm:Alias", NS).get("Name")) for i in items] == [
        ("MILD", "C41338"),
        ("MODERATE", "C41339"),
    ]
    assert all(i.find("odm:Alias", NS).get("Context") == "nci:ExtCodeID" for i in items)
    assert sev.find("odm:Alias", NS).attrib == {"Context": "nci:ExtCodeID", "Name": "C66769"}
    rel = sd.find(".//odm:CodeList[@OID='CL.AEREL']", NS)
    assert rel.get(f"{DEF}StandardOID") is None and rel.find(".//odm:Alias", NS) is None
    assert [
        (i.get("CodedValue"), i.findtext("odm:Decode/odm:TranslatedText", namespaces=NS))
        for i in rel.findall("odm:CodeListItem", NS)
    ] == [("RELATED", "Related (definitely or probably)"), ("NOT RELATED", "Not related")]
    meddra = sd.find(".//odm:CodeList[@OID='CL.MEDDRA_26_0']/odm:ExternalCodeList", NS)
    assert meddra.attrib == {"Dictionary": "MedDRA", "Version": "26.0"}
    _, _, ad = adam_define
    assert ad.find(".//odm:CodeList[@OID='CL.NY']", NS) is not None


def test_extended_cdisc_term_is_marked(tmp_path):
    df = sdtm_frame()
    df.loc[2, "AESEV"] = "LIFE THREATENING"
    res = build_define("sdtm", [sdtm_spec()], {"AE": df}, ct=toy_ct(), data_cutoff=CUTOFF)
    doc = etree.fromstring(res.xml)
    ext = doc.find(".//odm:CodeList[@OID='CL.AESEV']/odm:EnumeratedItem[@CodedValue='LIFE THREATENING']", NS)
    assert ext.get(f"{DEF}ExtendedValue") == "Yes" and ext.find("odm:Alias", NS) is None
    assert validate_define(res.xml) == []


def test_spec_gaps_are_reported_and_left_out():
    spec = sdtm_spec()
    variables = spec.variables + (
        var("AEOUT", "Outcome of Adverse Event", codelist="OUT", core="Perm", role="Record Qualifier"),
        var("AETRTEM", "Treatment Emergent Flag", length=1, core="Perm", role="Record Qualifier", origin="Derived", sources=()),
    )
    df = sdtm_frame().assign(AEOUT="RECOVERED/RESOLVED", AETRTEM="Y")
    df.loc[0, "AEREL"] = "PROBABLY"
    res = build_define("sdtm", [sdtm_spec(variables=variables)], {"AE": df}, ct=toy_ct(), data_cutoff=CUTOFF)
    text = "\n".join(res.problems)
    assert "AE.AEOUT: codelist OUT is not in specs/ct" in text
    assert "AE.AETRTEM: Derived without a derivation" in text
    assert "AE.AEREL: values ['PROBABLY'] are not terms of codelist AEREL" in text
    assert validate_define(res.xml) == []  # still a valid document: the gaps are left out
    doc = etree.fromstring(res.xml)
    assert _item(doc, "IT.AE.AEOUT").find("odm:CodeListRef", NS) is None


def test_value_level_metadata(tmp_path):
    res = write_define(tmp_path, "sdtm", [vlm_spec()], {"LB": vlm_frame()}, ct=toy_ct(), data_cutoff=CUTOFF)
    _xsd_valid(tmp_path / "define.xml")
    assert res.problems == []
    doc = etree.parse(str(tmp_path / "define.xml"))
    assert _item(doc, "IT.LB.LBORRES").find("def:ValueListRef", NS).get("ValueListOID") == "VL.LB.LBORRES"
    refs = doc.findall(".//def:ValueListDef[@OID='VL.LB.LBORRES']/odm:ItemRef", NS)
    assert [r.get("ItemOID") for r in refs] == ["IT.LB.LBORRES.ALB", "IT.LB.LBORRES.HBSAG"]
    wc = doc.find(".//def:WhereClauseDef[@OID='WC.LB.LBORRES.ALB']/odm:RangeCheck", NS)
    assert (
        wc.get("Comparator") == "EQ"
        and wc.get(f"{DEF}ItemOID") == "IT.LB.LBTESTCD"
        and wc.findtext("odm:CheckValue", namespaces=NS) == "ALB"
    )
    alb = _item(doc, "IT.LB.LBORRES.ALB")
    # A number held in the character LBORRES: float, as long as the ALB rows' longest text ("38.5").
    assert (alb.get("DataType"), alb.get("Length"), alb.get("SignificantDigits")) == ("float", "4", "1")
    hbsag = _item(doc, "IT.LB.LBORRES.HBSAG")
    assert hbsag.find("odm:CodeListRef", NS).get("CodeListOID") == "CL.NY"


def test_two_builds_give_identical_bytes(tmp_path):
    a = write_define(tmp_path / "a", "adam", [adam_spec()], {"ADTT": adam_frame()}, ct=toy_ct(), data_cutoff=CUTOFF)
    b = write_define(tmp_path / "b", "adam", [adam_spec()], {"ADTT": adam_frame()}, ct=toy_ct(), data_cutoff=CUTOFF)
    assert a.xml == b.xml
    for f in ("define.xml", "define.html", "define2-1.xsl"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_define_html_is_the_reviewer_rendering(sdtm_define):
    d, res, _ = sdtm_define
    html = (d / "define.html").read_text(encoding="utf-8")
    assert "<html" in html.lower()
    for text in ("Adverse Events", "Reported Term for the Adverse Event", "ae.xpt", "Relationship to Study Drug"):
        assert text in html
    assert render_html(res.xml) == (d / "define.html").read_bytes()
    # The XML names the stylesheet written beside it, so it also opens in a browser.
    assert (d / "define.xml").read_bytes().splitlines()[1] == b'<?xml-stylesheet type="text/xsl" href="define2-1.xsl"?>'
    assert (d / "define2-1.xsl").exists()


def _supp_dates(values):
    from pipeline.specs.datasets import DatasetSpec, ValueLevelSpec

    variables = (
        var("STUDYID", "Study Identifier", origin="Protocol", sources=()),
        var("USUBJID", "Unique Subject Identifier", length=40, origin="Protocol", sources=()),
        var("QNAM", "Qualifier Variable Name", length=8, role="Topic", origin="Assigned", sources=()),
        var("QVAL", "Data Value", length=40, role="Result Qualifier", sources=("ta.RECURDAT",)),
    )
    vl = (
        ValueLevelSpec(
            variable="QVAL",
            where=(("QNAM", "RECURDTC"),),
            origin="Collected",
            sources=("ta.RECURDAT",),
            type="Char",
            length=10,
            label="Date of Recurrence Diagnosis",
        ),
    )
    spec = DatasetSpec(
        name="SUPPRS",
        label="Supplemental Qualifiers for RS",
        cls="RELATIONSHIP",
        structure="One record per supplemental qualifier per related record per subject",
        keys=("STUDYID", "USUBJID", "QNAM"),
        sort=("STUDYID", "USUBJID"),
        comment=None,
        variables=variables,
        value_level=vl,
        layer="sdtm",
    )
    import pandas as pd

    frame = pd.DataFrame(
        {"STUDYID": "TOY01", "USUBJID": [f"TOY01-{i}" for i in range(len(values))], "QNAM": "RECURDTC", "QVAL": values}
    )
    doc = etree.fromstring(build_define("sdtm", [spec], {"SUPPRS": frame}, ct=toy_ct(), data_cutoff=CUTOFF).xml)
    item = doc.find(".//odm:ItemDef[@OID='IT.SUPPRS.QVAL.RECURDTC']", NS)
    return item.get("DataType"), item.get("Length"), doc


@pytest.mark.parametrize(
    "values, dtype",
    [
        (["2018-07-09", "2018-05-09"], "date"),  # every value a complete date
        (["2018-07-09", "2018-06"], "partialDate"),  # one without its day: ODM partialDate YYYY[-MM[-DD]]
        (["2018-07-09T10:00", "2018-06"], "datetime"),  # a time: datetime (which admits partial values)
    ],
)
def test_supp_qualifier_named_dtc_is_a_date(values, dtype):
    got, length, doc = _supp_dates(values)
    assert (got, length) == (dtype, None)
    assert validate_define(etree.tostring(doc, xml_declaration=True, encoding="UTF-8")) == []
    assert doc.find(".//odm:ItemGroupDef", NS).get("Domain") == "RS"


def test_merged_codelist_claims_no_ct_standard(tmp_path):
    spec = sdtm_spec(
        variables=sdtm_spec().variables
        + (var("AESEVX", "Severity two lists", length=8, core="Perm", role="Record Qualifier", codelist=("AESEV", "NY")),)
    )
    frame = sdtm_frame().assign(AESEVX=["MILD", "Y", None])
    doc = etree.fromstring(build_define("sdtm", [spec], {"AE": frame}, ct=toy_ct(), data_cutoff=CUTOFF).xml)
    merged = doc.find(".//odm:CodeList[@OID='CL.AESEV.NY']", NS)
    single = doc.find(".//odm:CodeList[@OID='CL.AESEV']", NS)
    assert merged.get(f"{DEF}StandardOID") is None and merged.find("odm:Alias", NS) is None
    assert single.get(f"{DEF}StandardOID") is not None and single.find("odm:Alias", NS).get("Name") == "C66769"
    # The terms keep their own NCI codes.
    assert [a.get("Name") for a in merged.iterfind("odm:EnumeratedItem/odm:Alias", NS)] == ["C41338", "C49488"]
