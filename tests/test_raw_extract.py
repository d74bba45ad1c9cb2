"""Per-form extract on the hand-written four-site export: data, quarantine, counts, warnings.

The expected outcomes below were worked out by hand from tests/fixtures/raw/export and
the site 103 workbooks in tests/conftest.py (see tests/fixtures/raw/README.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from listed import listed, rows

from pipeline.raw import extract as extract_module
from pipeline.raw.extract import COUNT_COLS, QUARANTINE_COLS, REDACTED, FormExtract, extract_form
from pipeline.raw.reader import RawFileError
from pipeline.raw.schema import after_cutoff, form_schema, form_schemas, out_of_range, required_if_missing
from pipeline.specs.raw import load_raw_spec

SPEC = load_raw_spec()
FORMS_IN_FIXTURE = ["enrol", "ae", "dm", "lb"]
Q = ["siteid", "subjid", "file", "row", "field", "value", "rule"]


@pytest.fixture(scope="module")
def extracts(raw_export: Path) -> dict[str, FormExtract]:
    return {form: extract_form(raw_export, form) for form in SPEC.forms}


def frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def counts(rows: list[tuple]) -> pd.DataFrame:
    return frame(rows, COUNT_COLS).astype(dict.fromkeys(COUNT_COLS[1:], "int64"))


# --- enrol ------------------------------------------------------------------------------------


def test_enrol_data(extracts: dict[str, FormExtract]) -> None:
    expected = frame(
        [
            ("101", "101-001", "ZWL", "2019-03-05", "2019-03-12", "SORAFENIB", "Y", "101", "101/enrol.csv", 2),
            (
                "101",
                "101-002",
                "LXM",
                "2019-04-02",
                "2019-04-09",
                "CONTROL",
                "Y",
                "101",
                "101/enrol.csv",
                3,
            ),  # full-width date, 对照组, 是
            (
                "102",
                "S102001",
                "王五",
                "2019-03-05",
                "2019-03-12",
                "SORAFENIB",
                "Y",
                "102",
                "102/enrol.csv",
                2,
            ),  # GBK, dd/mm/yyyy
            (
                "102",
                "S102003",
                "赵六",
                "2019-06",
                "2019-06-10",
                "CONTROL",
                "Y",
                "102",
                "102/enrol.csv",
                4,
            ),  # UN/06/2019 kept partial
            (
                "103",
                "GZ3-7",
                "ABC",
                "2019-03-05",
                "2019-03-12",
                "SORAFENIB",
                "Y",
                "103",
                "103/enrol.xlsx",
                2,
            ),  # Excel date cell, 2019年3月12日
            ("103", "GZ3-12", "DEF", "2019-04", "2019-04-20", "CONTROL", "Y", "103", "103/enrol.xlsx", 3),  # 2019年4月
            ("104", "1040001", "MLH", "2019-03-05", "2019-03-12", "SORAFENIB", "Y", "104", "104/enrol.csv", 2),  # 05-MAR-2019
            ("104", "1040002", "QQ", "2019-03", "2019", "CONTROL", "N", "104", "104/enrol.csv", 3),  # UN-MAR-2019, UNK-UNK-2019
        ],
        [*SPEC.forms["enrol"].field_names, "_site", "_file", "_row"],
    )
    pd.testing.assert_frame_equal(extracts["enrol"].data, expected)


def test_enrol_quarantine(extracts: dict[str, FormExtract]) -> None:
    expected = frame(
        [
            ("101", "101-003", "101/enrol.csv", 4, "RFICDAT", "2020-02-30", "DATE_INVALID"),
            ("101", "101-4", "101/enrol.csv", 5, "SUBJID", "101-4", "SUBJID_FORMAT"),
            ("102", "S102002", "102/enrol.csv", 3, "RFICDAT", "31/04/2019", "DATE_INVALID"),
            ("103", "GZ3-15", "103/enrol.xlsx", 4, "SITEID", "101", "SITE_MISMATCH"),
            ("104", "1040003", "104/enrol.csv", 4, "TRTGRP", "Maybe", "CODE_UNKNOWN"),
        ],
        Q,
    )
    q = extracts["enrol"].quarantine
    pd.testing.assert_frame_equal(q[Q], expected)
    assert list(q.columns) == QUARANTINE_COLS and (q["form"] == "enrol").all()
    assert q["message"].tolist() == [
        "Date of informed consent (RFICDAT) is not a valid date: day does not exist in that month",
        r"Subject identifier (SUBJID) does not follow the numbering agreed for site 101 (pattern ^101-\d{3,}$)",
        "Date of informed consent (RFICDAT) is not a valid date: day does not exist in that month",
        "Site identifier (SITEID) differs from the site whose folder the file came in (site 103)",
        "Treatment group chosen (TRTGRP): the term is not one of the agreed values of codelist TRTGRP (specs/raw/codelists.csv)",
    ]


def test_enrol_counts_and_warnings(extracts: dict[str, FormExtract]) -> None:
    pd.testing.assert_frame_equal(
        extracts["enrol"].counts, counts([("101", 4, 0, 2, 2), ("102", 3, 0, 1, 2), ("103", 3, 0, 1, 2), ("104", 3, 0, 1, 2)])
    )
    assert extracts["enrol"].warnings == ("104/enrol.csv: column(s) COMMENT are not in the dictionary for form 'enrol'; ignored",)


# --- ae -----------------------------------------------------------------------------------------


def test_ae_data(extracts: dict[str, FormExtract]) -> None:
    d = extracts["ae"].data
    assert d[["_site", "_row"]].apply(tuple, axis=1).tolist() == [
        ("101", 2),
        ("101", 3),
        ("102", 2),
        ("102", 3),
        ("103", 2),
        ("103", 3),
        ("104", 2),
    ]
    assert d["AETOXGR"].tolist() == ["3", "3", "3", "2", "3", "3", "3"]  # 3, III, 3级, 2级, Gr3, III, G3
    assert d["AETERM"].tolist() == ["Hand-foot skin reaction", "腹泻", "皮疹", "乏力", "高血压", "Rash", "Hand foot syndrome"]
    assert d["AESTDAT"].tolist() == ["2019-04-01", "2019-04", "2019-04-01", "2019-04-15", "2019-04-02", "2019-04", "2019-04-05"]
    assert listed(d["AEENDAT"]) == ["2019-04-20", None, "2019-05", None, "2019-04-30", None, "2019-05"]
    assert d["AEONGO"].tolist() == ["N", "Y", "N", "Y", "N", "Y", "N"]
    assert d["AESER"].tolist() == ["N"] * 7
    assert d["AEREL"].tolist() == [
        "RELATED",
        "POSSIBLY RELATED",
        "RELATED",
        "UNLIKELY RELATED",
        "POSSIBLY RELATED",
        "RELATED",
        "RELATED",
    ]
    assert d["AEACN"].tolist() == [
        "DOSE REDUCED",
        "DOSE NOT CHANGED",
        "DRUG INTERRUPTED",
        "DOSE NOT CHANGED",
        "DOSE REDUCED",
        "DOSE NOT CHANGED",
        "DOSE REDUCED",
    ]
    assert d["AEOUT"].tolist() == [
        "RECOVERED/RESOLVED",
        "RECOVERING/RESOLVING",
        "RECOVERED/RESOLVED",
        "NOT RECOVERED/NOT RESOLVED",
        "RECOVERED/RESOLVED",
        "RECOVERING/RESOLVING",
        "RECOVERED/RESOLVED",
    ]
    assert d["AESPID"].dtype == "Int64" and d["AESPID"].tolist() == [1, 2, 1, 2, 1, 1, 1]


def test_ae_quarantine(extracts: dict[str, FormExtract]) -> None:
    expected = frame(
        [
            ("101", "101-002", "101/ae.csv", 5, "SUBJID,AESPID", "101-002,1", "DUPLICATE_KEY"),
            ("101", "101-002", "101/ae.csv", 6, "SUBJID,AESPID", "101-002,1", "DUPLICATE_KEY"),
            ("101", "101-002", "101/ae.csv", 7, "AETOXGR", "Gr7", "CODE_UNKNOWN"),
            ("102", "S102003", "102/ae.csv", 4, "AESTDAT", "04/13/2019", "DATE_INVALID"),  # month 13 at a DMY site: not swapped
            ("103", "GZ3-0012", "103/ae.xlsx", 4, "SUBJID", "GZ3-0012", "SUBJID_FORMAT"),
            ("103", "GZ3-0012", "103/ae.xlsx", 4, "AESPID", "2.5", "NOT_INTEGER"),
            ("104", "1040002", "104/ae.csv", 3, "AETERM", "", "REQUIRED_MISSING"),
            ("104", "1040002", "104/ae.csv", 4, "AESTDAT", "31-APR-2019", "DATE_INVALID"),
        ],
        Q,
    )
    q = extracts["ae"].quarantine
    pd.testing.assert_frame_equal(q[Q], expected)
    dup = q.loc[q["rule"] == "DUPLICATE_KEY", "message"]
    assert (
        dup
        == "Records with the same SUBJID, AESPID but different values (rows 5, 6 of 101/ae.csv); the site must say which is right. All are held back"
    ).all()
    assert q.loc[q["rule"] == "DATE_INVALID", "message"].tolist() == [
        "Start date (AESTDAT) is not a valid date: month is not between 1 and 12",
        "Start date (AESTDAT) is not a valid date: day does not exist in that month",
    ]
    assert q.loc[q["rule"] == "NOT_INTEGER", "message"].item() == "AE number on the CRF (AESPID) should be a whole number"
    assert (
        q.loc[q["rule"] == "REQUIRED_MISSING", "message"].item() == "Adverse event (verbatim) (AETERM) is required but is blank"
    )


def test_ae_counts_exact_duplicate_and_warnings(extracts: dict[str, FormExtract]) -> None:
    # 101: row 4 repeats row 3 (a re-export): counted once as a duplicate, row 3 passes.
    pd.testing.assert_frame_equal(
        extracts["ae"].counts, counts([("101", 6, 1, 3, 2), ("102", 3, 0, 1, 2), ("103", 3, 0, 1, 2), ("104", 3, 0, 2, 1)])
    )
    # The fixture predates the seriousness criteria: optional columns, read as blank with a warning.
    crit = "AESDTH, AESLIFE, AESHOSP, AESDISAB, AESCONG, AESMIE"
    assert extracts["ae"].warnings == tuple(
        f"{f}: optional column(s) {crit} missing from the file; read as blank"
        for f in ("101/ae.csv", "102/ae.csv", "103/ae.xlsx", "104/ae.csv")
    )


# --- dm (identifiers) and lb (units, numbers) -----------------------------------------------------


def test_dm(extracts: dict[str, FormExtract]) -> None:
    x = extracts["dm"]
    assert rows(x.data[["SUBJID", "BRTHDAT", "SEX", "ETHNIC", "RACE"]]) == [
        ["101-001", "1962-07-14", "M", "NOT HISPANIC OR LATINO", "ASIAN"],
        ["S102001", "1962-07-14", "M", "NOT HISPANIC OR LATINO", "ASIAN"],
        ["GZ3-7", "1965-02-03", "M", None, "ASIAN"],
    ]
    expected = frame(
        [
            ("101", "101-002", "101/dm.csv", 3, "BRTHDAT", REDACTED, "DATE_INVALID"),
            ("101", "101-003", "101/dm.csv", 4, "SEX", "X", "CODE_UNKNOWN"),
            ("102", "S102003", "102/dm.csv", 3, "BRTHDAT", REDACTED, "REQUIRED_MISSING"),
            ("103", "GZ3-12", "103/dm.xlsx", 3, "BRTHDAT", REDACTED, "DATE_INVALID"),
        ],
        Q,
    )
    pd.testing.assert_frame_equal(x.quarantine[Q], expected)
    pd.testing.assert_frame_equal(
        x.counts, counts([("101", 3, 0, 2, 1), ("102", 2, 0, 1, 1), ("103", 2, 0, 1, 1), ("104", 0, 0, 0, 0)])
    )
    assert x.warnings == ("104/dm.csv: site 104 has sent no 'dm' file; no records read",)


def test_lb_units_and_numbers(extracts: dict[str, FormExtract]) -> None:
    x = extracts["lb"]
    assert x.data[["SUBJID", "LBTESTCD", "LBORRES", "LBORRESU"]].values.tolist() == [
        ["101-001", "CREAT", 68.0, "umol/L"],  # µmol/L (micro sign)
        ["101-001", "ALT", 35.5, "U/L"],  # ＡＬＴ
        ["S102001", "CREAT", 72.0, "umol/L"],  # 肌酐, μmol/L (Greek mu)
        ["S102001", "PLT", 156.0, "10^9/L"],  # 血小板, １５６, ×10^9/L
        ["1040001", "CREAT", 80.0, "umol/L"],
        ["1040001", "BILI", 12.3, "umol/L"],  # TBIL, umol/l
        ["1040001", "HGB", 135.0, "g/L"],
    ]
    assert x.data["LBORRES"].dtype == "float64"
    expected = frame(
        [
            ("101", "101-001", "101/lb.csv", 4, "LBORRES", "<5", "NOT_NUMERIC"),
            ("104", "1040002", "104/lb.csv", 5, "LBORRESU", "G/l", "CODE_UNKNOWN"),  # G/L (10^9/L) or g/L? not guessed
        ],
        Q,
    )
    pd.testing.assert_frame_equal(x.quarantine[Q], expected)
    assert x.quarantine["message"].tolist() == [
        "Result (LBORRES) should be a number",
        "Unit (LBORRESU): the term matches more than one agreed value of codelist UNIT when letter case is ignored; write it exactly",
    ]
    pd.testing.assert_frame_equal(
        x.counts, counts([("101", 3, 0, 1, 2), ("102", 2, 0, 0, 2), ("103", 0, 0, 0, 0), ("104", 4, 0, 1, 3)])
    )


# --- invariants over every form ---------------------------------------------------------------------


@pytest.mark.parametrize("form", sorted(SPEC.forms))
def test_records_are_accounted_for(extracts: dict[str, FormExtract], form: str) -> None:
    x = extracts[form]
    c = x.counts
    assert c["siteid"].tolist() == sorted(SPEC.sites)
    assert (c["rows_read"] == c["passed"] + c["quarantined"] + c["exact_duplicates"]).all()
    assert c["passed"].sum() == len(x.data)
    held = x.quarantine.drop_duplicates(["file", "row"])["siteid"].value_counts()
    assert held.reindex(c["siteid"], fill_value=0).tolist() == c["quarantined"].tolist()


@pytest.mark.parametrize("form", sorted(SPEC.forms))
def test_data_passes_its_schema_and_is_sorted(extracts: dict[str, FormExtract], form: str) -> None:
    x = extracts[form]
    form_schema(SPEC.forms[form]).validate(x.data)
    assert list(x.data.columns) == [*SPEC.forms[form].field_names, "_site", "_file", "_row"]
    assert x.data.index.equals(pd.RangeIndex(len(x.data)))
    assert x.data[["_site", "_row"]].apply(tuple, axis=1).is_monotonic_increasing
    # A quarantined record is never in data.
    passed = set(zip(x.data["_file"], x.data["_row"]))
    assert not passed & set(zip(x.quarantine["file"], x.quarantine["row"]))


def test_forms_no_site_sent_are_empty_but_typed(extracts: dict[str, FormExtract]) -> None:
    x = extracts["surg"]
    assert x.data.empty and x.quarantine.empty
    assert x.data["TUMNUM"].dtype == "Int64" and x.data["AFP"].dtype == "float64" and x.data["_row"].dtype == "int64"
    assert len(x.warnings) == 4 and all("has sent no 'surg' file" in w for w in x.warnings)


def test_identifiers_never_reach_the_quarantine(raw_export: Path, extracts: dict[str, FormExtract]) -> None:
    """Query listings go back to sites: no name, initials or birth date in any cell."""
    from pipeline.raw.reader import read_form_file

    secrets = set()
    for form in FORMS_IN_FIXTURE:
        ids = [f.name for f in SPEC.forms[form].fields if f.identifier]
        for siteid, site in SPEC.sites.items():
            path = raw_export / siteid / f"{form}.{site.file_format}"
            if path.exists() and ids:
                df = read_form_file(path, site, SPEC.forms[form])
                secrets |= {v.strip() for v in df[ids].to_numpy().ravel() if v.strip()}
    assert {"Li Xiaoming", "1958-13-02", "周八", "1960年2月30日", "ZZ", "CHY"} <= secrets
    for x in extracts.values():
        text = " ".join(x.quarantine.astype(str).to_numpy().ravel())
        leaked = {s for s in secrets if s in text.split(" ") or (len(s) > 3 and s in text)}
        assert not leaked, leaked
    assert (extracts["dm"].quarantine.query("field == 'BRTHDAT'")["value"] == REDACTED).all()


def test_extract_is_deterministic(raw_export: Path, extracts: dict[str, FormExtract]) -> None:
    again = extract_form(raw_export, "ae")
    pd.testing.assert_frame_equal(again.data, extracts["ae"].data)
    pd.testing.assert_frame_equal(again.quarantine, extracts["ae"].quarantine)


def test_whitespace_only_difference_is_an_exact_duplicate(raw_copy: Path) -> None:
    f = raw_copy / "104" / "lb.csv"
    f.write_bytes(f.read_bytes() + b"104,1040001, 01-MAR-2019 ,CREAT,80,umol/L \r\n")
    x = extract_form(raw_copy, "lb")
    assert x.counts.set_index("siteid").loc["104"].tolist() == [5, 1, 1, 3]


def test_same_record_written_two_ways_is_a_conflict_not_a_duplicate(raw_copy: Path) -> None:
    # Same keys, same meaning, different spelling: the site is asked rather than one kept silently.
    f = raw_copy / "101" / "lb.csv"
    f.write_text(f.read_text(encoding="utf-8") + "101,101-001,2019-03-01,肌酐,68,umol/L\n", encoding="utf-8")
    q = extract_form(raw_copy, "lb").quarantine
    assert q.loc[q["rule"] == "DUPLICATE_KEY", "row"].tolist() == [2, 5]


def test_missing_optional_column_is_a_warning(raw_copy: Path) -> None:
    f = raw_copy / "101" / "dm.csv"
    lines = f.read_text(encoding="utf-8").splitlines()
    f.write_text(
        "\n".join(line.rsplit(",", 2)[0] + "," + line.rsplit(",", 1)[1] for line in lines) + "\n", encoding="utf-8"
    )  # drop ETHNIC
    x = extract_form(raw_copy, "dm")
    assert "101/dm.csv: optional column(s) ETHNIC missing from the file; read as blank" in x.warnings
    assert x.data.loc[x.data["_site"] == "101", "ETHNIC"].isna().all()


def test_schema_failures_that_slip_past_conversion_are_quarantined(raw_export: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The schema is the last gate: a record it rejects is quarantined, not dropped or passed."""

    def stricter(form, spec=None):
        schema = form_schema(form, spec)
        return schema.update_column("LBORRES", checks=[pa.Check.lt(100, name="below_100")])

    monkeypatch.setattr(extract_module, "form_schema", stricter)
    x = extract_form(raw_export, "lb")
    gate = x.quarantine[x.quarantine["rule"] == "SCHEMA_BELOW_100"]
    assert gate[["file", "row", "field", "value"]].values.tolist() == [
        ["102/lb.csv", 3, "LBORRES", "１５６"],
        ["104/lb.csv", 4, "LBORRES", "135"],
    ]
    assert gate["message"].tolist() == ["Failed the check below_100 on LBORRES"] * 2
    assert (x.data["LBORRES"] < 100).all()
    c = x.counts
    assert (c["rows_read"] == c["passed"] + c["quarantined"] + c["exact_duplicates"]).all()


def test_schemas_cover_every_form() -> None:
    schemas = form_schemas()
    assert set(schemas) == set(SPEC.forms)
    ae = schemas["ae"]
    assert ae.columns["AETOXGR"].nullable is False and ae.columns["AEENDAT"].nullable is True
    assert str(ae.columns["AESPID"].dtype) == "Int64"
    assert {"_site", "_file", "_row"} <= set(ae.columns)


def _ds_frame(**columns: list) -> pd.DataFrame:
    """Two valid site-101 DS records as extract gives them; ``columns`` replaces whole columns."""
    good = {
        "SITEID": ["101", "101"],
        "SUBJID": ["101-001", "101-002"],
        "DSCAT": ["END OF TREATMENT", "END OF STUDY"],
        "DSSTDAT": ["2019-03-05", "2019-04-05"],
        "DSDECOD": ["COMPLETED", "COMPLETED"],
        "_site": ["101", "101"],
        "_file": ["101/ds.csv", "101/ds.csv"],
        "_row": np.array([2, 3], dtype="int64"),
    }
    return pd.DataFrame({**good, **columns})


def _failures(frame: pd.DataFrame) -> pd.DataFrame:
    with pytest.raises(pa.errors.SchemaErrors) as err:
        form_schemas()["ds"].validate(frame, lazy=True)
    return err.value.failure_cases


def test_schema_accepts_the_valid_frame() -> None:
    form_schemas()["ds"].validate(_ds_frame(), lazy=True)


def test_schema_rejects_what_the_contract_forbids() -> None:
    fc = _failures(
        _ds_frame(
            SITEID=["101", "102"],
            SUBJID=["101-001", None],
            DSCAT=["END OF TREATMENT", "End of study"],
            DSSTDAT=["2019-03-05", "05/03/2019"],
        )
    )
    assert set(fc["index"]) == {1}
    checks = " ".join(fc["check"].astype(str))
    for what in ["not_nullable", "iso8601_date", "isin(['END OF TREATMENT'", "siteid_matches_folder"]:
        assert what in checks


def test_schema_rejects_a_value_that_is_not_text() -> None:
    # The reader hands over str only; a frame built elsewhere (a number in a date field) fails on its row.
    fc = _failures(_ds_frame(DSSTDAT=["2019-03-05", 43529]))
    hit = fc[fc["check"].astype(str) == "str_values"]
    assert hit[["column", "index", "failure_case"]].values.tolist() == [["DSSTDAT", 1, 43529]]


def test_a_raw_folder_with_only_some_sites_fails_the_drop(tmp_path: Path, raw_export: Path) -> None:
    shutil.copytree(raw_export / "102", tmp_path / "raw" / "102")
    with pytest.raises(RawFileError) as err:
        extract_form(tmp_path / "raw", "ae")
    assert str(err.value) == (
        "101/, 103/, 104/: site(s) 101, 103, 104 of specs/raw/sites.yaml sent nothing in this drop; a drop holds every "
        "site's export, so nothing is built from it (drop.partial_drops in specs/raw/sites.yaml accepts a partial drop)"
    )


def test_a_partial_drop_when_allowed_is_a_site_missing_query(
    tmp_path: Path, raw_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from pipeline.raw import extract, limits, reader

    allowed = dataclasses.replace(limits.load_limits(), partial_drops=True)
    monkeypatch.setattr(extract, "load_limits", lambda: allowed)
    shutil.copytree(raw_export / "102", tmp_path / "raw" / "102")
    (tmp_path / "raw" / "104").mkdir()  # a folder with no file is a site that sent nothing
    x = extract_form(tmp_path / "raw", "ae")
    assert x.counts["rows_read"].tolist() == [0, 3, 0, 0]
    assert len(x.data) == 2
    sites_missing = x.drops[x.drops["rule"].eq("SITE_MISSING")]
    assert sites_missing[["siteid", "form", "file", "rule", "message"]].values.tolist() == [
        [
            s,
            "ae",
            f"{s}/",
            "SITE_MISSING",
            f"Site {s} sent nothing in this drop (drop.partial_drops allows it); none of its records are in this build",
        ]
        for s in ("101", "103", "104")
    ]
    assert reader.scan_raw_root(tmp_path / "raw", SPEC, allowed) == ["101", "103", "104"]


# --- value rules from the dictionary (min, max, required_if) and the data cut-off ----------------------------

SURG_HEADER = (
    "SITEID,SUBJID,PRSTDAT,PRTRT,RESECT,MVI,TUMSZ,TUMNUM,EDMGRD,BCLC,TNMT,TNMN,TNMM,CIRRH,HBSAG,ANTIHCV,AFP,AFPU,CHILDPGH,ECOG"
)
SURG_OK = "2019-03-01,ANATOMICAL HEPATECTOMY,R0,Y,3.5,1,II,A,T2,N0,M0,N,POSITIVE,NEGATIVE,12.5,ng/mL"


def test_value_rules_are_read_from_the_dictionary() -> None:
    surg = SPEC.forms["surg"]
    assert (surg.field("CHILDPGH").min, surg.field("CHILDPGH").max) == (5, 15)
    assert (surg.field("ECOG").min, surg.field("ECOG").max) == (0, 4)
    assert (surg.field("TUMNUM").min, surg.field("TUMSZ").min, surg.field("TUMSZ").max) == (1, 0, None)
    assert SPEC.forms["ex"].field("EXDOSE").min == 0 and SPEC.forms["lb"].field("LBORRES").min == 0
    assert str(SPEC.forms["ae"].field("AEENDAT").required_if) == "AEONGO=N"
    assert SPEC.forms["ae"].field("AESTDAT").required_if is None and SPEC.forms["ae"].field("AETERM").min is None


def test_out_of_range_numbers_are_quarantined(raw_copy: Path) -> None:
    (raw_copy / "101" / "surg.csv").write_text(
        "\n".join(
            [
                SURG_HEADER,
                f"101,101-001,{SURG_OK},5,0",  # the bounds themselves pass
                f"101,101-002,{SURG_OK},16,4",  # Child-Pugh above 15
                f"101,101-003,{SURG_OK},15,-1",  # ECOG below 0
                f"101,101-004,{SURG_OK.replace(',3.5,1,', ',-2.5,0,')},15,4",  # negative size, no tumour
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    x = extract_form(raw_copy, "surg")
    assert x.data["SUBJID"].tolist() == ["101-001"]
    assert x.quarantine[["row", "field", "value", "rule"]].values.tolist() == [
        [3, "CHILDPGH", "16", "OUT_OF_RANGE"],
        [4, "ECOG", "-1", "OUT_OF_RANGE"],
        [5, "TUMSZ", "-2.5", "OUT_OF_RANGE"],
        [5, "TUMNUM", "0", "OUT_OF_RANGE"],
    ]
    assert x.quarantine["message"].tolist() == [
        "Child-Pugh score (CHILDPGH) should be from 5 to 15 (specs/raw/dictionary.csv)",
        "ECOG performance status (ECOG) should be from 0 to 4 (specs/raw/dictionary.csv)",
        "Largest tumour diameter (TUMSZ) should be 0 cm or more (specs/raw/dictionary.csv)",
        "Number of tumours (TUMNUM) should be 1 or more (specs/raw/dictionary.csv)",
    ]
    assert x.counts.set_index("siteid").loc["101"].tolist() == [4, 0, 3, 1]


def test_negative_lab_result_is_out_of_range(raw_copy: Path) -> None:
    f = raw_copy / "104" / "lb.csv"
    f.write_bytes(f.read_bytes() + b"104,1040003,01-MAR-2019,CREAT,-68,umol/L\r\n")
    q = extract_form(raw_copy, "lb").quarantine
    assert q.loc[q["rule"] == "OUT_OF_RANGE", ["file", "row", "field", "value", "message"]].values.tolist() == [
        ["104/lb.csv", 6, "LBORRES", "-68", "Result (LBORRES) should be 0 or more (specs/raw/dictionary.csv)"]
    ]


def test_dates_after_the_cutoff_are_quarantined(raw_copy: Path) -> None:
    f = raw_copy / "101" / "ae.csv"
    f.write_text(
        f.read_text(encoding="utf-8")
        + "101,101-003,1,Rash,2022-12,,Y,1,N,Related,None,Ongoing\n"  # partial, December 2022: may be on or before the cut-off
        + "101,101-003,2,Rash,2023-01,,Y,1,N,Related,None,Ongoing\n"  # partial, certainly after
        + "101,101-003,3,Rash,2022-12-31,2023,N,1,N,Related,None,Recovered\n",  # the cut-off day passes; the end year does not
        encoding="utf-8",
    )
    q = extract_form(raw_copy, "ae").quarantine
    future = q[q["rule"] == "DATE_IN_FUTURE"]
    assert future[["row", "field", "value"]].values.tolist() == [[9, "AESTDAT", "2023-01"], [10, "AEENDAT", "2023"]]
    assert future["message"].tolist() == [
        "Start date (AESTDAT) is after the data cut-off of 2022-12-31; a date cannot be later than the export",
        "End date (AEENDAT) is after the data cut-off of 2022-12-31; a date cannot be later than the export",
    ]
    assert 8 not in set(q["row"])
    assert extract_form(raw_copy, "ae", data_cutoff="2023-12-31").quarantine["rule"].eq("DATE_IN_FUTURE").sum() == 0


def test_birth_date_after_the_cutoff_is_redacted(raw_copy: Path) -> None:
    f = raw_copy / "101" / "dm.csv"
    f.write_text(f.read_text(encoding="utf-8") + "101,101-004,Wu Xin,2030-05-06,M,,Asian\n", encoding="utf-8")
    q = extract_form(raw_copy, "dm").quarantine
    row = q[q["rule"] == "DATE_IN_FUTURE"]
    assert row[["row", "field", "value"]].values.tolist() == [[5, "BRTHDAT", REDACTED]]
    assert (
        row["message"].item()
        == "Date of birth (BRTHDAT) is after the data cut-off of 2022-12-31; a date cannot be later than the export"
    )
    assert "2030" not in " ".join(q.astype(str).to_numpy().ravel())


def test_required_if_missing(raw_copy: Path) -> None:
    f = raw_copy / "102" / "ae.csv"
    f.write_bytes(
        f.read_bytes()
        + "102,S102003,2,皮疹,01/05/2019,,否,1级,否,相关,不适用,痊愈\r\n".encode("gbk")  # not ongoing (否 = N), no end date
        + "102,S102003,3,皮疹,02/05/2019,,,1级,否,相关,不适用,痊愈\r\n".encode("gbk")  # ongoing left blank: no rule applies
        + "102,S102003,4,皮疹,03/05/2019,,是,1级,否,相关,不适用,持续\r\n".encode("gbk")  # ongoing
        + "102,S102003,5,皮疹,04/05/2019,31/05/2019,否,1级,否,相关,不适用,痊愈\r\n".encode("gbk")
    )
    x = extract_form(raw_copy, "ae")
    q = x.quarantine[x.quarantine["rule"] == "REQUIRED_IF_MISSING"]
    assert q[["file", "row", "field", "value"]].values.tolist() == [["102/ae.csv", 5, "AEENDAT", ""]]
    assert q["message"].item() == "End date (AEENDAT) is required when Ongoing (AEONGO) is N, but it is blank"
    assert x.data.loc[x.data["_site"] == "102", "AESPID"].tolist() == [1, 2, 3, 4, 5]  # S102001 1, 2; S102003 3, 4, 5
    c = x.counts
    assert (c["rows_read"] == c["passed"] + c["quarantined"] + c["exact_duplicates"]).all()


def test_contract_rules_are_one_predicate_at_their_edges() -> None:
    """Quarantine (extract) and gate (schema) call the same predicates: pinned at each edge."""
    spec = load_raw_spec()
    childpgh = spec.forms["surg"].field("CHILDPGH")  # min 5, max 15 in specs/raw/dictionary.csv
    scores = pd.Series([4, 5, 15, 16, None], dtype="Int64")
    assert out_of_range(childpgh, scores).tolist() == [True, False, False, True, False]
    gate = form_schemas()["surg"].columns["CHILDPGH"]
    assert [bool(c(scores[:4]).check_passed) for c in gate.checks if c.name in ("min_5", "max_15")] == [False, False]
    assert [bool(c(scores[1:3]).check_passed) for c in gate.checks if c.name in ("min_5", "max_15")] == [True, True]
    dates = pd.Series(["2022-12-31", "2023-01-01", "2022-12", "2023", None], dtype=object)
    assert after_cutoff(dates, "2022-12-31").tolist() == [False, True, False, True, False]
    aeendat = spec.forms["ae"].field("AEENDAT")  # required when AEONGO = N
    typed = pd.DataFrame({"AEONGO": ["N", "N", "Y", None]})
    blank = pd.Series([True, False, True, True])
    assert required_if_missing(aeendat, typed, blank).tolist() == [True, False, False, False]


def test_schema_gates_the_value_rules() -> None:
    """The schema checks the same rules, so ``data`` can never hold a record that breaks them."""
    surg = form_schemas()["surg"]
    assert {c.name for c in surg.columns["CHILDPGH"].checks} >= {"min_5", "max_15"}
    assert "not_after_cutoff" in {c.name for c in surg.columns["PRSTDAT"].checks}
    ae = form_schemas()["ae"]
    assert "AEENDAT_required_if_AEONGO" in {c.name for c in ae.checks}
    bad = pd.DataFrame(
        {
            "SITEID": ["101"] * 3,
            "SUBJID": ["101-001"] * 3,
            "AESPID": pd.array([1, 2, 0], dtype="Int64"),
            "AETERM": ["Rash"] * 3,
            "AESTDAT": ["2019-04-01", "2023-02", "2019-04-01"],
            "AEENDAT": [None, None, "2019-05-01"],
            "AEONGO": ["N", "Y", "N"],
            "AETOXGR": ["1"] * 3,
            "AESER": ["N"] * 3,
            "AEREL": ["RELATED"] * 3,
            "AEACN": ["DOSE NOT CHANGED"] * 3,
            "AEOUT": ["RECOVERED/RESOLVED"] * 3,
            **{c: [None] * 3 for c in ("AESDTH", "AESLIFE", "AESHOSP", "AESDISAB", "AESCONG", "AESMIE")},
            "_site": ["101"] * 3,
            "_file": ["101/ae.csv"] * 3,
            "_row": np.array([2, 3, 4], dtype="int64"),
        }
    )
    with pytest.raises(pa.errors.SchemaErrors) as err:
        ae.validate(bad, lazy=True)
    fc = err.value.failure_cases
    got = {(int(i), str(c)) for i, c in zip(fc["index"], fc["check"])}
    assert {
        (0, "AEENDAT_required_if_AEONGO"),
        (1, "not_after_cutoff"),
        (2, "min_1"),
    } <= got


@pytest.mark.parametrize(
    ("field", "cells", "error"),
    [
        ("AETERM", {"min": "1"}, "ae.AETERM: min/max apply to integer and float fields, not text"),
        ("AESPID", {"min": "5", "max": "1"}, "ae.AESPID: min 5 is greater than max 1"),
        ("AESPID", {"max": "many"}, "ae.AESPID: max 'many' is not a number"),
        ("AEENDAT", {"required_if": "AEONGO"}, "ae.AEENDAT: required_if 'AEONGO' is not FIELD=VALUE or FIELD=VALUE1|VALUE2"),
        (
            "AEENDAT",
            {"required_if": "ONGOING=N"},
            "ae.AEENDAT: required_if names 'ONGOING', which is not another field of form 'ae'",
        ),
        (
            "AEENDAT",
            {"required_if": "AETERM=Rash"},
            "ae.AEENDAT: required_if field AETERM must be a code field (not an identifier)",
        ),
        ("AEENDAT", {"required_if": "AEONGO=N|No"}, "ae.AEENDAT: required_if value(s) No not in codelist NY"),
        ("AESTDAT", {"required_if": "AEONGO=N"}, "ae.AESTDAT: required_if on a field that is always required"),
    ],
)
def test_value_rules_are_validated_on_load(tmp_path: Path, field: str, cells: dict[str, str], error: str) -> None:
    import csv

    from pipeline.specs.paths import SPECS_DIR

    root = tmp_path / "specs"
    shutil.copytree(SPECS_DIR, root)
    path = root / "raw" / "dictionary.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        if (r["form"], r["field"]) == ("ae", field):
            r.update({"min": "", "max": "", "required_if": "", **cells})
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(ValueError) as err:
        load_raw_spec(root)
    assert str(err.value) == f"specs/raw/dictionary.csv: {error}"


def test_a_later_cutoff_also_moves_the_schema_gate(raw_copy: Path) -> None:
    f = raw_copy / "101" / "ae.csv"
    f.write_text(f.read_text(encoding="utf-8") + "101,101-003,1,Rash,2023-01-05,,Y,1,N,Related,None,Ongoing\n", encoding="utf-8")
    assert extract_form(raw_copy, "ae").quarantine.query("row == 8")["rule"].tolist() == ["DATE_IN_FUTURE"]
    later = extract_form(raw_copy, "ae", data_cutoff="2023-12-31")
    assert 8 not in set(later.quarantine["row"]) and "2023-01-05" in set(later.data["AESTDAT"])
