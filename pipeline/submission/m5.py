"""The eCTD Module 5 tree a regulator receives: ``<out>/m5/datasets/<study>/``.

Layout (names lower case, as the FDA's eCTD and the R Consortium's pilot submissions use them)::

    tabulations/sdtm/          *.xpt, define.xml, define2-1.xsl, acrf.pdf, csdrg.pdf
    analysis/adam/datasets/    *.xpt, define.xml, define2-1.xsl, adrg.pdf
    analysis/adam/programs/    *.txt (the programs, their README and the pinned versions)

The datasets and define.xml come from the layer packages (``<out>/sdtm``, ``<out>/adam``). A
dataset with no records is not submitted: its XPT is left out and its ItemGroupDef (with every
ItemDef, value list, where clause, codelist, method and comment only it used) is pruned from the
tree's define.xml, which is then validated against the Define-XML 2.1 schema again. Parquet,
Dataset-JSON, lineage, query listings and the manifest stay outside the tree.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
from lxml import etree

from pipeline import io
from pipeline.specs.study import load_study
from pipeline.submission.define import DEF_NS, ODM_NS, STYLESHEET, validate_define

SDTM_DIR = Path("tabulations") / "sdtm"
ADAM_DIR = Path("analysis") / "adam" / "datasets"
PROGRAMS_DIR = Path("analysis") / "adam" / "programs"
LAYER_DIRS = {"sdtm": SDTM_DIR, "adam": ADAM_DIR}
# The documents each folder holds beside its datasets (written by their own assets).
DOCUMENTS = {SDTM_DIR: ("acrf.pdf", "csdrg.pdf"), ADAM_DIR: ("adrg.pdf",)}
MAX_FILE_BYTES = 5 * 10**9  # FDA TCG: at most 5 GB per dataset file
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def tree_root(out_dir: Path, studyid: str | None = None) -> Path:
    """``<out>/m5/datasets/<study id in lower case>``."""
    return Path(out_dir) / "m5" / "datasets" / (studyid or load_study().studyid).lower()


@dataclass
class LayerTree:
    """What one layer's folder of the tree holds."""

    layer: str
    folder: Path
    submitted: dict[str, int] = field(default_factory=dict)  # dataset -> records
    left_out: dict[str, str] = field(default_factory=dict)  # dataset -> reason
    define_errors: list[str] = field(default_factory=list)


def _place(src: Path, dst: Path) -> None:
    """``dst`` gets ``src``'s bytes atomically: a hard link when the file system allows, else a copy.

    A link is safe: the packages replace their files (a new inode), never write into them."""
    with io.atomic_path(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def _parquet_rows(path: Path) -> int | None:
    return int(pq.ParquetFile(path).metadata.num_rows) if path.is_file() else None


def assemble_layer(
    layer_name: str, package_dir: Path, rows: Mapping[str, int], root: Path, specified: Iterable[str] = ()
) -> LayerTree:
    """Put one layer's datasets and define.xml into the tree under ``root``.

    ``rows``: dataset name -> records delivered by the package (its asset's output); a dataset
    with 0 records is left out. ``specified``: the layer's datasets; one the package did not deliver
    at all is left out too, as "no records" when its Parquet file has none (a package that drops
    empty datasets itself). XPT files of an earlier run that are not submitted now are removed.
    """
    folder = root / LAYER_DIRS[layer_name]
    folder.mkdir(parents=True, exist_ok=True)
    res = LayerTree(layer_name, folder)
    for name in sorted(set(specified) - set(rows)):
        n = _parquet_rows(Path(package_dir) / f"{name.lower()}.parquet")
        res.left_out[name] = "no records" if n == 0 else "not delivered by the package"
    for name in sorted(rows):
        if rows[name] == 0:
            res.left_out[name] = "no records"
            continue
        src = Path(package_dir) / f"{name.lower()}.xpt"
        if not src.is_file():
            res.left_out[name] = "not written by the package"
            continue
        _place(src, folder / src.name)
        res.submitted[name] = int(rows[name])
    keep = {f"{n.lower()}.xpt" for n in res.submitted}
    for old in folder.glob("*.xpt"):
        if old.name not in keep:
            old.unlink()
    define = Path(package_dir) / "define.xml"
    if define.is_file():
        xml = prune_define(define.read_bytes(), set(res.left_out))
        res.define_errors = _validate(xml)
        io.write_bytes(folder / "define.xml", xml)
        _place(Path(package_dir) / STYLESHEET, folder / STYLESHEET)
    return res


def _validate(xml: bytes) -> list[str]:
    """XSD errors of a tree define: against ARM 1.0 when it carries Analysis Results Metadata."""
    from pipeline.submission.define_arm import ARM_NS, validate_arm

    return validate_arm(xml) if ARM_NS.encode() in xml else validate_define(xml)


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def prune_define(xml: bytes, datasets: set[str]) -> bytes:
    """define.xml without the ItemGroupDefs named in ``datasets`` and whatever only they referenced.

    Unchanged bytes when none of them is in the file.
    """
    doc = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False))
    mdv = doc.find(f"{_q(ODM_NS, 'Study')}/{_q(ODM_NS, 'MetaDataVersion')}")
    groups = [g for g in mdv.findall(_q(ODM_NS, "ItemGroupDef")) if g.get("Name") in datasets]
    if not groups:
        return xml
    for g in groups:
        mdv.remove(g)
    # Keep what is still referenced, following references until nothing new is found.
    item_defs = {e.get("OID"): e for e in mdv.findall(_q(ODM_NS, "ItemDef"))}
    value_lists = {e.get("OID"): e for e in mdv.findall(_q(DEF_NS, "ValueListDef"))}
    items = {r.get("ItemOID") for g in mdv.findall(_q(ODM_NS, "ItemGroupDef")) for r in g.findall(_q(ODM_NS, "ItemRef"))}
    lists: set[str] = set()
    while True:
        new_lists = {
            r.get("ValueListOID") for oid in items if oid in item_defs for r in item_defs[oid].findall(_q(DEF_NS, "ValueListRef"))
        } - lists
        if not new_lists:
            break
        lists |= new_lists
        items |= {
            r.get("ItemOID") for oid in new_lists if oid in value_lists for r in value_lists[oid].findall(_q(ODM_NS, "ItemRef"))
        }
    kept = [e for oid, e in item_defs.items() if oid in items] + [e for oid, e in value_lists.items() if oid in lists]
    kept += list(mdv.findall(_q(ODM_NS, "ItemGroupDef")))
    # Analysis Results Metadata refers to where clauses of its own (pipeline/submission/define_arm.py).
    kept += list(mdv.iter("{http://www.cdisc.org/ns/arm/v1.0}AnalysisResultDisplays"))
    refs: dict[str, set[str]] = {"clauses": set(), "codelists": set(), "methods": set(), "comments": set()}
    for e in kept:
        for r in e.iter(_q(DEF_NS, "WhereClauseRef")):
            refs["clauses"].add(r.get("WhereClauseOID"))
        for r in e.iter(_q(ODM_NS, "CodeListRef")):
            refs["codelists"].add(r.get("CodeListOID"))
        for r in e.iter(_q(ODM_NS, "ItemRef")):
            if r.get("MethodOID"):
                refs["methods"].add(r.get("MethodOID"))
        for r in e.iter():
            if r.get(_q(DEF_NS, "CommentOID")):
                refs["comments"].add(r.get(_q(DEF_NS, "CommentOID")))
    drop = [(item_defs, items), (value_lists, lists)]
    drop.append(({e.get("OID"): e for e in mdv.findall(_q(DEF_NS, "WhereClauseDef"))}, refs["clauses"]))
    drop.append(({e.get("OID"): e for e in mdv.findall(_q(ODM_NS, "CodeList"))}, refs["codelists"]))
    drop.append(({e.get("OID"): e for e in mdv.findall(_q(ODM_NS, "MethodDef"))}, refs["methods"]))
    drop.append(({e.get("OID"): e for e in mdv.findall(_q(DEF_NS, "CommentDef"))}, refs["comments"]))
    for by_oid, keep in drop:
        for oid, e in by_oid.items():
            if oid not in keep:
                mdv.remove(e)
    head = xml[: xml.find(b"<ODM")]  # the XML declaration and the stylesheet instruction, as they were
    return head + etree.tostring(doc, encoding="utf-8") + b"\n"


# --------------------------------------------------------------------------- the layout check


def expected_layout() -> dict[Path, tuple[str, ...]]:
    """Folder (relative to the study folder) -> files it must hold besides its datasets."""
    return {
        SDTM_DIR: ("define.xml", STYLESHEET, "dm.xpt", "ts.xpt", *DOCUMENTS[SDTM_DIR]),
        ADAM_DIR: ("define.xml", STYLESHEET, "adsl.xpt", *DOCUMENTS[ADAM_DIR]),
        PROGRAMS_DIR: ("readme.txt",),
    }


def check_tree(root: Path) -> list[str]:
    """Problems of the tree under ``root`` (empty: as the layout above says).

    Only the three folders (and their parents) may exist; every name is lower case; the
    required files are there (FDA technical rejection criteria 1734/1736: ts.xpt, dm.xpt,
    adsl.xpt and a define.xml per layer); datasets folders hold only .xpt, define.xml, its
    stylesheet and the documents; programs are .txt; no file exceeds 5 GB.
    """
    root = Path(root)
    layout = expected_layout()
    allowed_dirs = {Path(".")} | {p for d in layout for p in [d, *d.parents]}
    problems = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel not in allowed_dirs:
            problems.append(f"{rel.as_posix()}: folder not in the m5 layout")
            continue
        for name in [*dirnames, *filenames]:
            if not NAME_RE.match(name):
                problems.append(f"{(rel / name).as_posix()}: not a lower-case name")
        for name in filenames:
            p = Path(dirpath) / name
            if rel not in layout:
                problems.append(f"{(rel / name).as_posix()}: file outside a datasets or programs folder")
            elif rel == PROGRAMS_DIR and not name.endswith(".txt"):
                problems.append(f"{(rel / name).as_posix()}: programs are submitted as .txt")
            elif rel != PROGRAMS_DIR and not (name.endswith(".xpt") or name in layout[rel]):
                problems.append(f"{(rel / name).as_posix()}: not a dataset, define or document of this folder")
            if p.stat().st_size > MAX_FILE_BYTES:
                problems.append(f"{(rel / name).as_posix()}: larger than 5 GB (split it)")
    for d, required in layout.items():
        for f in required:
            if not (root / d / f).is_file():
                problems.append(f"{(d / f).as_posix()}: missing")
    return problems
