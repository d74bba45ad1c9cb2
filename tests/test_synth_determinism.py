"""pipeline.synth: the same seed gives byte-identical files (csv, xlsx, truth); another seed differs."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest

from pipeline.synth import generate_study

N = 60


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("det")
    out = {}
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        generate_study(N, seed, base / name / "raw")
        out[name] = base / name
    return out


def test_same_seed_byte_identical(runs):
    a, b = _tree(runs["a"]), _tree(runs["b"])
    assert sorted(a) == sorted(b)
    assert any(k.endswith(".xlsx") for k in a)
    assert any(k.startswith("raw_truth/") for k in a)
    diff = [k for k in a if a[k] != b[k]]
    assert diff == []


def test_different_seed_differs(runs):
    a, c = _tree(runs["a"]), _tree(runs["c"])
    assert sorted(a) == sorted(c)  # same file set
    differing = [k for k in a if a[k] != c[k]]
    assert "raw_truth/subjects.csv" in differing
    assert any(k.endswith(".xlsx") for k in differing)
    assert len(differing) > len(a) // 2


def test_xlsx_timestamps_fixed_to_data_cut(runs):
    for path in sorted((runs["a"] / "raw" / "103").glob("*.xlsx")):
        with zipfile.ZipFile(path) as zf:
            assert {i.date_time for i in zf.infolist()} == {(2022, 12, 31, 0, 0, 0)}
            core = zf.read("docProps/core.xml").decode()
        assert "2022-12-31T00:00:00Z" in core
        assert dt.date.today().isoformat() not in core


def test_truth_dir_default_and_explicit(tmp_path):
    rep = generate_study(5, 3, tmp_path / "x" / "exp", truth_dir=tmp_path / "t")
    assert rep.truth_dir == tmp_path / "t"
    assert (tmp_path / "t" / "subjects.csv").exists()
    assert not (tmp_path / "x" / "exp_truth").exists()
    rep2 = generate_study(5, 3, tmp_path / "y" / "exp")
    assert rep2.truth_dir == tmp_path / "y" / "exp_truth"
    # The truth folder does not depend on where it is written.
    assert (tmp_path / "t" / "subjects.csv").read_bytes() == (tmp_path / "y" / "exp_truth" / "subjects.csv").read_bytes()


def test_committed_raw_is_the_generator_output(tmp_path):
    """raw/ and raw_truth/ in the repository are generate_study(154, 20160901)."""
    repo = Path(__file__).resolve().parents[1]
    generate_study(154, 20160901, tmp_path / "raw")
    for name in ("raw", "raw_truth"):
        fresh, committed = _tree(tmp_path / name), _tree(repo / name)
        committed = {k: v for k, v in committed.items() if not k.startswith(".")}
        assert sorted(fresh) == sorted(committed), name
        assert [k for k in fresh if fresh[k] != committed[k]] == [], name
