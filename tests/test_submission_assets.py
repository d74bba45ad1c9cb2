"""Dagster wiring: the package assets take the dataset assets that exist, write the files,
report their checks, and the manifest runs after them; a failed XPT check blocks it."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from test_submission_common import (
    adam_frame,
    adam_spec,
    sdtm_frame,
    sdtm_spec,
    toy_ct,
    vlm_spec,
)

import pipeline.specs.ct
import pipeline.submission.acrf
import pipeline.submission.assets as sa
from pipeline.adam.common import AdamResult, issues_frame
from pipeline.resources import StudyPaths
from pipeline.sdtm.common import DomainResult, empty_queries


@pytest.fixture
def toy_specs(monkeypatch):
    """The layers' specs as the toy specs (LB has no upstream asset in these tests)."""
    layers = {"sdtm": {"AE": sdtm_spec(), "LB": vlm_spec()}, "adam": {"ADTT": adam_spec()}}
    monkeypatch.setattr(sa, "load_layer", lambda layer: layers[layer])
    monkeypatch.setattr(pipeline.specs.ct, "load_ct", lambda *a, **k: toy_ct())
    # The aCRF is rendered from the study's real specs, which the toy CT cannot resolve.
    monkeypatch.setattr(pipeline.submission.acrf, "page_map", lambda *a, **k: {})
    monkeypatch.setenv("PIPELINE_CODE_VERSION", "test")
    return layers


def _upstream(ae_frame):
    @dg.asset(key=["sdtm", "ae"])
    def ae():
        return DomainResult("AE", ae_frame, None, empty_queries())

    @dg.asset(key=["adam", "adtt"])
    def adtt():
        return AdamResult("ADTT", adam_frame(), issues_frame())

    return [ae, adtt]


def _run(tmp_path, ae_frame):
    subs = sa.build_submission_assets([["sdtm", "ae"]], ["adam/adtt"])
    raw = tmp_path / "raw"
    (raw / "101").mkdir(parents=True)
    (raw / "101" / "ae.csv").write_text("SUBJID\n1\n")
    res = dg.materialize(
        [*_upstream(ae_frame), *subs],
        resources={"paths": StudyPaths(raw_dir=str(raw), out_dir=str(tmp_path / "out"))},
        raise_on_error=False,
    )
    return subs, res


def test_factory_takes_only_datasets_with_an_upstream_asset(toy_specs):
    subs = sa.build_submission_assets([dg.AssetKey(["sdtm", "ae"])], [])
    keys = {k.to_user_string() for a in subs for k in a.keys}
    assert keys == {"submission/sdtm", "submission/manifest"}  # no ADaM package without ADaM assets
    sdtm = next(a for a in subs if a.key == dg.AssetKey(["submission", "sdtm"]))
    assert set(sdtm.dependency_keys) == {dg.AssetKey(["sdtm", "ae"])}  # LB has no asset: left out
    assert {c.name for c in sdtm.check_specs} == {"xpt_conformance", "define_xsd", "define_completeness"}
    assert all(a.group_names_by_key[k] == "submission" for a in subs for k in a.keys)
    manifest = next(a for a in subs if a.key == dg.AssetKey(["submission", "manifest"]))
    assert dg.AssetKey(["submission", "sdtm"]) in manifest.dependency_keys


def test_materialize_writes_both_packages_and_the_manifest(tmp_path, toy_specs):
    _, res = _run(tmp_path, sdtm_frame())
    assert res.success
    out = tmp_path / "out"
    for f in ("ae.xpt", "ae.json", "define.xml", "define.html", "define2-1.xsl"):
        assert (out / "sdtm" / f).stat().st_size > 0, f
    for f in ("adtt.xpt", "adtt.json", "define.xml", "define.html"):
        assert (out / "adam" / f).stat().st_size > 0, f
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in res.get_asset_check_evaluations()}
    assert checks[("submission/sdtm", "xpt_conformance")] and checks[("submission/adam", "xpt_conformance")]
    assert checks[("submission/sdtm", "define_xsd")] and checks[("submission/adam", "define_xsd")]
    mat = {m.asset_key.to_user_string(): m for m in res.get_asset_materialization_events()}
    meta = mat["submission/sdtm"].materialization.metadata
    assert meta["files"].value["ae.xpt"] == (out / "sdtm" / "ae.xpt").stat().st_size
    assert "seconds" in meta
    doc = json.loads((out / "manifest.json").read_text())
    paths = [e["path"] for e in doc["outputs"]]
    assert "sdtm/ae.xpt" in paths and "adam/define.xml" in paths and "manifest.json" not in paths
    assert doc["raw_inputs"][0]["path"] == "101/ae.csv" and doc["code"]["commit"] == "test"


def test_failed_xpt_check_writes_nothing_for_the_dataset_and_blocks_the_manifest(tmp_path, toy_specs):
    bad = sdtm_frame()
    bad.loc[0, "AETERM"] = "手足综合征"
    _, res = _run(tmp_path, bad)
    checks = {(e.asset_key.to_user_string(), e.check_name): e for e in res.get_asset_check_evaluations()}
    ev = checks[("submission/sdtm", "xpt_conformance")]
    assert not ev.passed
    assert "AE.AETERM row 1: [non-ascii]" in ev.metadata["problems"].value
    out = tmp_path / "out"
    assert not (out / "sdtm" / "ae.xpt").exists() and not (out / "sdtm" / "ae.json").exists()
    assert not (out / "manifest.json").exists()
