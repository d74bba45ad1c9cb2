"""The pandera schemas generated from the specs catch each kind of data problem, naming row, column and value."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.schemas import (
    FAILURE_COLUMNS,
    column_lineage,
    dagster_column_schema,
    lineage_markdown,
    pandera_schema,
    validate_frame,
)
from pipeline.specs.datasets import load_dataset_spec, load_layer

STUDY = "NCT02867280"


def dm_row(**over) -> dict:
    row = {
        "STUDYID": STUDY,
        "DOMAIN": "DM",
        "USUBJID": f"{STUDY}-101-101-007",
        "SUBJID": "101-007",
        "RFSTDTC": "2017-03-05",
        "RFENDTC": None,
        "RFXSTDTC": "2017-03-20",
        "RFXENDTC": "2019-03-19",
        "RFICDTC": "2017-03-10",
        "RFPENDTC": "2020-01-02",
        "DTHDTC": None,
        "DTHFL": None,
        "SITEID": "101",
        "AGE": 52.0,
        "AGEU": "YEARS",
        "SEX": "M",
        "RACE": "ASIAN",
        "ETHNIC": "NOT HISPANIC OR LATINO",
        "ARMCD": "SORAFENIB",
        "ARM": "Sorafenib 400 mg QD for 2 years",
        "ACTARMCD": "SORAFENIB",
        "ACTARM": "Sorafenib 400 mg QD for 2 years",
        "ARMNRS": None,
        "ACTARMUD": None,
        "COUNTRY": "CHN",
    }
    row.update(over)
    return row


def dm_frame(*rows: dict) -> pd.DataFrame:
    spec = load_dataset_spec("sdtm", "dm")
    return pd.DataFrame(list(rows), columns=spec.variable_names)


def valid_dm() -> pd.DataFrame:
    return dm_frame(
        dm_row(),
        dm_row(
            USUBJID=f"{STUDY}-103-GZ3-12",
            SUBJID="GZ3-12",
            SITEID="103",
            RFXSTDTC=None,
            RFXENDTC=None,
            ARMCD="CONTROL",
            ARM="No adjuvant therapy",
            ACTARMCD="CONTROL",
            ACTARM="No adjuvant therapy",
            SEX="F",
            DTHDTC="2019-06",
            DTHFL="Y",
            RFENDTC="2019-06-20",
            AGE=np.nan,
            AGEU=None,
            ETHNIC=None,
        ),
    )


def ae_frame() -> pd.DataFrame:
    spec = load_dataset_spec("sdtm", "ae")
    base = dict.fromkeys(spec.variable_names)
    base.update(
        STUDYID=STUDY,
        DOMAIN="AE",
        USUBJID=f"{STUDY}-101-101-007",
        AESPID="1",
        AETERM="Hand foot syndrome",
        AELLT="Palmar-plantar erythrodysesthesia syndrome",
        AELLTCD=10054524.0,
        AEDECOD="Palmar-plantar erythrodysaesthesia syndrome",
        AEPTCD=10054524.0,
        AEBODSYS="Skin and subcutaneous tissue disorders",
        AEBDSYCD=10040785.0,
        AESOC="Skin and subcutaneous tissue disorders",
        AESOCCD=10040785.0,
        AESER="N",
        AEACN="DOSE REDUCED",
        AEREL="RELATED",
        AEOUT="RECOVERED/RESOLVED",
        AETOXGR="2",
        EPOCH="TREATMENT",
        AESTDTC="2017-04-02",
        AEENDTC="2017-05",
        AESTDY=29.0,
        AEENDY=np.nan,
    )
    rows = [
        dict(base, AESEQ=1.0),
        dict(
            base,
            AESEQ=2.0,
            AESPID="2",
            AETERM="Diarrhoea",
            AELLT="Diarrhea",
            AEDECOD="Diarrhoea",
            AESTDTC="2017-06",
            AESTDY=np.nan,
            AETOXGR="1",
        ),
    ]
    return pd.DataFrame(rows, columns=spec.variable_names)


def failures_for(df: pd.DataFrame, name: str) -> pd.DataFrame:
    ok, failures = validate_frame(df, load_dataset_spec("sdtm", name))
    assert not ok
    assert list(failures.columns) == FAILURE_COLUMNS
    return failures


def one(failures: pd.DataFrame, check_prefix: str) -> dict:
    hits = failures[failures["check"].str.startswith(check_prefix)]
    assert len(hits) == 1, failures.to_string()
    return hits.iloc[0].to_dict()


# --------------------------------------------------------------------------------------------


def test_valid_dm_passes():
    ok, failures = validate_frame(valid_dm(), load_dataset_spec("sdtm", "dm"))
    assert ok, failures.to_string()
    assert failures.empty and list(failures.columns) == FAILURE_COLUMNS


def test_valid_ae_with_partial_dates_passes():
    ok, failures = validate_frame(ae_frame(), load_dataset_spec("sdtm", "ae"))
    assert ok, failures.to_string()


def test_missing_required_value_fails():
    df = valid_dm()
    df.loc[1, "SEX"] = None
    f = one(failures_for(df, "dm"), "not_nullable")
    assert (f["row"], f["column"]) == (1, "SEX")


def test_blank_required_value_fails():
    df = valid_dm()
    df.loc[0, "SUBJID"] = "  "
    f = one(failures_for(df, "dm"), "Req not blank")
    assert (f["row"], f["column"], f["value"]) == (0, "SUBJID", "  ")


def test_term_outside_codelist_fails():
    df = valid_dm()
    df.loc[1, "RACE"] = "Asian"  # raw synonym, not the CDISC submission value
    f = one(failures_for(df, "dm"), "codelist RACE")
    assert (f["row"], f["column"], f["value"]) == (1, "RACE", "Asian")


def test_extensible_codelist_accepts_only_the_study_terms():
    """UNIT is extensible and huge: only the units specs/ct lists for the study are accepted."""
    spec = load_dataset_spec("sdtm", "ex")
    base = dict.fromkeys(spec.variable_names)
    base.update(
        STUDYID=STUDY,
        DOMAIN="EX",
        USUBJID=f"{STUDY}-101-101-007",
        EXSEQ=1.0,
        EXTRT="SORAFENIB",
        EXDOSE=400.0,
        EXDOSU="mg",
        EXDOSFRM="TABLET, FILM COATED",
        EXDOSFRQ="QD",
        EXDOSTOT=400.0,
        EXROUTE="ORAL",
        EPOCH="TREATMENT",
        EXSTDTC="2017-03-20",
        EXSTDY=16.0,
    )
    df = pd.DataFrame([base], columns=spec.variable_names)
    ok, failures = validate_frame(df, spec)
    assert ok, failures.to_string()
    df.loc[0, "EXDOSU"] = "g"  # a CDISC UNIT term, but not one this study uses
    f = one(failures_for(df, "ex"), "codelist UNIT")
    assert (f["row"], f["column"], f["value"]) == (0, "EXDOSU", "g")


def test_too_long_value_counts_utf8_bytes():
    spec = load_dataset_spec("sdtm", "dm")
    assert spec.variable("SUBJID").length == 20
    df = valid_dm()
    df.loc[0, "SUBJID"] = "肝" * 6  # 18 bytes: fits
    df.loc[0, "USUBJID"] = f"{STUDY}-101-{'肝' * 6}"
    ok, failures = validate_frame(df, spec)
    assert ok, failures.to_string()
    df.loc[0, "SUBJID"] = "肝" * 7  # 7 characters but 21 bytes
    df.loc[0, "USUBJID"] = f"{STUDY}-101-{'肝' * 7}"
    f = one(failures_for(df, "dm"), "max 20 bytes")
    assert (f["row"], f["column"], f["value"]) == (0, "SUBJID", "肝" * 7)


@pytest.mark.parametrize(
    "bad", ["2017-13-01", "2017-02-30", "05/03/2019", "2019-3-5", "2019-03-05T25:00", "UN-UNK-2019", "20190305"]
)
def test_malformed_dtc_fails(bad):
    df = valid_dm()
    df.loc[0, "RFICDTC"] = bad
    f = one(failures_for(df, "dm"), "ISO 8601")
    assert (f["row"], f["column"], f["value"]) == (0, "RFICDTC", bad)


@pytest.mark.parametrize("good", ["2019", "2019-03", "2019-03-05", "2019-03-05T14", "2019-03-05T14:30", "2019-03-05T14:30:15"])
def test_partial_and_timed_dtc_pass(good):
    df = valid_dm()
    df.loc[0, "RFICDTC"] = good
    ok, failures = validate_frame(df, load_dataset_spec("sdtm", "dm"))
    assert ok, failures.to_string()


def test_duplicate_seq_fails():
    df = ae_frame()
    df.loc[1, "AESEQ"] = 1.0
    failures = failures_for(df, "ae")
    hits = failures[failures["check"] == "AESEQ unique within USUBJID"]
    assert list(hits["row"]) == [0, 1]
    assert set(hits["column"]) == {"AESEQ"} and set(hits["value"]) == {"1.0"}


def test_same_seq_in_two_subjects_is_fine():
    df = ae_frame()
    df.loc[1, "AESEQ"] = 1.0
    df.loc[1, "USUBJID"] = f"{STUDY}-102-S102007"
    ok, failures = validate_frame(df, load_dataset_spec("sdtm", "ae"))
    assert ok, failures.to_string()


def test_duplicate_natural_key_fails():
    df = ae_frame()
    df.loc[1, ["AEDECOD", "AESTDTC"]] = df.loc[0, ["AEDECOD", "AESTDTC"]].to_numpy()
    f = failures_for(df, "ae")
    hits = f[f["check"].str.startswith("natural keys unique")]
    assert list(hits["row"]) == [0, 1]
    assert hits.iloc[0]["column"] == "STUDYID, USUBJID, AEDECOD, AESTDTC"
    assert "Palmar-plantar erythrodysaesthesia syndrome | 2017-04-02" in hits.iloc[0]["value"]


def test_usubjid_inconsistent_with_studyid_fails():
    df = ae_frame()
    df.loc[1, "USUBJID"] = "OTHERSTUDY-101-101-007"
    f = one(failures_for(df, "ae"), "USUBJID starts with STUDYID-")
    assert (f["row"], f["column"], f["value"]) == (1, "USUBJID", "OTHERSTUDY-101-101-007")


def test_dm_usubjid_must_be_studyid_siteid_subjid():
    df = valid_dm()
    df.loc[0, "SITEID"] = "102"
    f = one(failures_for(df, "dm"), "USUBJID = STUDYID-SITEID-SUBJID")
    assert (f["row"], f["column"]) == (0, "USUBJID")


def test_num_variable_with_text_fails():
    df = valid_dm()
    df["AGE"] = df["AGE"].astype(object)
    df.loc[0, "AGE"] = "52"
    f = one(failures_for(df, "dm"), "type Num")
    assert (f["row"], f["column"], f["value"]) == (0, "AGE", "52")


def test_char_variable_with_number_fails():
    df = valid_dm()
    df["SITEID"] = df["SITEID"].astype(object)
    df.loc[0, "SITEID"] = 101
    failures = failures_for(df, "dm")
    f = one(failures, "type Char")
    assert (f["row"], f["column"], f["value"]) == (0, "SITEID", "101")


def test_missing_extra_and_misordered_columns_fail():
    df = valid_dm().drop(columns=["COUNTRY"])
    f = one(failures_for(df, "dm"), "column_in_dataframe")
    assert f["column"] == "COUNTRY" and f["row"] is None
    df = valid_dm().assign(BRTHDTC="1965-01-01")
    f = one(failures_for(df, "dm"), "column_in_schema")
    assert f["column"] == "BRTHDTC"
    cols = valid_dm().columns.tolist()
    cols[4], cols[5] = cols[5], cols[4]
    failures = failures_for(valid_dm()[cols], "dm")
    assert (failures["check"] == "column_ordered").any()


def test_value_level_codelist_fails_only_where_it_applies():
    spec = load_dataset_spec("sdtm", "rs")
    base = dict.fromkeys(spec.variable_names)
    base.update(STUDYID=STUDY, DOMAIN="RS", USUBJID=f"{STUDY}-101-101-007", RSEVAL="INVESTIGATOR")
    rows = [
        dict(
            base,
            RSSEQ=1.0,
            RSTESTCD="ECOG101",
            RSTEST="ECOG1-Performance Status",
            RSCAT="ECOG",
            RSORRES="1",
            RSSTRESC="1",
            RSSTRESN=1.0,
            RSTPT="PRE-OPERATIVE",
            RSTPTREF="HEPATECTOMY",
            RSRFTDTC="2017-03-05",
        ),
        dict(
            base,
            RSSEQ=2.0,
            RSTESTCD="AJCC101",
            RSTEST="AJCC1-Primary Tumor (T)",
            RSCAT="AJCC V7",
            RSORRES="T3a",
            RSSTRESC="T3a",
            RSDTC="2017-03-05",
            RSDY=1.0,
            EPOCH="SCREENING",
        ),
        dict(
            base,
            RSSEQ=3.0,
            RSTESTCD="OVRLRESP",
            RSTEST="Overall Response",
            RSCAT="PROTOCOL-DEFINED RECURRENCE",
            RSORRES="NED",
            RSSTRESC="NED",
            VISIT="Month 3",
            RSDTC="2017-06-01",
            RSDY=89.0,
            EPOCH="TREATMENT",
        ),
    ]
    df = pd.DataFrame(rows, columns=spec.variable_names)
    ok, failures = validate_frame(df, spec)
    assert ok, failures.to_string()
    df.loc[2, "RSORRES"] = "T3a"  # an AJCC T category is not an overall response
    f = one(failures_for(df, "rs"), "codelist ONCRSR for RSORRES where RSTESTCD = OVRLRESP")
    assert (f["row"], f["column"], f["value"]) == (2, "RSORRES", "T3a")


def test_failures_are_capped_and_values_truncated():
    df = pd.concat([valid_dm()] * 300, ignore_index=True)
    df["SUBJID"] = "x" * 500
    ok, failures = validate_frame(df, load_dataset_spec("sdtm", "dm"), max_failures=50)
    assert not ok and len(failures) == 50
    assert failures["value"].map(lambda v: v is None or len(v) <= 200).all()


def test_garbage_never_raises():
    df = valid_dm().astype(object)
    df.at[0, "AGE"] = [1, 2]
    df.at[1, "RFSTDTC"] = {"a": 1}
    df.at[1, "SEX"] = 3.5
    ok, failures = validate_frame(df, load_dataset_spec("sdtm", "dm"))
    assert not ok and {"AGE", "RFSTDTC", "SEX"} <= set(failures["column"])
    ok, failures = validate_frame(pd.DataFrame(), load_dataset_spec("sdtm", "dm"))
    assert not ok and (failures["check"] == "column_in_dataframe").sum() == 25


def test_every_sdtm_spec_builds_a_schema_that_accepts_an_empty_frame():
    for spec in load_layer("sdtm").values():
        schema = pandera_schema(spec)
        assert list(schema.columns) == spec.variable_names
        empty = pd.DataFrame({v.name: pd.Series(dtype="float64" if v.type == "Num" else "object") for v in spec.variables})
        ok, failures = validate_frame(empty, spec)
        assert ok, f"{spec.name}: {failures.to_string()}"


# --------------------------------------------------------------------------------------------
# Dagster metadata


def test_dagster_column_schema():
    spec = load_dataset_spec("sdtm", "dm")
    schema = dagster_column_schema(spec)
    assert isinstance(schema, dg.TableSchema)
    assert [c.name for c in schema.columns] == spec.variable_names
    age = next(c for c in schema.columns if c.name == "AGE")
    assert age.type == "float" and "Age" in age.description and "Derived" in age.description
    sex = next(c for c in schema.columns if c.name == "SEX")
    assert sex.type == "string" and sex.constraints.nullable is False and "codelist SEX" in sex.constraints.other


def test_column_lineage_points_at_raw_forms_and_sdtm_domains():
    lineage = column_lineage(load_dataset_spec("sdtm", "ae"))
    assert isinstance(lineage, dg.TableColumnLineage)
    term = lineage.deps_by_column["AETERM"]
    assert [(d.asset_key, d.column_name) for d in term] == [(dg.AssetKey(["raw", "ae"]), "AETERM")]
    stdy = {(d.asset_key, d.column_name) for d in lineage.deps_by_column["AESTDY"]}
    assert (dg.AssetKey(["sdtm", "dm"]), "RFSTDTC") in stdy
    assert all(d.asset_key != dg.AssetKey(["sdtm", "ae"]) for deps in lineage.deps_by_column.values() for d in deps)
    rs = column_lineage(load_dataset_spec("sdtm", "rs"))  # value-level sources are included
    assert (dg.AssetKey(["raw", "surg"]), "ECOG") in {(d.asset_key, d.column_name) for d in rs.deps_by_column["RSORRES"]}


def test_lineage_markdown():
    md = lineage_markdown(load_dataset_spec("sdtm", "rs"))
    assert md.splitlines()[2] == "| Variable | Label | Origin | Sources | Derivation |"
    assert "| RSTESTCD | Assessment Short Name [ECOG1TC, CPS01TC, BCLC1TC, AJCC1TC, ONCRTSCD] | Assigned |" in md
    assert "| RSORRES [ONCRSR] | RSTESTCD = OVRLRESP | Derived | ta.RECUR |" in md


@given(st.lists(st.one_of(st.none(), st.text(alphabet=" \t\n\u3000\xa0aZ9é-_.", max_size=6)), max_size=25), st.integers(0, 5))
def test_not_blank_answers_as_str_strip_does(values, skip):
    # The check reads each value's first byte from the Arrow buffers and strips only the others.
    from pipeline.columns import TEXT
    from pipeline.schemas import _not_blank

    s = pd.Series(values, dtype=TEXT).iloc[skip:]  # a slice: its Arrow array starts at an offset
    expected = [True if v is None else v.strip() != "" for v in values[skip:]]
    assert _not_blank(s).tolist() == expected
