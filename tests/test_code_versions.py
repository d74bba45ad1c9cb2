"""Asset code versions: a hash of the asset's spec and modules, so the UI shows exactly the changed assets stale."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from pipeline.definitions import all_assets
from pipeline.versions import REPO, SOURCES_KEY, code_version


def _specs():
    return {spec.key.to_user_string(): spec for a in all_assets() for spec in a.specs}


def test_the_version_is_the_hash_of_the_listed_files_worked_by_hand(tmp_path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "x.yaml").write_bytes(b"a: 1\n")
    (tmp_path / "m.py").write_bytes(b"X = 1\n")
    lines = (
        f"{hashlib.sha256(b'X = 1' + bytes([10])).hexdigest()}  m.py\n"
        f"{hashlib.sha256(b'a: 1' + bytes([10])).hexdigest()}  specs/x.yaml\n"
    )
    expected = hashlib.sha256(lines.encode()).hexdigest()[:16]
    # sorted by path whatever the order given; a pattern and a name of a missing file are fine
    assert code_version(["specs/*.yaml", "m.py", "gone.py"], tmp_path) == expected
    assert code_version(["m.py", "specs/x.yaml"], tmp_path) == expected


def test_every_asset_has_a_derived_code_version() -> None:
    specs = _specs()
    assert specs and all(s.code_version and s.code_version != "1" for s in specs.values())
    for key in ("sdtm/ae", "sdtm/cm", "adam/adsl"):
        sources = specs[key].metadata[SOURCES_KEY]
        assert specs[key].code_version == code_version(sources)  # what the definition carries
        assert f"specs/{key}.yaml" in sources and "pipeline/dataset_assets.py" in sources


@pytest.fixture
def repo_copy(tmp_path):
    for part in ("pipeline", "specs"):
        shutil.copytree(REPO / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _versions(root) -> dict[str, str]:
    return {k: code_version(s.metadata[SOURCES_KEY], root) for k, s in _specs().items() if SOURCES_KEY in s.metadata}


@pytest.mark.parametrize(
    ("edited", "changed"),
    [
        ("specs/sdtm/ae.yaml", {"sdtm/ae"}),  # a spec: its dataset only
        ("pipeline/sdtm/cm.py", {"sdtm/cm"}),  # a domain module: its dataset only
        ("pipeline/adam/adtte.py", {"adam/adtte"}),
    ],
)
def test_editing_a_spec_or_module_changes_that_assets_version_only(repo_copy, edited, changed) -> None:
    before = _versions(repo_copy)
    assert before == _versions(REPO)  # a faithful copy gives the same versions
    with open(repo_copy / edited, "a", encoding="utf-8") as fh:
        fh.write("\n# edited\n")
    after = _versions(repo_copy)
    assert {k for k in before if before[k] != after[k]} == changed


def test_editing_shared_sdtm_helpers_changes_every_sdtm_dataset_and_no_adam_one(repo_copy) -> None:
    before = _versions(repo_copy)
    with open(repo_copy / "pipeline/sdtm/common.py", "a", encoding="utf-8") as fh:
        fh.write("\n# edited\n")
    after = _versions(repo_copy)
    moved = {k for k in before if before[k] != after[k]}
    assert moved == {k for k in before if k.startswith("sdtm/")}
