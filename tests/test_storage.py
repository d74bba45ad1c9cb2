"""The work-folder IO manager: results stored part by part, a step loads only the parts it asks for."""

from __future__ import annotations

import gc
import io
import pickle
import struct
import threading
import weakref

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from pipeline import background
from pipeline.columns import TEXT
from pipeline.raw.extract import FormExtract
from pipeline.runner import execute
from pipeline.sdtm.common import DomainResult
from pipeline.storage import (
    MAGIC,
    MAGIC_V1,
    PARTS_KEY,
    StudyIOManager,
    dump_parts,
    load_parts,
    read_value,
)


def _result() -> DomainResult:
    data = pd.DataFrame({"USUBJID": ["S-101-001", "S-101-002"], "AESEQ": [1.0, 1.0], "AETERM": ["Rash", None]})
    lineage = pd.DataFrame(
        {
            "DOMAIN": ["AE", "AE"],
            "USUBJID": ["S-101-001", "S-101-002"],
            "RECORD": [1.0, 1.0],
            "RAWFILE": ["101/ae.csv", "101/ae.csv"],
            "RAWROW": [2, 3],
        }
    )
    queries = pd.DataFrame({"QUERY": ["unknown term"]})
    return DomainResult("AE", data, lineage, queries)


def test_parts_round_trip_whole_and_one_part() -> None:
    buf = io.BytesIO()
    dump_parts(_result(), buf)
    assert buf.getvalue().startswith(MAGIC)
    whole = load_parts(buf)
    assert isinstance(whole, DomainResult) and whole.domain == "AE"
    pd.testing.assert_frame_equal(whole.data, _result().data)
    pd.testing.assert_frame_equal(whole.lineage, _result().lineage)
    only = load_parts(buf, ["queries"])
    assert only.queries["QUERY"].tolist() == ["unknown term"]
    with pytest.raises(AttributeError):
        _ = only.data  # never loaded
    with pytest.raises(KeyError, match="no part"):
        load_parts(buf, ["quarantine"])


def _raw_like() -> pd.DataFrame:
    """A frame with every column kind the layers hand on: text with missing values and non-ASCII
    text, float with NaN and -0.0, int, bool, nullable Int64, datetime with NaT."""
    return pd.DataFrame(
        {
            "SUBJID": pd.Series(["001", None, "003", "肝癌"], dtype=TEXT),
            "AVAL": [1.5, np.nan, -0.0, 1e300],
            "_row": np.array([2, 3, 4, 5], dtype="int64"),
            "flag": [True, False, True, False],
            "AESPID": pd.array([1, None, 3, None], dtype="Int64"),
            "when": pd.to_datetime(["2016-09-01", None, "2017-01-31", "2020-02-29"]),
        }
    )


@pytest.fixture
def arrow_for_all(monkeypatch):
    """Store frames of any size as Arrow (in a run only large ones are)."""
    from pipeline import storage

    monkeypatch.setattr(storage, "ARROW_MIN_ROWS", 0)


def test_frames_are_stored_as_arrow_and_come_back_identical(tmp_path, arrow_for_all) -> None:
    from pipeline.storage import _as_table

    frame = _raw_like()
    assert _as_table(frame) is not None
    quarantine = pd.DataFrame({"value": pd.Series([object(), "x"], dtype=object)})  # not Arrow: pickled
    value = FormExtract(form="ae", data=frame, quarantine=quarantine, counts=frame.iloc[:0], warnings=("w",))
    with open(tmp_path / "v", "wb") as fh:
        dump_parts(value, fh)
    back = read_value(tmp_path / "v")
    pd.testing.assert_frame_equal(back.data, frame, check_exact=True)
    assert list(back.data.dtypes) == list(frame.dtypes)
    assert np.signbit(back.data["AVAL"].iloc[2])  # -0.0 kept bit for bit
    assert back.quarantine["value"].iloc[1] == "x" and back.warnings == ("w",) and back.counts.empty
    back.data.loc[0, "AVAL"] = 9.0  # numeric columns are ordinary writable arrays
    assert read_value(tmp_path / "v", ["data"]).data["AVAL"].iloc[0] == 1.5


def test_frames_pandas_cannot_rebuild_exactly_stay_pickles(tmp_path, arrow_for_all) -> None:
    odd = [
        _raw_like().set_index("SUBJID"),  # not a 0..n-1 RangeIndex
        _raw_like().iloc[1:],  # RangeIndex starting at 1
        pd.DataFrame({"x": pd.Categorical(["a", "b"])}),  # a dtype the Arrow path does not take
        pd.DataFrame({1: [1.0]}),  # non-str column label
    ]
    from pipeline.storage import _as_table

    for frame in odd:
        assert _as_table(frame) is None
        value = DomainResult("AE", frame, frame, frame)
        with open(tmp_path / "v", "wb") as fh:
            dump_parts(value, fh)
        pd.testing.assert_frame_equal(read_value(tmp_path / "v").data, frame, check_exact=True)


def test_a_value_stays_readable_after_its_file_is_rewritten(tmp_path, arrow_for_all) -> None:
    # Loaded text columns are memory-mapped from the file: a later run must replace the file, not
    # overwrite it in place, or the earlier value would change under its reader (or crash it).
    mgr = StudyIOManager(base_dir=str(tmp_path)).create_io_manager(None)
    path = tmp_path / "ae"
    mgr.dump_to_path(None, _result(), path)
    first = read_value(path)
    changed = _result()
    changed.data["AETERM"] = pd.Series(["Nausea", "Fatigue"], dtype=TEXT)
    mgr.dump_to_path(None, changed, path)
    assert first.data["AETERM"].tolist()[0] == "Rash"
    assert read_value(path).data["AETERM"].tolist() == ["Nausea", "Fatigue"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ae"]  # no temporary file left


def test_values_stored_by_the_first_format_are_still_read(tmp_path) -> None:
    res = _result()
    blobs = {f: pickle.dumps(getattr(res, f), protocol=5) for f in ("domain", "data", "lineage", "queries")}
    offsets, at = {}, 0
    for name, blob in blobs.items():
        offsets[name] = (at, len(blob))
        at += len(blob)
    header = pickle.dumps({"class": (DomainResult.__module__, "DomainResult"), "parts": offsets}, protocol=5)
    (tmp_path / "old").write_bytes(MAGIC_V1 + struct.pack("<Q", len(header)) + header + b"".join(blobs.values()))
    pd.testing.assert_frame_equal(read_value(tmp_path / "old", ["data"]).data, res.data)


def test_assets_read_only_the_parts_they_ask_for(tmp_path) -> None:
    @dg.asset(key=["sdtm", "ae"])
    def ae() -> DomainResult:
        return _result()

    @dg.asset(ins={"ae": dg.AssetIn(key=["sdtm", "ae"], metadata={PARTS_KEY: ["data"]})})
    def package(ae: DomainResult) -> int:
        assert not hasattr(ae, "lineage")
        return len(ae.data)

    @dg.asset(ins={"ae": dg.AssetIn(key=["sdtm", "ae"])})
    def everything(ae: DomainResult) -> int:
        return len(ae.lineage) + len(ae.queries)

    @dg.asset
    def plain() -> dict:
        return {"a": 1}

    res = dg.materialize([ae, package, everything, plain], resources={"io_manager": StudyIOManager(base_dir=str(tmp_path))})
    assert res.success
    assert res.output_for_node("package") == 2 and res.output_for_node("everything") == 3
    # A value that is not a dataclass is an ordinary pickle, as Dagster's FilesystemIOManager writes it.
    assert pickle.loads((tmp_path / "plain").read_bytes()) == {"a": 1}
    assert (tmp_path / "sdtm" / "ae").read_bytes().startswith(MAGIC)
    assert read_value(tmp_path / "sdtm" / "ae", ["queries"]).queries["QUERY"].tolist() == ["unknown term"]
    assert read_value(tmp_path / "plain") == {"a": 1}


def test_freed_memory_is_returned_once_per_step_not_per_input(tmp_path, monkeypatch) -> None:
    from pipeline import storage

    calls: list[int] = []
    monkeypatch.setattr(storage, "_return_free_memory", lambda: calls.append(1))

    @dg.asset
    def a() -> int:
        return 1

    @dg.asset
    def b() -> int:
        return 2

    @dg.asset
    def both(a: int, b: int) -> int:  # one step, two inputs
        return a + b

    @dg.asset
    def again(both: int) -> int:
        return both

    res = dg.materialize([a, b, both, again], resources={"io_manager": StudyIOManager(base_dir=str(tmp_path))})
    assert res.success and res.output_for_node("again") == 3
    assert len(calls) == 2  # steps "both" and "again"


def test_a_run_does_not_keep_stored_outputs_alive(tmp_path) -> None:
    # execute_in_process holds every output until the run ends; pipeline.runner.execute must not,
    # or a 100,000-subject run keeps every finished dataset in memory.
    alive: list[weakref.ref] = []

    @dg.asset
    def big() -> DomainResult:
        res = _result()
        alive.append(weakref.ref(res))
        return res

    @dg.asset(ins={"big": dg.AssetIn(metadata={PARTS_KEY: ["data"]})})
    def rows(big: DomainResult) -> int:
        return len(big.data)

    defs = dg.Definitions(assets=[big, rows], resources={"io_manager": StudyIOManager(base_dir=str(tmp_path))})
    job = defs.resolve_implicit_global_asset_job_def()
    result = execute(job, dg.DagsterInstance.ephemeral())
    gc.collect()
    assert result.success and len(result.get_asset_materialization_events()) == 2
    assert alive and alive[0]() is None  # stored on disk, released in memory
    kept = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
    gc.collect()
    assert alive[1]() is not None  # what the plain entry point does (the reason for execute)
    del kept


def test_background_writes_finish_before_a_read_and_before_the_block_ends(tmp_path, monkeypatch) -> None:
    from pipeline import storage

    started, release = threading.Event(), threading.Event()
    real = storage._write_parts_file

    def slow(obj, path):  # a write held up by the disk
        started.set()
        release.wait(5)
        real(obj, path)

    monkeypatch.setattr(storage, "_write_parts_file", slow)
    mgr = StudyIOManager(base_dir=str(tmp_path)).create_io_manager(None)
    with background.background_writes():
        mgr.dump_to_path(None, _result(), tmp_path / "ae")  # returns at once
        assert started.wait(5) and not (tmp_path / "ae").exists()
        threading.Timer(0.2, release.set).start()
        assert read_value(tmp_path / "ae", ["data"]).data["AESEQ"].tolist() == [1.0, 1.0]  # waited
        release.clear()
        mgr.dump_to_path(None, _result(), tmp_path / "cm")
        threading.Timer(0.2, release.set).start()
    assert (tmp_path / "cm").exists()  # the block waited for the last write


def test_a_failed_background_write_is_raised(tmp_path, monkeypatch) -> None:
    from pipeline import storage

    def broken(obj, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "_write_parts_file", broken)
    mgr = StudyIOManager(base_dir=str(tmp_path)).create_io_manager(None)
    with pytest.raises(OSError, match="No space left"), background.background_writes():
        mgr.dump_to_path(None, _result(), tmp_path / "ae")
    with background.background_writes():
        mgr.dump_to_path(None, _result(), tmp_path / "ae")
        with pytest.raises(OSError, match="No space left"):
            read_value(tmp_path / "ae")  # the reader learns why the value is not there
