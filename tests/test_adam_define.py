"""define.xml of the ADaM layer: OCCDS standard, subclasses, ADaM CT and ADEX.AVAL value-level metadata from the specs."""

from lxml import etree

from pipeline.specs.datasets import load_dataset_spec
from pipeline.submission.define import build_define, validate_define

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
DEF = "{http://www.cdisc.org/ns/def/v2.1}"


def _doc():
    specs = [load_dataset_spec("adam", n) for n in ("adsl", "adae", "adex", "adtte")]
    res = build_define("adam", specs, data_cutoff="2022-12-31")
    assert validate_define(res.xml) == []
    return etree.fromstring(res.xml), res.problems


def test_standards_and_classes():
    doc, problems = _doc()
    assert not [p for p in problems if "standard" in p or "subclass" in p]
    stds = {
        s.get("OID"): (s.get("Name"), s.get("Type"), s.get("PublishingSet"), s.get("Version"))
        for s in doc.iterfind(".//def:Standard", NS)
    }
    assert stds["STD.ADaM-OCCDSIG.1.1"] == ("ADaM-OCCDSIG", "IG", None, "1.1")
    assert stds["STD.CT.ADaM.2025-03-28"] == ("CDISC/NCI", "CT", "ADaM", "2025-03-28")
    ig = {g.get("Name"): g for g in doc.iterfind(".//odm:ItemGroupDef", NS)}
    assert ig["ADAE"].get(DEF + "StandardOID") == "STD.ADaM-OCCDSIG.1.1"
    assert ig["ADSL"].get(DEF + "StandardOID") == "STD.ADaMIG.1.3"
    sub = {n: [s.get("Name") for s in g.iterfind("def:Class/def:SubClass", NS)] for n, g in ig.items()}
    assert sub == {"ADSL": [], "ADAE": ["ADVERSE EVENT"], "ADEX": [], "ADTTE": ["TIME-TO-EVENT"]}


def test_adam_controlled_terminology_is_declared():
    doc, _ = _doc()
    cl = {c.get("OID"): c for c in doc.iterfind(".//odm:CodeList", NS)}
    datefl = cl["CL.DATEFL"]
    assert datefl.get(DEF + "StandardOID") == "STD.CT.ADaM.2025-03-28"
    assert datefl.find("odm:Alias", NS).get("Name") == "C81223"
    codes = {i.get("CodedValue"): i.find("odm:Alias", NS).get("Name") for i in datefl.iterfind("odm:EnumeratedItem", NS)}
    assert codes == {"D": "C81212", "M": "C81211", "Y": "C81210"}
    assert cl["CL.EOSSTT"].find("odm:Alias", NS).get("Name") == "C124296"  # SBJTSTAT
    assert cl["CL.NY"].get(DEF + "StandardOID") == "STD.CT.SDTM.2025-03-28"


def test_adex_aval_value_level_metadata_per_parameter_with_its_unit():
    doc, _ = _doc()
    vl = doc.find(".//def:ValueListDef[@OID='VL.ADEX.AVAL']", NS)
    oids = [r.get("ItemOID") for r in vl.iterfind("odm:ItemRef", NS)]
    assert [o.rsplit(".", 1)[1] for o in oids] == ["TDOSE", "TDURD", "AVGDD", "PDOSE", "PDI", "RDI", "PCTPDOSE", "DOSMODAE"]
    text = {
        o.rsplit(".", 1)[1]: doc.find(f".//odm:ItemDef[@OID='{o}']/odm:Description/odm:TranslatedText", NS).text for o in oids
    }
    assert (
        text["RDI"] == "AVAL where PARAMCD = RDI (%)" and text["AVGDD"].endswith("(mg/day)") and text["TDURD"].endswith("(DAYS)")
    )
    assert text["DOSMODAE"] == "AVAL where PARAMCD = DOSMODAE"
    methods = {m.get("OID"): m.find("odm:Description/odm:TranslatedText", NS).text for m in doc.iterfind(".//odm:MethodDef", NS)}
    rdi = next(v for k, v in methods.items() if k.endswith("ADEX.AVAL.RDI"))
    assert "AVGDD / AVAL of PDI" in rdi
    wc = doc.find(".//def:WhereClauseDef[@OID='WC.ADEX.AVAL.PCTPDOSE']/odm:RangeCheck/odm:CheckValue", NS)
    assert wc.text == "PCTPDOSE"
