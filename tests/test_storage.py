"""The work-folder IO manager: results stored part by part as plain files, a step loads only the parts it asks for."""

from __future__ import annotations

import gc
import json
import pickle
import weakref

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline.columns import TEXT
from pipeline.raw.extract import FormExtract
from pipeline.sdtm.common import DomainResult
from pipeline.storage import PARTS_KEY, StudyIOManager, read_value, write_value


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


def test_parts_round_trip_whole_and_one_part(tmp_path) -> None:
    write_value(_result(), tmp_path / "ae")
    index = json.loads((tmp_path / "ae" / "_value.json").read_text())
    assert index["class"] == ["pipeline.sdtm.common", "DomainResult"]
    assert {k: v["format"] for k, v in index["parts"].items()} == {
        "domain": "pickle",
        "data": "parquet",
        "lineage": "parquet",
        "queries": "parquet",
    }
    whole = read_value(tmp_path / "ae")
    assert isinstance(whole, DomainResult) and whole.domain == "AE"
    pd.testing.assert_frame_equal(whole.data, _result().data, check_exact=True)
    pd.testing.assert_frame_equal(whole.lineage, _result().lineage, check_exact=True)
    only = read_value(tmp_path / "ae", ["queries"])
    assert only.queries["QUERY"].tolist() == ["unknown term"]
    with pytest.raises(AttributeError):
        _ = only.data  # never loaded
    with pytest.raises(KeyError, match="no part"):
        read_value(tmp_path / "ae", ["quarantine"])


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


def test_frames_are_stored_as_parquet_and_come_back_identical(tmp_path) -> None:
    frame = _raw_like()
    quarantine = pd.DataFrame({"value": pd.Series([object(), "x"], dtype=object)})  # not Parquet: pickled
    value = FormExtract(form="ae", data=frame, quarantine=quarantine, counts=frame.iloc[:0], warnings=("w",))
    write_value(value, tmp_path / "v")
    assert (tmp_path / "v" / "data.parquet").exists() and (tmp_path / "v" / "quarantine.pickle").exists()
    back = read_value(tmp_path / "v")
    pd.testing.assert_frame_equal(back.data, frame, check_exact=True)
    assert list(back.data.dtypes) == list(frame.dtypes)
    assert np.signbit(back.data["AVAL"].iloc[2])  # -0.0 kept bit for bit
    assert back.quarantine["value"].iloc[1] == "x" and back.warnings == ("w",) and back.counts.empty
    back.data.loc[0, "AVAL"] = 9.0  # numeric columns are ordinary writable arrays
    assert read_value(tmp_path / "v", ["data"]).data["AVAL"].iloc[0] == 1.5
    # object-typed column labels come back object-typed
    labelled = frame.set_axis(pd.Index(list(frame.columns), dtype=object), axis=1)
    write_value(DomainResult("AE", labelled, labelled, labelled), tmp_path / "o")
    assert read_value(tmp_path / "o", ["data"]).data.columns.dtype == object


def test_frames_parquet_cannot_rebuild_exactly_stay_pickles(tmp_path) -> None:
    odd = [
        _raw_like().set_index("SUBJID"),  # not a 0..n-1 RangeIndex
        _raw_like().iloc[1:],  # RangeIndex starting at 1
        pd.DataFrame({"x": pd.Categorical(["a", "b"])}),  # a dtype outside text and numbers
        pd.DataFrame({1: [1.0]}),  # non-str column label
        pd.DataFrame({"x": [1.0, None]}, dtype=object),  # object column: Parquet would turn None into NaN
        _raw_like().assign(x=1).pipe(lambda d: d.set_axis([*d.columns[:-1], "SUBJID"], axis=1)),  # duplicate label
    ]
    attrs = _raw_like()
    attrs.attrs["of"] = "AE"
    odd.append(attrs)
    for i, frame in enumerate(odd):
        write_value(DomainResult("AE", frame, frame, frame), tmp_path / f"v{i}")
        assert (tmp_path / f"v{i}" / "data.pickle").exists(), i
        back = read_value(tmp_path / f"v{i}").data
        pd.testing.assert_frame_equal(back, frame, check_exact=True)
        assert back.attrs == frame.attrs


def test_a_value_is_replaced_whole_and_no_temporary_folder_is_left(tmp_path) -> None:
    mgr = StudyIOManager(base_dir=str(tmp_path)).create_io_manager(None)
    path = tmp_path / "ae"
    mgr.dump_to_path(None, _result(), path)
    first = read_value(path)
    changed = _result()
    changed.data["AETERM"] = pd.Series(["Nausea", "Fatigue"], dtype=TEXT)
    mgr.dump_to_path(None, changed, path)
    assert first.data["AETERM"].tolist()[0] == "Rash"
    assert read_value(path).data["AETERM"].tolist() == ["Nausea", "Fatigue"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ae"]
    (tmp_path / "old").write_bytes(b"a value of the earlier one-file format")
    with pytest.raises(FileNotFoundError, match="earlier version of the pipeline; materialize its asset again"):
        read_value(tmp_path / "old")
    write_value({"a": 1}, tmp_path / "old")  # replaced by a folder
    assert read_value(tmp_path / "old") == {"a": 1}


def test_a_failed_write_fails_its_own_step_and_keeps_the_previous_value(tmp_path, monkeypatch) -> None:
    from pipeline import storage

    resources = {"io_manager": StudyIOManager(base_dir=str(tmp_path))}

    @dg.asset(key=["sdtm", "ae"])
    def ae() -> DomainResult:
        return _result()

    assert dg.materialize([ae], resources=resources).success
    real = storage._write_part

    def full_disk(value, folder, name):
        if name == "lineage":
            raise OSError(28, "No space left on device")
        return real(value, folder, name)

    monkeypatch.setattr(storage, "_write_part", full_disk)
    res = dg.materialize([ae], resources=resources, raise_on_error=False)
    assert not res.success
    failed = [e for e in res.all_events if e.is_step_failure]
    assert [e.step_key for e in failed] == ["sdtm__ae"]
    assert "No space left" in failed[0].event_specific_data.error.cause.message
    assert not res.get_asset_materialization_events()  # never recorded as materialized
    pd.testing.assert_frame_equal(read_value(tmp_path / "sdtm" / "ae", ["lineage"]).lineage, _result().lineage)
    assert sorted(p.name for p in (tmp_path / "sdtm").iterdir()) == ["ae"]  # the half-written folder went


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
    # Plain files: a frame part is Parquet any tool reads, anything else a pickle.
    assert pickle.loads((tmp_path / "plain" / "value.pickle").read_bytes()) == {"a": 1}
    assert pq.read_table(tmp_path / "sdtm" / "ae" / "lineage.parquet").column("RAWROW").to_pylist() == [2, 3]
    assert read_value(tmp_path / "sdtm" / "ae", ["queries"]).queries["QUERY"].tolist() == ["unknown term"]
    assert read_value(tmp_path / "plain") == {"a": 1}


_ALIVE: list[weakref.ref] = []


def _kept_job() -> dg.JobDefinition:
    @dg.asset
    def big() -> DomainResult:
        res = _result()
        _ALIVE.append(weakref.ref(res))
        return res

    @dg.asset(ins={"big": dg.AssetIn(metadata={PARTS_KEY: ["data"]})})
    def rows(big: DomainResult) -> int:
        return len(big.data)

    work = _KEPT_DIR[0]
    job = dg.define_asset_job("kept", selection=dg.AssetSelection.all(), executor_def=dg.in_process_executor)
    defs = dg.Definitions(assets=[big, rows], jobs=[job], resources={"io_manager": StudyIOManager(base_dir=work)})
    return defs.resolve_job_def("kept")


_KEPT_DIR: list[str] = []


def test_a_run_does_not_keep_stored_outputs_alive(tmp_path) -> None:
    # execute_in_process holds every output until the run ends; the public execute_job of a
    # reconstructable job (pipeline.runner.execute) does not, or a 100,000-subject run would keep
    # every finished dataset in memory.
    _KEPT_DIR[:] = [str(tmp_path)]
    _ALIVE.clear()
    result = dg.execute_job(dg.reconstructable(_kept_job), instance=dg.DagsterInstance.ephemeral())
    gc.collect()
    assert result.success and len(result.get_asset_materialization_events()) == 2
    assert _ALIVE and _ALIVE[0]() is None  # stored on disk, released in memory
    kept = _kept_job().execute_in_process(instance=dg.DagsterInstance.ephemeral())
    gc.collect()
    assert _ALIVE[1]() is not None  # what the plain entry point does (the reason for execute)
    del kept


def test_a_failed_deliverable_write_fails_the_asset_that_writes_it(tmp_path, monkeypatch) -> None:
    # Deliverables are written in their own step (no background writer): a full disk fails that
    # asset, never a later one, and the asset is not recorded as materialized.
    from pipeline import io

    def full_disk(table, where, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.pq, "write_table", full_disk)

    @dg.asset(key=["sdtm", "ae"])
    def ae() -> None:
        io.write_parquet(_result().data, tmp_path / "out" / "ae.parquet")

    @dg.asset(deps=[ae])
    def later() -> None:
        pass

    res = dg.materialize(
        [ae, later], resources={"io_manager": StudyIOManager(base_dir=str(tmp_path / "work"))}, raise_on_error=False
    )
    failed = [e for e in res.all_events if e.is_step_failure]
    assert [e.step_key for e in failed] == ["sdtm__ae"]
    assert "No space left" in failed[0].event_specific_data.error.cause.message
    assert not res.get_asset_materialization_events()
    assert not (tmp_path / "out" / "ae.parquet").exists()
