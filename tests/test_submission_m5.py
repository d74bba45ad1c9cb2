"""The eCTD Module 5 tree: layout and names, empty datasets left out (and pruned from define.xml),
the aCRF annotations and every define.xml page reference resolving to a page naming the variable,
programs as ASCII text that give the sources back, the manifest's tree fingerprint."""

from __future__ import annotations

import io as _io
import re

import pypdf
import pytest
from lxml import etree

from pipeline.specs.datasets import load_layer
from pipeline.specs.raw import load_raw_spec
from pipeline.submission import acrf, m5, programs
from pipeline.submission import manifest as mf
from pipeline.submission.define import build_define, validate_define
from pipeline.submission.pdf import render_pdf

NS = {
    "odm": "http://www.cdisc.org/ns/odm/v1.3",
    "def": "http://www.cdisc.org/ns/def/v2.1",
    "xlink": "http://www.w3.org/1999/xlink",
}
STUDY = "nct02867280"


def _squash(text: str) -> str:
    """Text without white space: a cell's words wrap onto several lines in the PDF."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def defines():
    """define.xml of both layers from the study's specs (no data: spec lengths, whole codelists)."""
    return {lay: build_define(lay, list(load_layer(lay).values())).xml for lay in ("sdtm", "adam")}


@pytest.fixture(scope="module")
def acrf_pages():
    r = pypdf.PdfReader(_io.BytesIO(acrf.acrf_pdf()))
    return [p.extract_text() for p in r.pages], r


def _package(tmp_path, lay, define_xml, rows):
    """A layer package folder: one stand-in XPT per dataset with records, define.xml, stylesheet."""
    d = tmp_path / lay
    d.mkdir()
    for name, n in rows.items():
        (d / f"{name.lower()}.xpt").write_bytes(f"{name} {n}".encode())
    (d / "define.xml").write_bytes(define_xml)
    (d / "define2-1.xsl").write_bytes(b"<xsl/>")
    return d


SDTM_ROWS = {"DM": 3, "TS": 2, "AE": 4, "IE": 0, "LB": 7, "TA": 5, "TE": 3, "TI": 16}
ADAM_ROWS = {"ADSL": 3, "ADTTE": 9, "ADAE": 4, "ADEX": 0}


@pytest.fixture
def tree(tmp_path, defines):
    out = tmp_path / "out"
    out.mkdir()
    root = m5.tree_root(out, STUDY.upper())
    trees = {
        lay: m5.assemble_layer(lay, _package(out, lay, defines[lay], rows), rows, root)
        for lay, rows in (("sdtm", SDTM_ROWS), ("adam", ADAM_ROWS))
    }
    for f in ("acrf.pdf", "csdrg.pdf"):
        (root / m5.SDTM_DIR / f).write_bytes(b"%PDF")
    (root / m5.ADAM_DIR / "adrg.pdf").write_bytes(b"%PDF")
    programs.write_programs(root / m5.PROGRAMS_DIR, STUDY.upper())
    return out, root, trees


def test_tree_layout_and_names(tree):
    out, root, trees = tree
    assert root == out / "m5" / "datasets" / STUDY
    found = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    sdtm = {f"tabulations/sdtm/{n}.xpt" for n in ("dm", "ts", "ae", "lb", "ta", "te", "ti")}
    sdtm |= {f"tabulations/sdtm/{f}" for f in ("define.xml", "define2-1.xsl", "acrf.pdf", "csdrg.pdf")}
    adam = {
        f"analysis/adam/datasets/{f}" for f in ("adsl.xpt", "adtte.xpt", "adae.xpt", "define.xml", "define2-1.xsl", "adrg.pdf")
    }
    progs = {f"analysis/adam/programs/{p.file}" for p in programs.inventory()}
    progs |= {f"analysis/adam/programs/{f}" for f in ("readme.txt", "constraints.txt", "pipeline_source.txt")}
    assert found == sdtm | adam | progs
    assert all(n == n.lower() for n in found)
    assert m5.check_tree(root) == []
    # 0-record datasets are not in the tree, and say why
    assert trees["sdtm"].left_out == {"IE": "no records"} and trees["adam"].left_out == {"ADEX": "no records"}
    assert trees["sdtm"].submitted["LB"] == 7


def test_empty_datasets_pruned_from_the_trees_define(tree, defines):
    _, root, trees = tree
    xml = (root / m5.SDTM_DIR / "define.xml").read_bytes()
    assert validate_define(xml) == [] and trees["sdtm"].define_errors == []
    doc = etree.fromstring(xml)
    names = {g.get("Name") for g in doc.iterfind(".//odm:ItemGroupDef", NS)}
    assert "IE" not in names and {"DM", "TS", "AE"} <= names
    assert not [i for i in doc.iterfind(".//odm:ItemDef", NS) if i.get("OID").startswith("IT.IE.")]
    assert not [c for c in doc.iterfind(".//def:CommentDef", NS) if c.get("OID").endswith(".IE")]
    # what IE shared with others stays: every reference still resolves
    oids = {e.get("OID") for e in doc.iter() if e.get("OID")}
    refs = {
        e.get(a)
        for e in doc.iter()
        for a in ("ItemOID", "CodeListOID", "MethodOID", "WhereClauseOID", "ValueListOID")
        if e.get(a)
    }
    assert refs <= oids
    assert b'href="ie.xpt"' in defines["sdtm"] and b'href="ie.xpt"' not in xml
    # the documents stay linked
    leaves = {lf.get(f"{{{NS['xlink']}}}href") for lf in doc.iterfind(".//def:leaf", NS)}
    assert {"acrf.pdf", "csdrg.pdf", "dm.xpt"} <= leaves


def test_prune_define_keeps_bytes_when_nothing_is_dropped(defines):
    assert m5.prune_define(defines["sdtm"], {"XX"}) == defines["sdtm"]
    assert m5.prune_define(defines["sdtm"], set()) == defines["sdtm"]


def test_check_tree_flags_what_is_off(tree):
    _, root, _ = tree
    (root / m5.SDTM_DIR / "AE2.xpt").write_bytes(b"x")
    (root / m5.PROGRAMS_DIR / "adsl.py").write_bytes(b"x")
    (root / "analysis" / "extra").mkdir()
    (root / m5.ADAM_DIR / "adsl.xpt").unlink()
    (root / m5.SDTM_DIR / "dm.json").write_bytes(b"{}")
    problems = m5.check_tree(root)
    assert "tabulations/sdtm/AE2.xpt: not a lower-case name" in problems
    assert "analysis/adam/programs/adsl.py: programs are submitted as .txt" in problems
    assert "analysis/extra: folder not in the m5 layout" in problems
    assert "analysis/adam/datasets/adsl.xpt: missing" in problems
    assert "tabulations/sdtm/dm.json: not a dataset, define or document of this folder" in problems
    assert len(problems) == 5


def test_a_second_assembly_removes_a_dataset_that_became_empty(tree, defines, tmp_path):
    out, root, _ = tree
    rows = dict(SDTM_ROWS, LB=0)
    t = m5.assemble_layer("sdtm", out / "sdtm", rows, root)
    assert "LB" in t.left_out and not (root / m5.SDTM_DIR / "lb.xpt").exists()


# --------------------------------------------------------------------------- aCRF and define.xml links


def test_acrf_targets_known_answers():
    tg = acrf.targets()
    assert acrf.Target("DM.RFICDTC", True) in tg[("enrol", "RFICDAT")]
    # the birth date only feeds the derived AGE: never a collected target
    assert tg[("dm", "BRTHDAT")] == [acrf.Target("DM.AGE", False)]
    assert acrf.Target("LB.LBORRES [LBTESTCD = WBC]", True) in tg[("lb", "LBORRES")]
    assert ("dm", "PTNAME") not in tg  # a direct identifier nothing reads


def test_acrf_one_section_per_form_every_field(acrf_pages):
    texts, reader = acrf_pages
    raw = load_raw_spec()
    outline = [o.title for o in reader.outline if not isinstance(o, list)]
    for name, form in raw.forms.items():
        title = f"Form {name}: {form.label}"
        assert title in outline
        page = next(i for i, t in enumerate(texts) if _squash(title) in _squash(t))
        body = _squash("".join(texts[page:]))
        for f in form.fields:
            assert _squash(f"Field: {f.name}") in body, (name, f.name)
    ptname = next(t for t in texts if "Field: PTNAME" in t)
    assert _squash("NOT SUBMITTED (direct identifier)") in _squash(ptname)


def test_every_collected_origin_points_to_acrf_pages_naming_it(defines, acrf_pages):
    texts, _ = acrf_pages
    doc = etree.fromstring(defines["sdtm"])
    assert doc.find(".//def:AnnotatedCRF/def:DocumentRef", NS).get("leafID") == "LF.ACRF"
    assert [d.get("leafID") for d in doc.iterfind(".//def:SupplementalDoc/def:DocumentRef", NS)] == ["LF.CSDRG"]
    leaf = doc.find(".//odm:MetaDataVersion/def:leaf[@ID='LF.ACRF']", NS)
    assert leaf.get(f"{{{NS['xlink']}}}href") == "acrf.pdf"
    checked = 0
    for item in doc.iterfind(".//odm:ItemDef", NS):
        origin = item.find("def:Origin", NS)
        if origin is None or origin.get("Type") != "Collected":
            continue
        ref = origin.find("def:DocumentRef/def:PDFPageRef", NS)
        assert ref is not None, f"{item.get('OID')}: Collected without an aCRF page"
        assert ref.get("Type") == "PhysicalRef"
        ds, var = item.get("OID").split(".")[1:3]
        for page in map(int, ref.get("PageRefs").split()):
            assert 1 <= page <= len(texts)
            assert f"{ds}.{var}" in _squash(texts[page - 1]), (item.get("OID"), page)
        checked += 1
    assert checked >= 70  # 57 collected variables + 25 value-level cases of the study's specs


def test_adam_define_links_the_adrg(defines):
    doc = etree.fromstring(defines["adam"])
    assert doc.find(".//def:AnnotatedCRF", NS) is None
    assert [d.get("leafID") for d in doc.iterfind(".//def:SupplementalDoc/def:DocumentRef", NS)] == ["LF.ADRG"]
    assert doc.find(".//odm:MetaDataVersion/def:leaf[@ID='LF.ADRG']", NS).get(f"{{{NS['xlink']}}}href") == "adrg.pdf"
    assert validate_define(defines["adam"]) == []


def test_acrf_is_byte_identical_on_a_second_rendering():
    a, _ = render_pdf(acrf.build_acrf(), "2022-12-31")
    b, _ = render_pdf(acrf.build_acrf(), "2022-12-31")
    assert a == b == acrf.acrf_pdf()
    meta = pypdf.PdfReader(_io.BytesIO(a)).metadata
    assert meta["/CreationDate"] == meta["/ModDate"] == "D:20221231000000Z"


# --------------------------------------------------------------------------- programs and manifest


def test_programs_are_ascii_and_give_the_sources_back(tree):
    _, root, _ = tree
    folder = root / m5.PROGRAMS_DIR
    for p in folder.iterdir():
        assert p.read_bytes().isascii(), p.name
    for prog in programs.inventory():
        text = (folder / prog.file).read_text(encoding="ascii")
        assert programs.restore(text) == (programs.PROJECT_ROOT / prog.source).read_text(encoding="utf-8")
    unpacked = programs.unpack((folder / programs.PACK).read_text(encoding="ascii"))
    assert "pipeline/adam/adtte.py" in unpacked and "specs/sdtm/dm.yaml" in unpacked and "pyproject.toml" in unpacked
    assert not [p for p in unpacked if p.startswith("pipeline/synth/")]
    for path, text in unpacked.items():
        assert text == (programs.PROJECT_ROOT / path).read_text(encoding="utf-8"), path
    readme = (folder / programs.README).read_text(encoding="ascii")
    assert "reportlab 5.1.0" in readme and "adam_adtte.txt" in readme


@pytest.mark.parametrize("text", ["a \u2264 b \u2192 c", "\u624b\u8db3\u7efc\u5408\u5f81", r"x = '\N{EM DASH}'", "plain"])
def test_ascii_escape_round_trip(text):
    assert programs.to_ascii(text).isascii()
    assert programs.restore(programs.to_ascii(text)) == text


def test_manifest_fingerprints_the_tree(tree):
    out, root, _ = tree
    for p in out.rglob("*.xpt"):  # the stand-in XPT files are no transport files the manifest could read
        p.rename(p.with_suffix(".bin"))
    raw = out.parent / "raw"
    raw.mkdir()
    doc = mf.build_manifest(out, raw)
    assert doc["m5"] == {"path": f"m5/datasets/{STUDY}", "sha256": mf.tree_sha256(root)}
    assert any(o["path"] == f"m5/datasets/{STUDY}/tabulations/sdtm/define.xml" for o in doc["outputs"])


def test_a_dataset_the_package_did_not_deliver_is_left_out_with_its_reason(tmp_path, defines):
    import pandas as pd

    from pipeline import io

    out = tmp_path / "out"
    out.mkdir()
    pkg = _package(out, "sdtm", defines["sdtm"], {"DM": 3, "TS": 2})
    io.write_parquet(pd.DataFrame({"A": pd.Series([], dtype="float64")}), pkg / "ie.parquet")
    io.write_parquet(pd.DataFrame({"A": [1.0]}), pkg / "lb.parquet")
    t = m5.assemble_layer("sdtm", pkg, {"DM": 3, "TS": 2}, m5.tree_root(out, STUDY), ["DM", "TS", "IE", "LB", "AE"])
    assert t.left_out == {"IE": "no records", "LB": "not delivered by the package", "AE": "not delivered by the package"}
    assert t.submitted == {"DM": 3, "TS": 2}
