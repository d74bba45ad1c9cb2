"""manifest.json: sha256 of a known file, every output listed once with rows for datasets,
raw inputs hashed, spec and code versions, deterministic."""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd
from test_submission_common import CUTOFF, adam_frame, adam_spec, sdtm_frame, sdtm_spec

from pipeline import io
from pipeline.specs.paths import SPECS_DIR
from pipeline.submission import manifest as mf
from pipeline.submission.datasetjson import write_dataset_json
from pipeline.submission.xpt import write_xpt

HELLO_SHA256 = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"  # sha256 of b"hello\n"


def test_sha256_of_a_known_file(tmp_path):
    p = tmp_path / "hello.txt"
    p.write_bytes(b"hello\n")
    assert mf.sha256_file(p) == HELLO_SHA256 == hashlib.sha256(b"hello\n").hexdigest()


def _specs_copy(tmp_path):
    """A private specs/ tree with the study file the manifest reads."""
    d = tmp_path / "specs"
    (d / "trial").mkdir(parents=True)
    shutil.copy(SPECS_DIR / "trial" / "study.yaml", d / "trial" / "study.yaml")
    (d / "sdtm").mkdir()
    (d / "sdtm" / "ae.yaml").write_text("dataset: AE\n")
    return d


def _outputs(tmp_path):
    out, raw = tmp_path / "outputs", tmp_path / "raw"
    write_xpt(sdtm_frame(), sdtm_spec(), out / "sdtm", data_cutoff=CUTOFF)
    write_dataset_json(adam_frame(), adam_spec(), out / "adam", "adam", data_cutoff=CUTOFF)
    io.write_parquet(pd.DataFrame({"A": [1, 2, 3, 4]}), out / "sdtm" / "x.parquet")
    (out / "analysis").mkdir()
    (out / "analysis" / "hello.txt").write_bytes(b"hello\n")
    (out / "sdtm" / ".ae.xpt.abc.tmp").write_bytes(b"partial")  # an atomic write in progress
    (raw / "101").mkdir(parents=True)
    (raw / "101" / "dm.csv").write_bytes(b"hello\n")
    return out, raw


def test_manifest_lists_every_output_with_hash_size_and_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_CODE_VERSION", "abc123")
    out, raw = _outputs(tmp_path)
    specs = _specs_copy(tmp_path)
    mf.write_manifest(out, raw, specs)  # an old manifest must not list itself on the next run
    path, doc = mf.write_manifest(out, raw, specs)
    assert path == out / "manifest.json"
    on_disk = json.loads(path.read_text())
    assert on_disk == doc
    entries = {e["path"]: e for e in doc["outputs"]}
    assert list(entries) == sorted(entries) == ["adam/adtt.json", "analysis/hello.txt", "sdtm/ae.xpt", "sdtm/x.parquet"]
    assert entries["analysis/hello.txt"] == {"path": "analysis/hello.txt", "sha256": HELLO_SHA256, "size": 6}
    assert (
        entries["sdtm/ae.xpt"]["rows"] == 3 and entries["adam/adtt.json"]["rows"] == 3 and entries["sdtm/x.parquet"]["rows"] == 4
    )
    assert entries["sdtm/ae.xpt"]["sha256"] == mf.sha256_file(out / "sdtm" / "ae.xpt")
    assert doc["raw_inputs"] == [{"path": "101/dm.csv", "sha256": HELLO_SHA256, "size": 6}]
    assert doc["code"] == {"package": "nct02867280-pipeline", "version": doc["code"]["version"], "commit": "abc123"}
    assert doc["data_cutoff"] and doc["study"]
    assert len(doc["spec_version"]) == 64


def test_manifest_is_deterministic_and_follows_the_specs(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_CODE_VERSION", "abc123")
    out, raw = _outputs(tmp_path)
    specs = _specs_copy(tmp_path)
    mf.write_manifest(out, raw, specs)
    first = (out / "manifest.json").read_bytes()
    mf.write_manifest(out, raw, specs)
    assert (out / "manifest.json").read_bytes() == first
    (specs / "sdtm" / "ae.yaml").write_text("dataset: AE\nlabel: changed\n")
    _, doc = mf.write_manifest(out, raw, specs)
    assert doc["spec_version"] != json.loads(first)["spec_version"]


def test_code_version_without_environment_or_git(tmp_path, monkeypatch):
    monkeypatch.delenv("PIPELINE_CODE_VERSION", raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert mf.code_version(repo=tmp_path)["commit"] == "unknown"


def test_manifest_names_datasets_not_submitted_and_the_creation_stamp(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_CODE_VERSION", "abc123")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1672574400")  # 2023-01-01 12:00:00 UTC
    out, raw = _outputs(tmp_path)
    # IE built with no record: its Parquet exists, the package left it out (no ie.xpt).
    io.write_parquet(pd.DataFrame({"A": pd.Series([], dtype="float64")}), out / "sdtm" / "ie.parquet")
    # An empty frame that is not a dataset of a layer folder is not named.
    io.write_parquet(pd.DataFrame({"A": pd.Series([], dtype="float64")}), out / "sdtm" / "lineage" / "ie.parquet")
    _, doc = mf.write_manifest(out, raw, _specs_copy(tmp_path))
    assert doc["not_submitted"] == [{"layer": "sdtm", "dataset": "IE", "reason": "no records"}]
    assert doc["creation_datetime"] == {"value": "2023-01-01T12:00:00", "source": "SOURCE_DATE_EPOCH"}
