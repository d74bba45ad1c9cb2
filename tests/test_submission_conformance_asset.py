"""The CORE run as the asset ``submission/conformance``: upstream of the cSDRG and of the manifest (which
publishes the staging folder the reports are written to), and what the cSDRG says when CORE did not run."""

from __future__ import annotations

import dagster as dg

from pipeline.submission.conformance import csdrg_inputs
from pipeline.submission.core import CHECK_NAME, CONFORMANCE_KEY, conformance_value

SDTM = dg.AssetKey(["submission", "sdtm"])
CSDRG = dg.AssetKey(["submission", "csdrg"])
MANIFEST = dg.AssetKey(["submission", "manifest"])


def _graph(tmp_path):
    from pipeline.definitions import build_definitions

    defs = build_definitions(str(tmp_path / "raw"), str(tmp_path / "out"), str(tmp_path / "work"), staged=False)
    return defs.resolve_asset_graph()


def _ancestors(graph, key: dg.AssetKey) -> set[dg.AssetKey]:
    seen: set[dg.AssetKey] = set()
    todo = [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def test_conformance_runs_after_the_sdtm_package_and_before_the_csdrg_and_the_manifest(tmp_path):
    graph = _graph(tmp_path)
    assert SDTM in graph.get(CONFORMANCE_KEY).parent_keys
    # direct parents: the cSDRG reads the asset's value, the manifest waits for the reports it hashes
    assert CONFORMANCE_KEY in graph.get(CSDRG).parent_keys
    assert CONFORMANCE_KEY in graph.get(MANIFEST).parent_keys
    # the manifest publishes last: it is no ancestor of the CORE run, and the run none of the package's
    assert MANIFEST not in _ancestors(graph, CONFORMANCE_KEY) and CSDRG not in _ancestors(graph, CONFORMANCE_KEY)
    assert CONFORMANCE_KEY not in graph.get(SDTM).parent_keys


def test_the_findings_check_is_on_the_conformance_asset_not_on_the_package(tmp_path):
    graph = _graph(tmp_path)
    check = dg.AssetCheckKey(CONFORMANCE_KEY, CHECK_NAME)
    assert check in graph.asset_check_keys
    assert dg.AssetCheckKey(SDTM, CHECK_NAME) not in graph.asset_check_keys


def test_csdrg_says_core_was_not_run_and_why():
    summary, sentence = csdrg_inputs(conformance_value("not run", "switched off (PIPELINE_CORE=0)"))
    assert summary is None
    assert sentence.startswith(
        "The CDISC CORE rules engine was not run on this package (not run: switched off (PIPELINE_CORE=0));"
    )


def test_csdrg_says_core_failed_and_why():
    summary, sentence = csdrg_inputs(conformance_value("failed", "CORE exited with status 3"))
    assert summary is None and "did not complete (not run: CORE exited with status 3)" in sentence


def test_csdrg_prints_the_summary_of_the_same_build():
    doc = {
        "passes": [{"data_format": "xpt"}, {"data_format": "json"}],
        "explanations_file": "specs/conformance/explanations.yaml",
    }
    summary, sentence = csdrg_inputs(conformance_value("ran", summary=doc))
    assert summary == doc
    assert sentence == (
        "The CDISC CORE rules engine ran on the SDTM datasets of this package, once per data format (xpt, json); "
        "its findings were sorted by the sponsor's explanations (specs/conformance/explanations.yaml)."
    )
