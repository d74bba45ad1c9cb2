"""Dagster wiring of the regulator's package: the eCTD Module 5 tree and its documents (group ``submission``).

* ``submission/m5``: the datasets and define.xml of both layers in ``<out>/m5/datasets/<study>/``
  (0-record datasets left out), from the layer packages;
* ``submission/acrf``: the annotated CRF (tabulations/sdtm/acrf.pdf);
* ``submission/programs``: the programs as text (analysis/adam/programs/);
* ``submission/csdrg``: the clinical study data reviewer's guide (tabulations/sdtm/csdrg.pdf), downstream
  of the CORE run ``submission/conformance`` (pipeline/submission/core.py), whose value is the
  conformance summary it prints (or why CORE did not run);
* ``submission/adrg``: the analysis data reviewer's guide (analysis/adam/datasets/adrg.pdf);
* the check ``submission/adrg:m5_layout`` walks the finished tree.

Each document asset shows the document as markdown in the UI and the path of the file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from pipeline import io
from pipeline.resources import StudyPaths
from pipeline.specs.conformance import load_explanations
from pipeline.specs.datasets import load_layer
from pipeline.specs.paths import SPECS_DIR
from pipeline.specs.raw import load_raw_spec
from pipeline.specs.study import load_study
from pipeline.storage import PARTS_KEY
from pipeline.submission import acrf, guides, m5, programs
from pipeline.submission.conformance import csdrg_inputs
from pipeline.submission.core import CONFORMANCE_KEY
from pipeline.submission.pdf import Doc, render_pdf, to_markdown
from pipeline.versions import code_version

# What the code versions of this module's assets hash (pipeline/versions.py).
CODE_SOURCES = ("pipeline/submission/*.py", "specs/**/*")

GROUP = "submission"
M5_KEY = dg.AssetKey([GROUP, "m5"])
ACRF_KEY = dg.AssetKey([GROUP, "acrf"])
PROGRAMS_KEY = dg.AssetKey([GROUP, "programs"])
CSDRG_KEY = dg.AssetKey([GROUP, "csdrg"])
ADRG_KEY = dg.AssetKey([GROUP, "adrg"])
DATA = {PARTS_KEY: ["data"]}


def _doc_metadata(doc: Doc, path: Path, pdf: bytes, pages: int | None = None) -> dict[str, Any]:
    return {
        "path": dg.MetadataValue.path(str(path)),
        "bytes": len(pdf),
        "sections": len(doc.headings()),
        "preview": dg.MetadataValue.md(to_markdown(doc)),
        **({"pages": pages} if pages is not None else {}),
    }


def _page_count(pdf: bytes) -> int:
    return pdf.count(b"/Type /Page\n") or pdf.count(b"/Type /Page ")


@dg.asset(
    key=M5_KEY,
    group_name=GROUP,
    code_version=code_version(CODE_SOURCES),
    ins={
        "sdtm_package": dg.AssetIn(key=dg.AssetKey([GROUP, "sdtm"])),
        "adam_package": dg.AssetIn(key=dg.AssetKey([GROUP, "adam"])),
    },
    description="The eCTD Module 5 tree `<out>/m5/datasets/<study>/`: tabulations/sdtm and analysis/adam/datasets "
    "hold the XPT files of every dataset with records and define.xml with its stylesheet (0-record "
    "datasets left out and pruned from define.xml).",
    kinds={"xpt", "xml"},
)
def m5_tree(context, paths: StudyPaths, sdtm_package: dict, adam_package: dict) -> dg.Output:
    root = m5.tree_root(paths.out)
    out: dict[str, dict] = {}
    errors: list[str] = []
    for lay, pkg in (("sdtm", sdtm_package), ("adam", adam_package)):
        t = m5.assemble_layer(lay, paths.out / lay, pkg.get("rows", {}), root, load_layer(lay))
        out[lay] = {"submitted": t.submitted, "left_out": t.left_out}
        errors += [f"{lay} define.xml: {e}" for e in t.define_errors]
    if errors:
        raise dg.Failure(description="The tree's define.xml is not XSD-valid after pruning", metadata={"errors": errors})
    return dg.Output(
        out,
        metadata={
            "root": dg.MetadataValue.path(str(root)),
            "submitted": dg.MetadataValue.json({k: v["submitted"] for k, v in out.items()}),
            "left out": dg.MetadataValue.json({k: v["left_out"] for k, v in out.items()}),
        },
    )


@dg.asset(
    key=ACRF_KEY,
    group_name=GROUP,
    code_version=code_version(CODE_SOURCES),
    deps=[M5_KEY],
    kinds={"pdf"},
    description="The annotated CRF (tabulations/sdtm/acrf.pdf): every raw form and field with its SDTM "
    "variable, from specs/raw and the SDTM specs' sources; define.xml's Collected origins point to its pages.",
)
def acrf_asset(context, paths: StudyPaths) -> dg.MaterializeResult:
    path = m5.tree_root(paths.out) / m5.SDTM_DIR / acrf.FILE
    rendered = acrf.render()
    io.write_bytes(path, rendered.pdf)
    meta = _doc_metadata(rendered.doc, path, rendered.pdf, _page_count(rendered.pdf))
    meta["annotated collected items"] = len(rendered.pages)
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    key=PROGRAMS_KEY,
    group_name=GROUP,
    code_version=code_version(CODE_SOURCES),
    deps=[M5_KEY],
    kinds={"python"},
    description="The programs that create the ADaM datasets and the endpoint results, as ASCII text "
    "(analysis/adam/programs/*.txt, FDA TCG 4.1.2.10), the packed pipeline source, constraints.txt "
    "and readme.txt (how to re-run).",
)
def programs_asset(context, paths: StudyPaths) -> dg.MaterializeResult:
    folder = m5.tree_root(paths.out) / m5.PROGRAMS_DIR
    files = programs.write_programs(folder, load_study().studyid)
    readme = (folder / programs.README).read_text(encoding="ascii")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(folder)),
            "files": dg.MetadataValue.json(files),
            "readme": dg.MetadataValue.md(f"```\n{readme}\n```"),
        }
    )


def _frame(result: Any) -> pd.DataFrame:
    return result.data if hasattr(result, "data") else result


def _inventory(tree: dict, lay: str) -> guides.Inventory:
    return guides.Inventory(dict(tree[lay]["submitted"]), dict(tree[lay]["left_out"]))


@dg.asset(
    key=CSDRG_KEY,
    group_name=GROUP,
    code_version=code_version(CODE_SOURCES),
    kinds={"pdf"},
    ins={
        "tree": dg.AssetIn(key=M5_KEY),
        "conformance": dg.AssetIn(key=CONFORMANCE_KEY),
        "ts": dg.AssetIn(key=["sdtm", "ts"], metadata=DATA),
        "ta": dg.AssetIn(key=["sdtm", "ta"], metadata=DATA),
        "te": dg.AssetIn(key=["sdtm", "te"], metadata=DATA),
    },
    description="The clinical study data reviewer's guide (tabulations/sdtm/csdrg.pdf, PHUSE cSDRG sections): "
    "standards from TS and the specs, trial design, a note per domain, datasets not submitted, the "
    "CORE findings with the sponsor's explanations, the eligibility criteria.",
)
def csdrg_asset(context, paths: StudyPaths, tree: dict, conformance: dict, ts: Any, ta: Any, te: Any) -> dg.MaterializeResult:
    study = load_study()
    summary, status = csdrg_inputs(conformance)
    criteria = pd.read_csv(SPECS_DIR / "trial" / "criteria.csv", dtype=str)
    doc = guides.csdrg(
        study.studyid,
        load_layer("sdtm"),
        _inventory(tree, "sdtm"),
        _frame(ts),
        _frame(ta),
        _frame(te),
        criteria,
        load_raw_spec().forms,
        summary,
        load_explanations(),
        status,
    )
    path = m5.tree_root(paths.out) / m5.SDTM_DIR / "csdrg.pdf"
    pdf, _ = render_pdf(doc, study.data_cutoff)
    io.write_bytes(path, pdf)
    meta = _doc_metadata(doc, path, pdf, _page_count(pdf))
    meta["CORE summary used"] = summary is not None
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    key=ADRG_KEY,
    group_name=GROUP,
    code_version=code_version(CODE_SOURCES),
    deps=[PROGRAMS_KEY, dg.AssetKey(["analysis", "endpoints"])],
    kinds={"pdf"},
    ins={
        "tree": dg.AssetIn(key=M5_KEY),
        "ts": dg.AssetIn(key=["sdtm", "ts"], metadata=DATA),
        "adsl": dg.AssetIn(key=["adam", "adsl"], metadata=DATA),
    },
    description="The analysis data reviewer's guide (analysis/adam/datasets/adrg.pdf, PHUSE ADRG sections): "
    "populations, key derivations from the ADaM specs, analysis methods of the endpoint results, "
    "data dependencies, program inventory, software versions (constraints.txt).",
)
def adrg_asset(context, paths: StudyPaths, tree: dict, ts: Any, adsl: Any) -> dg.MaterializeResult:
    study = load_study()
    endpoints = pd.read_parquet(paths.out / "analysis" / "endpoints.parquet")
    doc = guides.adrg(
        study.studyid,
        load_layer("adam"),
        _inventory(tree, "adam"),
        _frame(ts),
        _frame(adsl),
        endpoints,
        programs.inventory(),
        programs.pinned_versions(),
        programs.direct_dependencies(),
        f"{sys.version_info.major}.{sys.version_info.minor}",
    )
    path = m5.tree_root(paths.out) / m5.ADAM_DIR / "adrg.pdf"
    pdf, _ = render_pdf(doc, study.data_cutoff)
    io.write_bytes(path, pdf)
    return dg.MaterializeResult(metadata=_doc_metadata(doc, path, pdf, _page_count(pdf)))


@dg.asset_check(
    asset=ADRG_KEY,
    name="m5_layout",
    blocking=True,
    additional_deps=[CSDRG_KEY, ACRF_KEY, PROGRAMS_KEY],
    description="The m5 tree has the expected folders, lower-case names, the required files "
    "(ts.xpt, dm.xpt, adsl.xpt, define.xml and stylesheet per layer, acrf/csdrg/adrg, readme) "
    "and no file over 5 GB.",
)
def m5_layout(context, paths: StudyPaths) -> dg.AssetCheckResult:
    problems = m5.check_tree(m5.tree_root(paths.out))
    return dg.AssetCheckResult(passed=not problems, metadata={"problems": dg.MetadataValue.json(problems)})


m5_assets: list[dg.AssetsDefinition] = [m5_tree, acrf_asset, programs_asset, csdrg_asset, adrg_asset]
m5_checks: list[dg.AssetChecksDefinition] = [m5_layout]
