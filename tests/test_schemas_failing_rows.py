"""A failed schema check lists failing values by subject, --SEQ, raw file and row, variable, value and rule."""

import dagster as dg
import pandas as pd

from pipeline.schemas import failing_rows, failing_rows_table, rule_text, validate_frame
from pipeline.specs.datasets import load_dataset_spec
from tests.test_schemas import STUDY, ae_frame


def _ae_with_problems() -> tuple[pd.DataFrame, pd.DataFrame]:
    base = ae_frame().iloc[0].to_dict()
    rows = [
        dict(base, USUBJID=f"{STUDY}-101-101-010", AESEQ=10.0, AETOXGR="6"),
        dict(base, USUBJID=f"{STUDY}-101-101-002", AESEQ=9.0, AETOXGR="7"),
        dict(base, USUBJID=f"{STUDY}-101-101-002", AESEQ=2.0, AETOXGR="1", AESTDTC="2017-02-30"),
    ]
    data = pd.DataFrame(rows, columns=ae_frame().columns)
    lineage = pd.DataFrame(
        {
            "DOMAIN": "AE",
            "USUBJID": [f"{STUDY}-101-101-010", f"{STUDY}-101-101-002", f"{STUDY}-101-101-002"],
            "RECORD": [10.0, 9.0, 2.0],
            "RAWFILE": ["101/ae.csv"] * 3,
            "RAWROW": [31, 14, 7],
        }
    )
    return data, lineage


def test_failing_rows_by_subject_seq_and_raw_row():
    spec = load_dataset_spec("sdtm", "ae")
    data, lineage = _ae_with_problems()
    ok, failures = validate_frame(data, spec)
    assert not ok
    rows = failing_rows(data, failures, spec, lineage)
    assert list(rows.columns) == ["USUBJID", "AESEQ", "raw file", "raw row", "variable", "value", "rule"]
    got = [tuple(r) for r in rows[["USUBJID", "AESEQ", "raw row", "variable", "value"]].itertuples(index=False)]
    # Subjects in natural order, --SEQ as a number (2 before 9 before 10, not "10" < "2").
    assert got == [
        (f"{STUDY}-101-101-002", 2, "7", "AESTDTC", "2017-02-30"),
        (f"{STUDY}-101-101-002", 9, "14", "AETOXGR", "7"),
        (f"{STUDY}-101-101-010", 10, "31", "AETOXGR", "6"),
    ]
    assert set(rows["raw file"]) == {"101/ae.csv"}
    grade = rows.loc[rows["variable"].eq("AETOXGR"), "rule"].iloc[0]
    assert grade == "must be a term of codelist AETOXGR: 1, 2, 3, 4, 5"
    assert rows.loc[rows["variable"].eq("AESTDTC"), "rule"].iloc[0].startswith("must be an ISO 8601 date")


def test_failing_rows_without_lineage_and_dataset_level_first():
    spec = load_dataset_spec("sdtm", "ae")
    data, _ = _ae_with_problems()
    _ok, failures = validate_frame(data.drop(columns=["AEOUT"]), spec)
    rows = failing_rows(data.drop(columns=["AEOUT"]), failures, spec, None)
    assert rows.iloc[0]["AESEQ"] is None and rows.iloc[0]["rule"] == "a variable of the spec is missing from the dataset"
    assert rows.iloc[0]["variable"] == "AEOUT"
    assert rows["raw file"].isna().all()


def test_failing_rows_table_is_inline_table_metadata():
    spec = load_dataset_spec("sdtm", "ae")
    data, lineage = _ae_with_problems()
    _, failures = validate_frame(data, spec)
    table = failing_rows_table(failing_rows(data, failures, spec, lineage))
    assert isinstance(table, dg.TableMetadataValue)
    assert [c.name for c in table.schema.columns] == ["USUBJID", "AESEQ", "raw file", "raw row", "variable", "value", "rule"]
    assert table.records[0].data["AESEQ"] == "2" and table.records[0].data["raw row"] == "7"


def test_rule_text_plain_words():
    assert rule_text("not_nullable") == "required (core Req): must have a value"
    assert rule_text("max 8 bytes") == "at most 8 bytes in UTF-8 (a Chinese character counts 3)"
    assert rule_text("USUBJID starts with STUDYID-") == "USUBJID starts with STUDYID-"
