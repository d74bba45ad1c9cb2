"""What `python -m pipeline run` and `generate` print: a verdict first, each problem once, no traces."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def small_drop(tmp_path_factory) -> Path:
    from pipeline.synth import generate_study

    raw = tmp_path_factory.mktemp("cli") / "raw"
    generate_study(n_subjects=24, seed=20160901, out_dir=raw)
    return raw


def test_good_drop_summary(small_drop, tmp_path):
    proc = run_cli("run", "--raw", str(small_drop), "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.splitlines()[0].startswith(f"SUCCESS: 24 subjects built into {tmp_path / 'out'}/")
    assert "Traceback" not in out + proc.stderr and "Stack Trace" not in out + proc.stderr
    assert "dagster - " not in proc.stderr  # Dagster's console logger is quiet
    # Python warnings (lifelines on a small study) are counted in the summary, not dumped with their source lines.
    assert "warnings.warn(" not in proc.stderr
    assert "warnings.warn(" not in out
    labels = ["Subjects", "Raw records passed", "SDTM records", "ADaM records", "Open queries", "Failed checks", "Files"]
    for label in labels:
        assert any(line.startswith(label) for line in out.splitlines()), label
    assert next(line for line in out.splitlines() if line.startswith("Subjects")).split() == ["Subjects", "24"]
    assert "DM 24" in out and "ADSL 24" in out
    assert next(line for line in out.splitlines() if line.startswith("Failed checks")).split()[-1] == "none"
    assert str(tmp_path / "out" / "queries") in out and str(tmp_path / "out" / "manifest.json") in out
    # Progress: one line per layer, all done.
    for layer in ("raw", "sdtm", "adam", "analysis", "ops", "submission"):
        assert any(line.startswith(f"ok {layer} ") for line in proc.stderr.splitlines()), (layer, proc.stderr)


def test_broken_drop_each_problem_once_without_traces(small_drop, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(small_drop, raw)
    (raw / "101" / "ae.csv").write_bytes(b"")
    proc = run_cli("run", "--raw", str(raw), "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"))
    assert proc.returncode == 1
    both = proc.stdout + proc.stderr
    message = "101/ae.csv: the file is empty (no header row)"
    first = proc.stdout.splitlines()[0]
    assert first.startswith("FAILED: " + message), first
    # The verdict names it, the problem list explains it: the message itself appears exactly twice,
    # the numbered problem exactly once.
    assert both.count("the file is empty") == 2, both
    assert both.count("1. " + message) == 1
    assert "2. " not in proc.stdout
    assert "What to do: Ask the site to correct or re-export this file" in proc.stdout
    assert "Traceback" not in both and "Stack Trace" not in both and "dagster._core" not in both
    assert "RawFileError" not in both
    assert "sdtm/ae" in next(line for line in proc.stdout.splitlines() if line.startswith("Not built"))
    assert any(line.startswith("!! raw ") and "1 failed" in line for line in proc.stderr.splitlines())


def test_verbose_shows_dagster_traces(small_drop, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(small_drop, raw)
    # An empty DM file: nearly every asset depends on it, so this failed run is short.
    (raw / "101" / "dm.csv").write_bytes(b"")
    proc = run_cli("run", "--verbose", "--raw", str(raw), "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"))
    assert proc.returncode == 1
    assert "Stack Trace" in proc.stderr
    assert proc.stdout.splitlines()[0].startswith("FAILED: 101/dm.csv: the file is empty (no header row)")


def test_missing_raw_folder_one_line(tmp_path):
    proc = run_cli("run", "--raw", str(tmp_path / "nothing"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("FAILED: ")


def test_generate_labelled_summary(tmp_path):
    proc = run_cli("generate", "--subjects", "12", "--seed", "7", "--out", str(tmp_path / "raw"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("SUCCESS: generated 12 subjects (seed 7")
    assert "GenerationReport(" not in proc.stdout and "PosixPath" not in proc.stdout
    for label in ("Subjects by arm", "Raw records by form", "Planted problems", "Export files", "Ground truth"):
        assert any(line.startswith(label) for line in lines), label
    assert f"under {tmp_path / 'raw'}/" in proc.stdout
