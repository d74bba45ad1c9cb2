"""Query listings: stable ids, redaction, one file per site, reproducible bytes, the asset."""

import io
import zipfile
from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.adam.common import AdamResult
from pipeline.ops import queries as q
from pipeline.ops.assets import KEY, build_query_listing_asset
from pipeline.raw.extract import FormExtract
from pipeline.resources import StudyPaths
from pipeline.sdtm.common import DomainResult

SITES = ["101", "102", "103", "104"]


def quarantine(rows: list[tuple]) -> pd.DataFrame:
    """Quarantine rows from (siteid, subjid, form, file, row, field, value, rule, message) tuples."""
    return pd.DataFrame(rows, columns=q.QUERY_COLS)


def extract(form: str, rows: list[tuple]) -> FormExtract:
    return FormExtract(form, pd.DataFrame(), quarantine(rows), pd.DataFrame(), ())


NIGHT1 = [
    (
        "101",
        "101-001",
        "vs",
        "101/vs.csv",
        5,
        "VSDAT",
        "2019-02-30",
        "DATE_INVALID",
        "Visit date (VSDAT) is not a valid date: no 30 February",
    ),
    ("101", "101-003", "vs", "101/vs.csv", 9, "WEIGHT", "sixty", "NOT_NUMERIC", "Weight (WEIGHT) is not a number"),
    # Two identical problems of one subject (same field, rule and value in two visits).
    ("102", "S102004", "lb", "102/lb.csv", 3, "LBORRES", "pos", "NOT_NUMERIC", "Result (LBORRES) is not a number"),
    ("102", "S102004", "lb", "102/lb.csv", 8, "LBORRES", "pos", "NOT_NUMERIC", "Result (LBORRES) is not a number"),
]


def night2() -> list[tuple]:
    """The sites re-exported: new rows above moved every row number, one problem was fixed, one is new."""
    shifted = [(*r[:4], r[4] + 6, *r[5:]) for r in NIGHT1 if r[1] != "101-003"]
    new = (
        "103",
        "GZ3-12",
        "surg",
        "103/surg.xlsx",
        2,
        "TUMSZ",
        "4,5",
        "NOT_NUMERIC",
        "Largest tumour diameter (TUMSZ) is not a number",
    )
    return [new, *reversed(shifted)]


def listing(rows: list[tuple], sdtm: list[pd.DataFrame] = (), adam: list[pd.DataFrame] = ()) -> pd.DataFrame:
    return q.build_listing([quarantine(rows)], list(sdtm), list(adam))


def test_ids_stable_when_rows_shift():
    one, two = listing(NIGHT1), listing(night2())
    assert list(one.columns) == q.LISTING_COLS
    assert one["query_id"].is_unique and two["query_id"].is_unique
    key = ["siteid", "subjid", "field", "rule"]
    ids1 = one.assign(occ=one.groupby(key).cumcount()).set_index([*key, "occ"])["query_id"]
    ids2 = two.assign(occ=two.groupby(key).cumcount()).set_index([*key, "occ"])["query_id"]
    kept = ids1.index.intersection(ids2.index)
    assert len(kept) == 3
    assert (ids1[kept] == ids2[kept]).all()
    # The fixed problem's id is gone, the new problem has a new id.
    assert set(ids1) - set(ids2) == {ids1[("101", "101-003", "WEIGHT", "NOT_NUMERIC", 0)]}
    assert len(set(ids2) - set(ids1)) == 1
    assert set(two["status"]) == {"OPEN"}
    # The row numbers in the listing are tonight's.
    assert sorted(two.loc[two["siteid"] == "102", "row"].tolist()) == [9, 14]


def test_ids_do_not_depend_on_input_order():
    a = listing(NIGHT1)
    b = listing(list(reversed(NIGHT1)))
    pd.testing.assert_frame_equal(a, b)


def test_identifier_values_redacted_even_if_upstream_forgot():
    leaky = [
        ("101", "101-002", "enrol", "101/enrol.csv", 4, "SUBJINIT", "ZWL", "SCHEMA_str_length", "Initials ZWL too long"),
        ("102", "S102009", "dm", "102/dm.csv", 7, "PTNAME", "张伟", "SCHEMA_x", "Name 张伟 has digits"),
    ]
    sdtm_q = quarantine(
        [
            (
                "104",
                "1040002",
                "dm",
                "104/dm.csv",
                2,
                "BRTHDAT,RFICDAT",
                "1961-07-14,2017-03-02",
                "CONSENT_BEFORE_BIRTH",
                "Consent 2017-03-02 before birth 1961-07-14",
            )
        ]
    )
    adam_i = pd.DataFrame(
        [
            {
                "USUBJID": "NCT02867280-103-GZ3-5",
                "dataset": "ADSL",
                "variable": "BRTHDTC",
                "value": "1955-01-02",
                "rule": "AGE_RANGE",
                "message": "born 1955-01-02: age out of range",
            }
        ]
    )
    out = listing(leaky, [sdtm_q], [adam_i])
    assert (out["value"] == q.REDACTED).all()
    text = out.to_csv()
    for secret in ["ZWL", "张伟", "1961-07-14", "1955-01-02"]:
        assert secret not in text
    files = q.site_files(out, SITES)
    for name, data in files.items():
        blob = (
            data
            if name.endswith(".csv")
            else b"".join(zipfile.ZipFile(io.BytesIO(data)).read(n) for n in zipfile.ZipFile(io.BytesIO(data)).namelist())
        )
        for secret in ["ZWL", "张伟", "1961-07-14", "1955-01-02"]:
            assert secret.encode("utf-8") not in blob, (name, secret)


def test_adam_issue_goes_to_its_site_by_usubjid():
    issues = pd.DataFrame(
        [
            {
                "USUBJID": "NCT02867280-101-101-007",
                "dataset": "ADAE",
                "variable": "ATOXGR",
                "value": "7",
                "rule": "GRADE_RANGE",
                "message": "CTCAE grade is not 1-5",
            },
            {
                "USUBJID": "NCT02867280-103-GZ3-7",
                "dataset": "ADAE",
                "variable": "AEOUT",
                "value": "RECOVERED",
                "rule": "GRADE5_FATAL",
                "message": "Grade 5 and a FATAL outcome must go together",
            },
            {"USUBJID": "garbage", "dataset": "ADAE", "variable": "AEOUT", "value": "X", "rule": "R", "message": "m"},
        ]
    )
    out = listing([], adam=[issues])
    got = out.set_index("rule")[["siteid", "subjid", "form", "field", "file"]]
    assert got.loc["GRADE_RANGE"].tolist() == ["101", "101-007", "ADAE", "ATOXGR", ""]
    assert got.loc["GRADE5_FATAL"].tolist() == ["103", "GZ3-7", "ADAE", "AEOUT", ""]
    assert got.loc["R", "siteid"] == ""
    assert "unassigned.csv" in q.site_files(out, SITES)


def test_one_file_per_site_with_chinese_text_and_bom():
    rows = [
        *NIGHT1,
        ("102", "S102005", "ae", "102/ae.csv", 4, "AETERM", "肝功能异常?", "CODE_UNKNOWN", "不良事件术语不在字典中"),
        ("104", "1040001", "ae", "104/ae.csv", 2, "AETERM", '=HYPERLINK("x")', "CODE_UNKNOWN", "term unknown"),
    ]
    files = q.site_files(listing(rows), SITES)
    assert sorted(files) == [f"{s}.{e}" for s in SITES for e in ("csv", "xlsx")]
    csv102 = files["102.csv"]
    assert csv102.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(csv102), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(back.columns) == q.LISTING_COLS
    assert set(back["siteid"]) == {"102"} and len(back) == 3
    assert "肝功能异常?" in set(back["value"])
    # Site 103 has nothing open: an empty listing (header only) replaces last night's.
    assert pd.read_csv(io.BytesIO(files["103.csv"]), encoding="utf-8-sig").empty
    # A formula-looking value stays text in both formats.
    assert "'=HYPERLINK" in files["104.csv"].decode("utf-8-sig")
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(files["104.xlsx"]))["queries"]
    cells = [[c.value for c in r] for r in ws.iter_rows()]
    assert cells[0] == q.LISTING_COLS
    assert cells[1][q.LISTING_COLS.index("value")] == '=HYPERLINK("x")'
    assert ws.cell(row=2, column=q.LISTING_COLS.index("value") + 1).data_type == "s"


def test_bytes_deterministic():
    a = q.site_files(listing(NIGHT1), SITES)
    b = q.site_files(listing(list(reversed(NIGHT1))), SITES)
    assert a == b
    z = zipfile.ZipFile(io.BytesIO(a["101.xlsx"]))
    assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    core = z.read("docProps/core.xml").decode()
    assert core.count("2000-01-01T00:00:00Z") == 2


def test_subjects_in_natural_order():
    rows = [("103", f"GZ3-{n}", "surg", "103/surg.xlsx", n, "TUMSZ", "x", "NOT_NUMERIC", "m") for n in (10, 2, 1)]
    assert listing(rows)["subjid"].tolist() == ["GZ3-1", "GZ3-2", "GZ3-10"]


def test_counts_table():
    t = q.counts_table(listing(NIGHT1), SITES).set_index("rule")
    assert t.loc["NOT_NUMERIC", "102"] == 2 and t.loc["NOT_NUMERIC", "total"] == 3
    assert t.loc["total", "total"] == 4 and t.loc["total", "104"] == 0


# --- the asset ----------------------------------------------------------------------------


def _stub(key: list[str], value: object) -> dg.AssetsDefinition:
    @dg.asset(key=key)
    def _a():
        return value

    return _a


def _materialize(tmp_path: Path, rows: list[tuple]) -> dg.ExecuteInProcessResult:
    sdtm = DomainResult(
        "DM",
        pd.DataFrame(),
        pd.DataFrame(),
        quarantine([("101", "101-001", "dm", "101/dm.csv", 2, "SEX", "X", "CT_UNMAPPED", "Sex X not in codelist")]),
    )
    adam = AdamResult("ADAE", pd.DataFrame(), pd.DataFrame(columns=q.ADAM_ISSUE_COLS))
    stubs = [_stub(["raw", "vs"], extract("vs", rows)), _stub(["sdtm", "dm"], sdtm), _stub(["adam", "adae"], adam)]
    listing_asset = build_query_listing_asset([["raw", "vs"]], [dg.AssetKey(["sdtm", "dm"])], [["adam", "adae"]])
    return dg.materialize(
        [*stubs, listing_asset],
        resources={
            "paths": StudyPaths(raw_dir=str(tmp_path / "raw"), out_dir=str(tmp_path / "out")),
            "io_manager": dg.mem_io_manager,
        },
    )


def test_asset_writes_per_site_listings(tmp_path):
    stale = tmp_path / "out" / "queries" / "999.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    res = _materialize(tmp_path, NIGHT1)
    assert res.success
    folder = tmp_path / "out" / "queries"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{s}.{e}" for s in SITES for e in ("csv", "xlsx"))
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    mat = next(m for m in res.get_asset_materialization_events() if m.asset_key == KEY).materialization
    assert mat.metadata["dagster/row_count"].value == 5
    assert mat.metadata["queries by site"].value == {"101": 3, "102": 2, "103": 0, "104": 0}
    assert "NOT_NUMERIC" in mat.metadata["counts by rule and site"].value
    # A second night with shifted rows (the files show tonight's row numbers): same ids.
    _materialize(tmp_path, night2())
    ids1 = set(pd.read_csv(io.BytesIO(first["102.csv"]), encoding="utf-8-sig")["query_id"])
    ids2 = set(pd.read_csv(folder / "102.csv", encoding="utf-8-sig")["query_id"])
    assert ids1 == ids2
    # The same night twice: identical bytes.
    _materialize(tmp_path, NIGHT1)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first


def test_asset_graph_shape():
    a = build_query_listing_asset([["raw", "vs"], ["raw", "dm"]], [["sdtm", "dm"]], [])
    assert a.key == KEY and a.group_names_by_key[KEY] == "ops"
    assert a.dependency_keys == {dg.AssetKey(["raw", "vs"]), dg.AssetKey(["raw", "dm"]), dg.AssetKey(["sdtm", "dm"])}
