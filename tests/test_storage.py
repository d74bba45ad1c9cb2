"""The work-folder IO manager: results stored part by part, a step loads only the parts it asks for."""

from __future__ import annotations

import gc
import io
import pickle
import weakref

import dagster as dg
import pandas as pd
import pytest

from pipeline.runner import execute
from pipeline.sdtm.common import DomainResult
from pipeline.storage import (
    MAGIC,
    PARTS_KEY,
    StudyIOManager,
    dump_parts,
    load_parts,
    read_value,
)


def _result() -> DomainResult:
    data = pd.DataFrame({"USUBJID": ["S-101-001", "S-101-002"], "AESEQ": [1.0, 1.0], "AETERM": ["Rash", None]})
    lineage = pd.DataFrame({"DOMAIN": ["AE", "AE"], "USUBJID": ["S-101-001", "S-101-002"], "RECORD": [1.0, 1.0],
                            "RAWFILE": ["101/ae.csv", "101/ae.csv"], "RAWROW": [2, 3]})
    queries = pd.DataFrame({"QUERY": ["unknown term"]})
    return DomainResult("AE", data, lineage, queries)


def test_parts_round_trip_whole_and_one_part() -> None:
    buf = io.BytesIO()
    dump_parts(_result(), buf)
    buf.seek(0)
    assert buf.read(len(MAGIC)) == MAGIC
    pos = buf.tell()
    whole = load_parts(buf)
    assert isinstance(whole, DomainResult) and whole.domain == "AE"
    pd.testing.assert_frame_equal(whole.data, _result().data)
    pd.testing.assert_frame_equal(whole.lineage, _result().lineage)
    buf.seek(pos)
    only = load_parts(buf, ["queries"])
    assert only.queries["QUERY"].tolist() == ["unknown term"]
    with pytest.raises(AttributeError):
        _ = only.data  # never loaded
    buf.seek(pos)
    with pytest.raises(KeyError, match="no part"):
        load_parts(buf, ["quarantine"])


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
