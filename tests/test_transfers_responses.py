"""Returned site listings (pipeline/transfers/responses.py): read back, hostile files, the sensor."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import dagster as dg
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ops import queries as q
from pipeline.transfers import responses as rs


def listing(answers: list[tuple[str, str, str]]) -> pd.DataFrame:
    """A site listing (LISTING_COLS) with (query_id, site_response, dm_decision) filled in."""
    rows = []
    for i, (qid, answer, decision) in enumerate(answers):
        row = dict.fromkeys(q.LISTING_COLS, "")
        row.update(query_id=qid, siteid="101", subjid=f"101-00{i + 1}", form="ae", field="AETOXGR", value="6")
        row.update(rule="CODE_UNKNOWN", file="101/ae.csv", row=i + 2, status="OPEN", site_response=answer, dm_decision=decision)
        rows.append(row)
    return pd.DataFrame(rows, columns=q.LISTING_COLS)


def test_xlsx_and_csv_listings_read_back(tmp_path: Path):
    (tmp_path / "101.xlsx").write_bytes(
        q.listing_xlsx_bytes(listing([("Q101-A", "grade 3, corrected", ""), ("Q101-B", "", ""), ("Q101-C", "", "cancel")]))
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "102.csv").write_bytes(q.listing_csv_bytes(listing([("Q102-A", "=SUM(A1)", "CLOSE")])))
    got = rs.parse_responses(tmp_path)
    assert got.problems.empty
    assert got.frame.to_dict("records") == [
        {"query_id": "Q101-A", "site_response": "grade 3, corrected", "dm_decision": "", "file": "101.xlsx", "row": 2},
        {"query_id": "Q101-C", "site_response": "", "dm_decision": "CANCEL", "file": "101.xlsx", "row": 4},
        # The apostrophe the CSV writer puts before "=" is taken off again.
        {"query_id": "Q102-A", "site_response": "=SUM(A1)", "dm_decision": "CLOSE", "file": "sub/102.csv", "row": 2},
    ]
    assert list(rs.read_responses(tmp_path).columns) == ["query_id", "site_response", "dm_decision", "file", "row"]


def test_listing_written_for_the_sites_has_the_blank_return_columns():
    out = q.assign_query_ids(
        pd.DataFrame(
            [
                {"siteid": "101", "subjid": "101-001", "form": "ae", "file": "101/ae.csv", "row": 2}
                | {"field": "AETOXGR", "value": "6", "rule": "CODE_UNKNOWN", "message": "m"}
            ]
        )
    )
    assert q.LISTING_COLS[-2:] == ["site_response", "dm_decision"]
    assert out[["site_response", "dm_decision"]].iloc[0].tolist() == ["", ""]
    # Still byte-reproducible.
    assert q.listing_xlsx_bytes(out) == q.listing_xlsx_bytes(out.copy())


def test_hostile_files_are_problems_naming_file_row_and_value(tmp_path: Path):
    (tmp_path / "101.xlsx").write_bytes(q.listing_xlsx_bytes(listing([("Q101-A", "ok", "DELETE"), ("Q999-X", "who?", "")])))
    good = q.listing_xlsx_bytes(listing([("Q101-B", "fine", "")]))
    (tmp_path / "102.xlsx").write_bytes(good[: len(good) // 2])  # cut short in transfer
    (tmp_path / "103.xlsx").write_bytes(b"this is not a workbook")
    (tmp_path / "104.csv").write_bytes("\ufeffid,response\r\nQ104-A,yes\r\n".encode())
    (tmp_path / "105.csv").write_bytes(b"")
    (tmp_path / "~$101.xlsx").write_bytes(b"lock")  # Excel's lock file: not a listing
    (tmp_path / "notes.txt").write_text("not a listing")
    got = rs.parse_responses(tmp_path, known_ids=["Q101-A", "Q101-B"])
    assert got.frame.to_dict("records") == [
        {"query_id": "Q101-A", "site_response": "ok", "dm_decision": "", "file": "101.xlsx", "row": 2}
    ]
    p = got.problems.astype(object).where(got.problems.notna(), None).to_dict("records")
    assert [(r["file"], r["row"], r["field"], r["value"]) for r in p] == [
        ("101.xlsx", 2, "dm_decision", "DELETE"),
        ("101.xlsx", 3, "query_id", "Q999-X"),
        ("102.xlsx", None, "", ""),
        ("103.xlsx", None, "", ""),
        ("104.csv", 1, "query_id,site_response,dm_decision", ""),
        ("105.csv", None, "", ""),
    ]
    msgs = [r["message"] for r in p]
    assert msgs[0] == "101.xlsx row 2: dm_decision 'DELETE' is not CANCEL or CLOSE; the decision is ignored"
    assert "'Q999-X' is not a query of this study's register" in msgs[1]
    assert msgs[2].startswith("102.xlsx: not a readable Excel workbook") and msgs[3].startswith("103.xlsx: not a readable")
    assert msgs[4] == "104.csv: column(s) query_id, site_response, dm_decision missing from the header row; file not read"
    assert msgs[5] == "105.csv: the file is empty"


def test_two_different_answers_to_one_query_are_a_problem_and_the_later_file_wins(tmp_path: Path):
    (tmp_path / "a.csv").write_bytes(q.listing_csv_bytes(listing([("Q101-A", "first", "")])))
    (tmp_path / "b.csv").write_bytes(q.listing_csv_bytes(listing([("Q101-A", "second", "")])))
    got = rs.parse_responses(tmp_path)
    assert got.problems["message"].tolist() == [
        "b.csv row 2: query Q101-A was also answered differently in a.csv row 2; the answer in b.csv is used"
    ]
    assert got.frame["site_response"].tolist() == ["first", "second"]  # the register takes the last


def test_gb18030_resaved_csv_and_renamed_sheet(tmp_path: Path):
    text = "query_id,site_response,dm_decision\r\nQ102-A,已更正,\r\n"
    (tmp_path / "102.csv").write_bytes(text.encode("gb18030"))
    wb_bytes = q.listing_xlsx_bytes(listing([("Q103-A", "已核实", "")]))
    (tmp_path / "103.xlsx").write_bytes(wb_bytes)
    got = rs.parse_responses(tmp_path)
    assert got.problems.empty
    assert got.frame["site_response"].tolist() == ["已更正", "已核实"]


def test_missing_folder_is_no_response(tmp_path: Path):
    got = rs.parse_responses(tmp_path / "nowhere")
    assert got.frame.empty and got.problems.empty and list(got.frame.columns) == rs.RESPONSE_COLS


# What a site types: any text but control characters (the workbook cannot hold most of them).
_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".xlsx"]))
def test_any_bytes_never_raise(tmp_path: Path, data: bytes, suffix: str):
    path = tmp_path / f"x{suffix}"
    path.write_bytes(data)
    got = rs.parse_responses(tmp_path)
    assert list(got.frame.columns) == rs.RESPONSE_COLS and list(got.problems.columns) == rs.PROBLEM_COLS
    path.unlink()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=_TEXT, decision=st.sampled_from(["", "CANCEL", "close", " Cancel "]), zipped=st.booleans())
def test_any_answer_round_trips(tmp_path: Path, answer: str, decision: str, zipped: bool):
    for p in tmp_path.iterdir():
        p.unlink()
    lst = listing([("Q101-A", answer, decision)])
    if zipped:
        (tmp_path / "101.xlsx").write_bytes(q.listing_xlsx_bytes(lst))
    else:
        (tmp_path / "101.csv").write_bytes(q.listing_csv_bytes(lst))
    got = rs.parse_responses(tmp_path)
    assert got.problems.empty
    if answer.strip() or decision.strip():
        assert got.frame[["site_response", "dm_decision"]].iloc[0].tolist() == [answer.strip(), decision.strip().upper()]
    else:
        assert got.frame.empty


def test_zip_bomb_like_member_is_refused_before_parsing(tmp_path: Path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"<" + b"a" * (8 << 20))
    (tmp_path / "101.xlsx").write_bytes(buf.getvalue())
    got = rs.parse_responses(tmp_path)
    assert got.frame.empty and len(got.problems) == 1 and got.problems["file"].iloc[0] == "101.xlsx"


def test_sensor_runs_once_per_settled_content(tmp_path: Path):
    folder = tmp_path / "responses"
    d, cur, why = rs.evaluate_responses(None, folder)
    assert d is None and why == "responses folder is empty"
    folder.mkdir()
    (folder / "101.xlsx").write_bytes(q.listing_xlsx_bytes(listing([("Q101-A", "x", "")])))
    d, cur, why = rs.evaluate_responses(cur, folder)
    assert d is None and "waiting one interval" in why  # just arrived: may still be copying
    d1, cur, _ = rs.evaluate_responses(cur, folder)
    assert d1 is not None
    assert rs.evaluate_responses(cur, folder)[0] is None  # the same content never runs twice
    (folder / "101.xlsx").write_bytes(q.listing_xlsx_bytes(listing([("Q101-A", "y", "")])))
    d, cur, _ = rs.evaluate_responses(cur, folder)
    d2, cur, _ = rs.evaluate_responses(cur, folder)
    assert d is None and d2 not in (None, d1)


def test_sensor_definition_requests_a_run(tmp_path: Path):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "101.csv").write_bytes(q.listing_csv_bytes(listing([("Q101-A", "x", "")])))
    sensor = rs.build_responses_sensor(dg.define_asset_job("j", selection=dg.AssetSelection.all()), folder=lambda: folder)
    from pipeline.resources import TransferHistory

    res = {"history": TransferHistory()}  # (the folder given here wins over the resource's)
    first = sensor(dg.build_sensor_context(resources=res))
    assert not first.run_requests
    second = sensor(dg.build_sensor_context(cursor=first.cursor, resources=res))
    assert len(second.run_requests) == 1 and second.run_requests[0].run_key.startswith("responses-")
    assert rs.responses_sensor.name == "returned_site_listings"


# --- the sensor in the definitions, and the asset it runs ---


def _register(ids: list[str]):
    """A stored register of one transfer holding ``ids`` (the listings the sites were sent)."""
    from pipeline.transfers.register import REGISTER_COLS

    return pd.DataFrame([dict.fromkeys(REGISTER_COLS, "") | {"query_id": i, "siteid": "101", "status": "OPEN"} for i in ids])


def test_definitions_run_the_responses_sensor_and_a_dropped_listing_requests_a_run(tmp_path: Path):
    from pipeline.definitions import build_definitions
    from pipeline.resources import TransferHistory

    folder = tmp_path / "responses"
    defs = build_definitions(history_dir=str(tmp_path / "hist"), responses_dir=str(folder))
    sensor = defs.resolve_sensor_def("returned_site_listings")
    assert sensor.job_name == "returned_listings_check"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_job_def("returned_listings_check").asset_layer.executable_asset_keys == {rs.RETURNED_KEY}
    resources = {"history": TransferHistory(history_dir=str(tmp_path / "hist"), responses_dir=str(folder))}

    def tick(cursor: str | None) -> dg.SensorResult:
        got = sensor(dg.build_sensor_context(cursor=cursor, resources=resources))
        assert isinstance(got, dg.SensorResult)
        return got

    empty = tick(None)
    assert empty.skip_reason is not None and "responses folder is empty" in str(empty.skip_reason.skip_message)
    assert not empty.run_requests
    folder.mkdir()
    (folder / "101.xlsx").write_bytes(q.listing_xlsx_bytes(listing([("Q101-A", "corrected to grade 2", "")])))
    first = tick(empty.cursor)
    assert not first.run_requests  # seen once: it may still be copying
    second = tick(first.cursor)
    assert second.run_requests is not None
    assert [str(r.run_key)[:10] for r in second.run_requests] == ["responses-"]
    assert second.run_requests[0].partition_key is None
    assert not tick(second.cursor).run_requests  # the same content never runs twice


def test_returned_listings_asset_names_every_problem_in_the_run(tmp_path: Path):
    from pipeline.report import problems
    from pipeline.resources import TransferHistory
    from pipeline.transfers.assets import register_bytes, returned_listings
    from pipeline.transfers.snapshot import TransferStore

    store = TransferStore(tmp_path / "hist")
    store.store_register("T20260105-0123456789", register_bytes(_register(["Q101-A", "Q101-B"])))
    folder = tmp_path / "responses"
    folder.mkdir()
    # Row 2 answered and CLOSEd, row 3 a decision that is no decision, row 4 a query this study never raised.
    rows = [("Q101-A", "corrected", "close"), ("Q101-B", "", "DELETE"), ("Q999-X", "who?", "")]
    (folder / "101.xlsx").write_bytes(q.listing_xlsx_bytes(listing(rows)))
    (folder / "102.xlsx").write_bytes(b"PK\x03\x04 cut short")
    history = TransferHistory(history_dir=str(store.root), responses_dir=str(folder))
    result = dg.materialize([returned_listings], resources={"history": history}, raise_on_error=False)
    assert result.success
    mat = result.asset_materializations_for_node("transfers__returned_listings")[0].metadata
    got = {k: mat[k].value for k in ("listings", "answers", "site answers", "dm CLOSE", "dm CANCEL", "problems")}
    assert got == {"listings": 2, "answers": 1, "site answers": 1, "dm CLOSE": 1, "dm CANCEL": 0, "problems": 3}
    assert mat["query ids checked against"].value == "the register of T20260105-0123456789"
    (check,) = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed, check.severity) == ("returned_listings_read", False, dg.AssetCheckSeverity.WARN)
    listed = check.metadata["problems"]
    assert isinstance(listed, dg.TableMetadataValue)
    table = [r.data for r in listed.records]
    assert [(r["file"], r["row"], r["field"], r["value"]) for r in table] == [
        ("101.xlsx", "3", "dm_decision", "DELETE"),
        ("101.xlsx", "4", "query_id", "Q999-X"),
        ("102.xlsx", "", "", ""),
    ]
    # The run's summary lists each one (pipeline/report.py), with what to do.
    (p,) = [p for p in problems(result.all_events) if "returned_listings_read" in p.where]
    assert p.what == f"the check failed: 3 problem(s) in the returned listings of {folder}"
    assert p.details[0] == "101.xlsx row 3: dm_decision 'DELETE' is not CANCEL or CLOSE; the decision is ignored"
    assert p.details[1].startswith("101.xlsx row 4: query_id 'Q999-X' is not a query of this study's register")
    assert p.details[2].startswith("102.xlsx: not a readable Excel workbook")
    assert "responses folder" in p.todo


def test_returned_listings_before_any_stored_register_checks_no_ids(tmp_path: Path):
    from pipeline.resources import TransferHistory
    from pipeline.transfers.assets import returned_listings

    history = TransferHistory(history_dir=str(tmp_path / "hist"), responses_dir=str(tmp_path / "none"))
    result = dg.materialize([returned_listings], resources={"history": history})
    mat = result.asset_materializations_for_node("transfers__returned_listings")[0].metadata
    assert (mat["listings"].value, mat["answers"].value, mat["problems"].value) == (0, 0, 0)
    assert mat["query ids checked against"].value == "no stored register yet: query ids not checked"
    assert [c.passed for c in result.get_asset_check_evaluations()] == [True]
