"""The collectors of pipeline/submission/define.py, one by one, on tiny hand-made specs with known answers.

Each collector turns specs, CT and data into the records one Define-XML 2.1 section is written from
(ItemDefs, value-level items and where clauses, ItemGroupDefs, origins, CodeLists, standards, methods,
comments, documents); the writers are checked on the elements they make. The whole document is
checked against the XSD in tests/test_submission_define.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
from lxml import etree
from test_submission_common import toy_ct, var, vlm_frame, vlm_spec

from pipeline.specs.analysis import Analysis, load_methods
from pipeline.specs.ct import Codelist, Term
from pipeline.specs.datasets import DatasetSpec, ValueLevelSpec
from pipeline.submission import define as d

CT_STD = "STD.CT.SDTM.2025-03-28"
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
DEF = "{http://www.cdisc.org/ns/def/v2.1}"


def _spec(variables, name="AE", **kw) -> DatasetSpec:
    base = {
        "label": "Adverse Events",
        "cls": "EVENTS",
        "structure": "One record per adverse event per subject",
        "keys": ("STUDYID", "AESEQ"),
        "sort": (),
        "comment": None,
    }
    return DatasetSpec(name=name, variables=tuple(variables), **{**base, **kw})


def _items(spec, frame=None, widths=None, ct=None):
    problems: list[str] = []
    codelists = d._Codelists(ct or toy_ct(), problems)
    items = d._collect_variables(spec, frame, d._FrameText(frame), widths or {}, codelists, problems)
    return {it.name: it for it in items}, codelists, problems


# --------------------------------------------------------------------------- ItemDefs of the variables


AE_VARS = [
    var("STUDYID", "Study Identifier", origin="Protocol", sources=()),
    var("AESEQ", "Sequence Number", typ="Num", origin="Derived", derivation="Row number within USUBJID", sources=()),
    var("AESEV", "Severity/Intensity", length=20, codelist="AESEV", sources=("ae.AESEV",)),
    var("AEDECOD", "Dictionary-Derived Term", origin="Assigned", sources=("ae.AETERM",), dictionary="MedDRA 26.0"),
    var("AEOUT", "Outcome", origin="Derived", sources=()),
]
AE_FRAME = pd.DataFrame(
    {
        "STUDYID": ["TOY01", "TOY01"],
        "AESEQ": [1.0, 2.0],
        "AESEV": ["MILD", "SEVERE"],
        "AEDECOD": ["Headache", "Nausea"],
        "AEOUT": ["RECOVERED", "FATAL"],
    }
)


def test_variables_take_types_and_lengths_from_the_data_and_the_xpt_widths():
    items, _, _ = _items(_spec(AE_VARS), AE_FRAME, widths={"AESEV": 12})
    assert (items["STUDYID"].data_type, items["STUDYID"].length) == ("text", 5)  # longest value "TOY01"
    assert (items["AESEQ"].data_type, items["AESEQ"].length, items["AESEQ"].digits) == ("integer", 8, None)
    assert items["AESEV"].length == 12  # the XPT's allotted width wins over the observed 6
    assert items["STUDYID"].oid == "IT.AE.STUDYID" and items["STUDYID"].where == "AE.STUDYID"


def test_variables_without_data_keep_the_spec_length():
    items, _, _ = _items(_spec(AE_VARS))
    assert (items["STUDYID"].length, items["AESEQ"].data_type) == (20, "float")


def test_variable_codelists_record_the_values_used_and_external_dictionaries():
    items, codelists, problems = _items(_spec(AE_VARS), AE_FRAME)
    assert items["AESEV"].codelist == "CL.AESEV"
    assert codelists.used["CL.AESEV"]["values"] == {"MILD", "SEVERE"}
    assert items["AEDECOD"].codelist == "CL.MEDDRA_26_0"
    assert codelists.used["CL.MEDDRA_26_0"]["dictionary"] == "MedDRA 26.0"
    assert items["STUDYID"].codelist is None
    assert problems == ["AE.AEOUT: Derived without a derivation (define.xml needs a MethodDef)"]


def test_variable_methods_only_for_derived_with_a_derivation():
    items, _, _ = _items(_spec(AE_VARS), AE_FRAME)
    assert items["AESEQ"].method == "MT.AE.AESEQ"
    assert items["AEOUT"].method is None and items["AEDECOD"].method is None


def test_variable_codelist_missing_from_ct_is_reported_not_referenced():
    spec = _spec([var("AEACN", "Action Taken", codelist="ACN")])
    items, _, problems = _items(spec)
    assert items["AEACN"].codelist is None
    assert problems == ["AE.AEACN: codelist ACN is not in specs/ct (no CodeListRef written)"]


def test_variable_values_outside_the_codelist_are_reported():
    frame = pd.DataFrame({"AESEV": ["MILD", "GRAVE"]})
    _, _, problems = _items(_spec([var("AESEV", "Severity", codelist="AESEV")]), frame)
    assert problems == ["AE.AESEV: values ['GRAVE'] are not terms of codelist AESEV"]


# --------------------------------------------------------------------------- value-level items and where clauses


def _value_level(spec, frame=None):
    problems: list[str] = []
    codelists = d._Codelists(toy_ct(), problems)
    text = d._FrameText(frame)
    items = d._collect_variables(spec, frame, text, {}, codelists, problems)
    vlm: d.ValueLists = {}
    d._collect_value_level(spec, frame, text, items, codelists, problems, vlm)
    return vlm, {it.name: it for it in items}, codelists, problems


def test_value_level_items_per_where_clause_typed_from_their_records():
    vlm, items, codelists, problems = _value_level(vlm_spec(), vlm_frame())
    assert list(vlm) == ["VL.LB.LBORRES"] and items["LBORRES"].value_list == "VL.LB.LBORRES"
    (alb, alb_where), (hbsag, hbsag_where) = vlm["VL.LB.LBORRES"]
    assert (alb.oid, alb_where, hbsag_where) == ("IT.LB.LBORRES.ALB", [("LBTESTCD", "ALB")], [("LBTESTCD", "HBSAG")])
    # ALB: "38.5" and "40" held in a Char result: float with 1 digit, length of the longest text
    assert (alb.data_type, alb.length, alb.digits) == ("float", 4, 1)
    assert (hbsag.oid, hbsag.data_type, hbsag.length, hbsag.codelist) == ("IT.LB.LBORRES.HBSAG", "text", 1, "CL.NY")
    assert codelists.used["CL.NY"]["values"] == {"N"}
    assert hbsag.where == "LB.LBORRES [LBTESTCD = HBSAG]" and hbsag.label == "LBORRES where LBTESTCD = HBSAG"
    assert problems == []


def test_value_level_oid_suffix_made_unique_by_position():
    spec = vlm_spec()
    twice = (
        ValueLevelSpec(variable="LBORRES", where=(("LBTESTCD", "ALB"),), origin="Collected", sources=()),
        ValueLevelSpec(variable="LBORRES", where=(("LBCAT", "ALB"),), origin="Collected", sources=()),
    )
    vlm, *_ = _value_level(DatasetSpec(**{**spec.__dict__, "value_level": twice}))
    assert [it.oid for it, _ in vlm["VL.LB.LBORRES"]] == ["IT.LB.LBORRES.ALB", "IT.LB.LBORRES.ALB.2"]


def test_value_level_of_an_unknown_variable_is_reported():
    spec = vlm_spec()
    bad = (ValueLevelSpec(variable="LBSTRESN", where=(("LBTESTCD", "ALB"),), origin="Derived", sources=()),)
    vlm, _, _, problems = _value_level(DatasetSpec(**{**spec.__dict__, "value_level": bad}))
    assert vlm == {} and problems == ["LB: value-level metadata for unknown variable LBSTRESN"]


def test_where_clauses_written_one_range_check_per_variable():
    vlm, *_ = _value_level(vlm_spec(), vlm_frame())
    mdv = etree.Element(f"{ODM}MetaDataVersion")
    d._write_value_lists(mdv, vlm)
    d._write_where_clauses(mdv, vlm)
    (vld,) = mdv.findall(f"{DEF}ValueListDef")
    refs = vld.findall(f"{ODM}ItemRef")
    assert [(r.get("ItemOID"), r.get("OrderNumber")) for r in refs] == [("IT.LB.LBORRES.ALB", "1"), ("IT.LB.LBORRES.HBSAG", "2")]
    assert refs[0].find(f"{DEF}WhereClauseRef").get("WhereClauseOID") == "WC.LB.LBORRES.ALB"
    wcs = mdv.findall(f"{DEF}WhereClauseDef")
    assert [w.get("OID") for w in wcs] == ["WC.LB.LBORRES.ALB", "WC.LB.LBORRES.HBSAG"]
    rc = wcs[1].find(f"{ODM}RangeCheck")
    assert (rc.get("Comparator"), rc.get(f"{DEF}ItemOID"), rc.find(f"{ODM}CheckValue").text) == ("EQ", "IT.LB.LBTESTCD", "HBSAG")


# --------------------------------------------------------------------------- ItemGroupDefs


def _group(spec, layer_name="sdtm"):
    problems: list[str] = []
    items, _, _ = _items(spec)
    g = d._collect_item_group(spec, list(items.values()), layer_name, "Tabulation", "STD.SDTMIG.3.4", problems)
    return g, problems


def test_item_group_attributes_refs_and_class():
    g, problems = _group(_spec(AE_VARS[:3]))
    assert g.attrs["OID"] == "IG.AE" and g.attrs["Domain"] == "AE" and g.attrs["Repeating"] == "Yes"
    assert g.attrs["IsReferenceData"] == "No" and g.attrs[f"{DEF}ArchiveLocationID"] == "LF.AE"
    assert g.attrs[f"{DEF}CommentOID"] is None and g.cls == "EVENTS" and g.subclass is None
    assert [(r["ItemOID"], r["KeySequence"], r["Role"], r["MethodOID"]) for r in g.refs] == [
        ("IT.AE.STUDYID", 1, "Identifier", None),
        ("IT.AE.AESEQ", 2, "Identifier", "MT.AE.AESEQ"),
        ("IT.AE.AESEV", None, "Identifier", None),
    ]
    assert problems == []


def test_item_group_supp_domain_one_record_per_subject_and_trial_design():
    spec = _spec(
        [var("STUDYID", "Study Identifier", core="Perm", origin="Protocol", sources=())],
        name="SUPPAE",
        cls="TRIAL DESIGN",
        structure="One record per subject.",
        keys=("STUDYID", "QNAM"),
    )
    g, problems = _group(spec)
    assert (g.attrs["Domain"], g.attrs["Repeating"], g.attrs["IsReferenceData"]) == ("AE", "No", "Yes")
    assert g.refs[0]["Mandatory"] == "No"  # core Perm
    assert problems == ["SUPPAE: key QNAM is not a variable of the dataset"]


def test_item_group_in_adam_has_no_domain_and_no_role():
    spec = _spec(AE_VARS[:1], name="ADAE", cls="OCCURRENCE DATA STRUCTURE", subclass="ADVERSE EVENT", keys=())
    g, problems = _group(spec, "adam")
    assert g.attrs["Domain"] is None and g.refs[0]["Role"] is None
    assert (g.cls, g.subclass, problems) == ("OCCURRENCE DATA STRUCTURE", "ADVERSE EVENT", [])


def test_item_group_problems_structure_class_subclass():
    g, problems = _group(_spec(AE_VARS[:1], structure=" ", cls="EVENTZ", keys=()))
    assert g.attrs[f"{DEF}Structure"] == "Not specified" and g.cls is None
    assert problems == [
        "AE: no structure in the spec (def:Structure is required)",
        "AE: class 'EVENTZ' is not a Define-XML 2.1 class",
    ]
    _, problems = _group(_spec(AE_VARS[:1], subclass="SOMETHING", keys=()))
    assert problems == ["AE: subclass 'SOMETHING' is not a Define-XML 2.1 subclass"]


def test_item_group_writer_replaces_the_standard_in_place():
    g, _ = _group(_spec(AE_VARS[:1], keys=()))
    mdv = etree.Element(f"{ODM}MetaDataVersion")
    d._write_item_group(mdv, g, "STD.ADaM-OCCDSIG.1.1")
    ig = mdv[0]
    assert ig.get(f"{DEF}StandardOID") == "STD.ADaM-OCCDSIG.1.1"
    # in its place among the attributes set (CommentOID, None, is left out)
    assert list(ig.attrib) == [k for k, v in g.attrs.items() if v is not None]
    assert [c.tag for c in ig] == [f"{ODM}Description", f"{ODM}ItemRef", f"{DEF}Class", f"{DEF}leaf"]
    assert ig.find(f"{DEF}leaf").get("{http://www.w3.org/1999/xlink}href") == "ae.xpt"


# --------------------------------------------------------------------------- origins


def _origin(origin, sources=(), derivation=None, where="AE.AETERM", crf=None):
    it = d._Item("IT.X", "X", "x", "text", 1, None, None, origin, tuple(sources), derivation, where)
    problems: list[str] = []
    return d._collect_origin(it, crf, problems), problems


def test_origin_types_sources_and_descriptions():
    assert _origin("CRF", ["ae.AETERM"])[0] == d._OriginDef("Collected", "Investigator", "ae.AETERM")
    assert _origin("eDT")[0] == d._OriginDef("Collected", "Vendor", None)
    assert _origin("Derived", ["ae.AESTDTC"], "ISO 8601")[0] == d._OriginDef("Derived", "Sponsor", None)
    assert _origin("Assigned", ["x"], "From the dictionary")[0].description == "From the dictionary"
    assert _origin("Predecessor", ["ADSL.AGE", ""])[0] == d._OriginDef("Predecessor", None, "ADSL.AGE")


def test_origin_problems():
    assert _origin("Predecessor") == (
        d._OriginDef("Predecessor", None, None),
        ["AE.AETERM: Predecessor origin without a source variable"],
    )
    assert _origin("Guessed") == (None, ["AE.AETERM: origin 'Guessed' is not a Define-XML 2.1 origin type"])


def test_origin_collected_gets_its_acrf_pages():
    crf = ("LF.ACRF", {"AE.AETERM": [3, 4]})
    assert _origin("Collected", crf=crf)[0] == d._OriginDef("Collected", "Investigator", None, "LF.ACRF", (3, 4))
    assert _origin("Collected", where="AE.AEBODSYS", crf=crf)[0].crf_leaf is None  # not on the aCRF
    assert _origin("Assigned", crf=crf)[0].crf_leaf is None  # only Collected values
    el = etree.Element(f"{ODM}ItemDef")
    d._write_origin(el, _origin("Collected", ["ae.AETERM"], crf=crf)[0])
    o = el.find(f"{DEF}Origin")
    assert [c.tag for c in o] == [f"{ODM}Description", f"{DEF}DocumentRef"]
    assert o.find(f"{DEF}DocumentRef/{DEF}PDFPageRef").get("PageRefs") == "3 4"


# --------------------------------------------------------------------------- CodeLists


def _codelists(refs, ct=None):
    problems: list[str] = []
    c = d._Codelists(ct or toy_ct(), problems)
    for names, dtype, values in refs:
        c.ref(names, dtype, "AE.X", values)
    return {cl.oid: cl for cl in c.collect(CT_STD)}, problems


def test_cdisc_codelist_lists_the_terms_used_with_nci_codes_and_extensions():
    lists, problems = _codelists([(("AESEV",), "text", {"MILD", "LIFE THREATENING"})])
    cl = lists["CL.AESEV"]
    assert (cl.name, cl.data_type, cl.standard, cl.cdisc, cl.alias, cl.nci_code) == (
        "Severity/Intensity Scale for Adverse Events",
        "text",
        CT_STD,
        True,
        True,
        "C66769",
    )
    assert cl.terms == [d._Term("MILD", 1, False, None, "C41338"), d._Term("LIFE THREATENING", 2, True, None, None)]
    assert problems == []


def test_cdisc_codelist_without_data_lists_every_term():
    lists, _ = _codelists([(("NY",), "text", None)])
    assert [t.value for t in lists["CL.NY"].terms] == ["N", "Y"]


def test_sponsor_codelist_lists_every_term_with_its_decode_and_no_standard():
    lists, _ = _codelists([(("AEREL",), "text", {"RELATED"})])
    cl = lists["CL.AEREL"]
    assert (cl.standard, cl.cdisc, cl.alias) == (None, False, False)
    assert cl.terms == [
        d._Term("RELATED", 1, False, "Related (definitely or probably)", None),
        d._Term("NOT RELATED", 2, False, "Not related", None),
    ]


def test_union_of_cdisc_codelists_is_the_sponsors():
    lists, _ = _codelists([(("NY", "AESEV"), "text", {"Y", "MILD"})])
    cl = lists["CL.NY.AESEV"]
    assert (cl.name, cl.standard, cl.cdisc, cl.alias) == (
        "No Yes Response / Severity/Intensity Scale for Adverse Events",
        None,
        True,
        False,
    )
    assert [(t.value, t.order) for t in cl.terms] == [("Y", 1), ("MILD", 2)]


def test_codelist_used_with_two_types_is_reported_and_written_as_text():
    lists, problems = _codelists([(("NY",), "integer", None), (("NY",), "text", None)])
    assert lists["CL.NY"].data_type == "text"
    assert problems == ["CL.NY: used by variables of different types ['integer', 'text'] (AE.X, AE.X)"]


def test_external_dictionaries_with_and_without_a_version():
    problems: list[str] = []
    c = d._Codelists({}, problems)
    c.external("CTCAE v4.0", "integer", "AE.AETOXGR")
    c.external("Home-made list", "text", "AE.X")
    lists = {cl.oid: cl for cl in c.collect(CT_STD)}
    assert (lists["CL.CTCAE_V4_0.INTEGER"].dictionary, lists["CL.CTCAE_V4_0.INTEGER"].version) == ("CTCAE", "4.0")
    assert lists["CL.CTCAE_V4_0.INTEGER"].data_type == "integer" and lists["CL.CTCAE_V4_0.INTEGER"].standard is None
    assert problems == [
        "CL.HOME_MADE_LIST: external dictionary 'Home-made list' has no version in the spec (ExternalCodeList/@Version)"
    ]


def test_codelist_writer_enumerated_and_decoded_items():
    lists, _ = _codelists([(("AESEV",), "text", {"LIFE THREATENING"}), (("AEREL",), "text", None)])
    mdv = etree.Element(f"{ODM}MetaDataVersion")
    for cl in lists.values():
        d._write_codelist(mdv, cl)
    aerel, aesev = mdv  # OID order
    assert [e.tag for e in aesev] == [f"{ODM}EnumeratedItem", f"{ODM}Alias"]
    assert aesev[0].get(f"{DEF}ExtendedValue") == "Yes" and aesev.get(f"{DEF}StandardOID") == CT_STD
    assert [e.tag for e in aerel] == [f"{ODM}CodeListItem", f"{ODM}CodeListItem"]
    assert aerel[0].find(f"{ODM}Decode/{ODM}TranslatedText").text == "Related (definitely or probably)"


# --------------------------------------------------------------------------- standards


def _cl(oid, cdisc=True):
    return d._CodeListDef(oid, oid, "text", cdisc=cdisc, standard=CT_STD if cdisc else None)


def _oids(stds):
    return [s["OID"] for s in stds.standards]


def test_sdtm_standards_are_the_ig_and_the_ct_when_a_cdisc_codelist_is_used():
    problems: list[str] = []
    stds = d._collect_standards("sdtm", ("SDTMIG", "3.4"), "2025-03-28", [], [_cl("CL.NY")], problems)
    assert _oids(stds) == ["STD.SDTMIG.3.4", CT_STD] and stds.dataset == {} and problems == []
    assert stds.standards[1] == {
        "OID": CT_STD,
        "Name": "CDISC/NCI",
        "Type": "CT",
        "PublishingSet": "SDTM",
        "Version": "2025-03-28",
        "Status": "Final",
    }
    assert _oids(d._collect_standards("sdtm", ("SDTMIG", "3.4"), "2025-03-28", [], [_cl("CL.X", False)], [])) == [
        "STD.SDTMIG.3.4"
    ]


def test_adam_standards_dataset_igs_first_then_sdtm_and_adam_ct():
    specs = [_spec(AE_VARS[:1], name="ADAE", standard="ADaM-OCCDSIG 1.1"), _spec(AE_VARS[:1], name="ADSL")]
    lists = [_cl("CL.DATEFL"), _cl("CL.NY")]
    problems: list[str] = []
    stds = d._collect_standards("adam", ("ADaMIG", "1.3"), "2025-03-28", specs, lists, problems)
    assert _oids(stds) == ["STD.ADaMIG.1.3", "STD.ADaM-OCCDSIG.1.1", CT_STD, "STD.CT.ADaM.2025-03-28"]
    assert stds.dataset == {"ADAE": "STD.ADaM-OCCDSIG.1.1"}
    assert [cl.standard for cl in lists] == ["STD.CT.ADaM.2025-03-28", CT_STD]  # DATEFL is ADaM CT
    assert problems == []


def test_adam_standards_drop_the_sdtm_ct_no_codelist_uses():
    specs = [_spec(AE_VARS[:1], name="ADAE", standard="ADaM-XYZ 1.0")]
    problems: list[str] = []
    stds = d._collect_standards("adam", ("ADaMIG", "1.3"), "2025-03-28", specs, [_cl("CL.DATEFL")], problems)
    assert _oids(stds) == ["STD.ADaMIG.1.3", "STD.CT.ADaM.2025-03-28"] and stds.dataset == {}
    assert problems == ["ADAE: standard 'ADaM-XYZ' is not a Define-XML 2.1 standard name"]


# --------------------------------------------------------------------------- methods, comments, documents


def test_methods_of_derived_items_with_their_sources():
    items, _, _ = _items(
        _spec(
            [
                *AE_VARS[:2],
                var(
                    "AEDY",
                    "Study Day",
                    typ="Num",
                    origin="Derived",
                    derivation=" AESTDTC - RFSTDTC ",
                    sources=("AE.AESTDTC", "DM.RFSTDTC"),
                ),
            ]
        )
    )
    assert d._collect_methods(list(items.values())) == [
        d._MethodDef("MT.AE.AESEQ", "Algorithm to derive AE.AESEQ", "Row number within USUBJID"),
        d._MethodDef("MT.AE.AEDY", "Algorithm to derive AE.AEDY", "AESTDTC - RFSTDTC (source: AE.AESTDTC, DM.RFSTDTC)"),
    ]


def test_comments_of_datasets_with_a_spec_comment_whitespace_folded():
    specs = [_spec(AE_VARS[:1], comment="One  record\n per   event."), _spec(AE_VARS[:1], name="CM")]
    assert d._collect_comments(specs) == [d._CommentDef("COM.AE", "One record per event.")]


def test_documents_per_layer():
    sdtm = d._collect_documents("sdtm")
    assert [x[0] for x in sdtm.crf] == ["LF.ACRF"] and [x[0] for x in sdtm.supplemental] == ["LF.CSDRG"]
    adam = d._collect_documents("adam")
    assert adam.crf == () and [x[1] for x in adam.all] == ["adrg.pdf"]
    mdv = etree.Element(f"{ODM}MetaDataVersion")
    d._write_document_refs(mdv, sdtm)
    d._write_leaves(mdv, sdtm)
    assert [e.tag for e in mdv] == [f"{DEF}AnnotatedCRF", f"{DEF}SupplementalDoc", f"{DEF}leaf", f"{DEF}leaf"]


def test_the_toy_ct_is_what_these_tests_assume():
    # Guards the known answers above: a change of the shared fixture shows here first.
    ct = toy_ct()
    assert ct["AESEV"] == Codelist(
        "AESEV",
        "C66769",
        "Severity/Intensity Scale for Adverse Events",
        True,
        (
            Term("MILD", "C41338", "Mild Adverse Event"),
            Term("MODERATE", "C41339", "Moderate Adverse Event"),
            Term("SEVERE", "C41340", "Severe Adverse Event"),
            Term("LIFE THREATENING", None, "Life threatening (sponsor)", True),
        ),
        "CDISC",
    )


# --------------------------------------------------------------------------- ARM (ADaM): analysis results metadata


def _arm_an(aid, kind, paramcd=None, method="MTH_CAT"):
    return Analysis(aid, f"{aid} label", kind, "FAS", "TRT01P", method, paramcd=paramcd)


def test_arm_where_clauses_only_for_variables_the_define_has():
    from pipeline.submission import define_arm as arm

    analyses = {
        "A1": _arm_an("A1", "survival", "RFS"),
        "A2": _arm_an("A2", "ae_overview"),
        "A3": _arm_an("A3", "subjects"),  # ADSL: all records, no where clause
    }
    displays = [SimpleNamespace(analyses=("A1", "A2", "A3"))]
    groups = {"IG.ADTTE", "IG.ADAE", "IG.ADSL"}
    described = arm._described(analyses, groups)
    wanted = arm._collect_where_clauses(displays, analyses, described, {"IT.ADTTE.PARAMCD"})
    assert wanted == {"WC.ARM.ADTTE.PARAMCD.RFS": ("ADTTE", "PARAMCD", "RFS")}  # ADAE.TRTEMFL not in the define
    assert not arm._described(analyses, {"IG.ADSL"})("A1")  # ADTTE not described: no ARM for it


def test_arm_result_of_an_analysis():
    from pipeline.submission import define_arm as arm

    a = _arm_an("AN_RFS_KM", "survival", "RFS", method="MTH_KM_RATE")
    wanted = {"WC.ARM.ADTTE.PARAMCD.RFS": ("ADTTE", "PARAMCD", "RFS")}
    items = {"IT.ADTTE.PARAMCD", "IT.ADTTE.AVAL"}  # no CNSR: not listed as an analysis variable
    r = arm._collect_result("AN_RFS_KM", a, "t14_2_1_rfs", items, wanted, load_methods())
    assert (r.oid, r.parameter, r.dataset, r.where_clause, r.variables) == (
        "AR.AN_RFS_KM",
        "IT.ADTTE.PARAMCD",
        "IG.ADTTE",
        "WC.ARM.ADTTE.PARAMCD.RFS",
        ("IT.ADTTE.AVAL",),
    )
    assert (r.reason, r.purpose) == ("SPECIFIED IN PROTOCOL", "PRIMARY OUTCOME MEASURE")  # RFS: the primary endpoint
    assert r.documentation == load_methods()["MTH_KM_RATE"].description
    assert r.code.startswith("pipeline/tlf/ard.py computes analysis AN_RFS_KM") and "pipeline/tlf/t14_2_1_rfs.py" in r.code
