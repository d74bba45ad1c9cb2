"""Hand-made specs, frames and codelists for the submission tests (imported by the other
``test_submission_*`` modules), and the tests of the shared typing rules.

Nothing here reads the study's dataset specs or data: the specs are built directly as
DatasetSpec/VariableSpec objects, the codelists as Codelist/Term objects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.specs.ct import Codelist, Term
from pipeline.specs.datasets import DatasetSpec, ValueLevelSpec, VariableSpec
from pipeline.submission import common

CUTOFF = "2022-12-31"


def var(
    name,
    label,
    typ="Char",
    length=20,
    core="Req",
    role="Identifier",
    codelist=None,
    origin="Collected",
    sources=("ae.AETERM",),
    derivation=None,
    fmt=None,
    dictionary=None,
) -> VariableSpec:
    return VariableSpec(
        name=name,
        label=label,
        type=typ,
        length=8 if typ == "Num" else length,
        core=core,
        role=role,
        codelist=codelist,
        origin=origin,
        sources=tuple(sources),
        derivation=derivation,
        format=fmt,
        dictionary=dictionary,
    )


def sdtm_spec(**overrides) -> DatasetSpec:
    """A small AE-like SDTM domain."""
    variables = (
        var("STUDYID", "Study Identifier", origin="Protocol", sources=()),
        var("DOMAIN", "Domain Abbreviation", length=2, origin="Assigned", sources=()),
        var(
            "USUBJID",
            "Unique Subject Identifier",
            length=40,
            origin="Derived",
            sources=("ae.SUBJID",),
            derivation="STUDYID-SITEID-SUBJID",
        ),
        var("AESEQ", "Sequence Number", typ="Num", origin="Derived", sources=(), derivation="1..n within USUBJID"),
        var("AETERM", "Reported Term for the Adverse Event", length=200, role="Topic"),
        var(
            "AEDECOD",
            "Dictionary-Derived Term",
            length=100,
            core="Req",
            role="Synonym Qualifier",
            origin="Derived",
            derivation="MedDRA PT of AETERM",
            dictionary="MedDRA 26.0",
        ),
        var("AESEV", "Severity/Intensity", length=8, core="Perm", role="Record Qualifier", codelist="AESEV"),
        var("AEREL", "Causality", length=20, core="Exp", role="Record Qualifier", codelist="AEREL"),
        var("AESTDTC", "Start Date/Time of Adverse Event", length=19, core="Exp", role="Timing"),
        var(
            "AESTDY",
            "Study Day of Start of Adverse Event",
            typ="Num",
            core="Perm",
            role="Timing",
            origin="Derived",
            sources=(),
            derivation="AESTDTC - RFSTDTC (+1 on or after)",
        ),
        var("AEWT", "Weight at Onset", typ="Num", core="Perm", role="Record Qualifier"),
    )
    kw = {
        "name": "AE",
        "label": "Adverse Events",
        "cls": "EVENTS",
        "structure": "One record per adverse event per subject",
        "keys": ("STUDYID", "USUBJID", "AEDECOD", "AESTDTC"),
        "sort": ("STUDYID", "USUBJID", "AESEQ"),
        "comment": "Toy AE domain. Verbatim terms coded to MedDRA.",
        "variables": variables,
        "layer": "sdtm",
    }
    kw.update(overrides)
    return DatasetSpec(**kw)


def sdtm_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": ["TOY01"] * 3,
            "DOMAIN": ["AE"] * 3,
            "USUBJID": ["TOY01-101-001", "TOY01-101-001", "TOY01-102-007"],
            "AESEQ": [1.0, 2.0, 1.0],
            "AETERM": ["Hand-foot skin reaction", "Diarrhoea", "Fatigue"],
            "AEDECOD": ["Palmar-plantar erythrodysaesthesia syndrome", "Diarrhoea", "Fatigue"],
            "AESEV": ["MILD", "MODERATE", None],
            "AEREL": ["RELATED", "NOT RELATED", "RELATED"],
            "AESTDTC": ["2019-03-05", "2019-04", None],
            "AESTDY": [12.0, np.nan, -3.0],
            "AEWT": [61.25, 60.5, np.nan],
        }
    ).astype({"STUDYID": object, "AESEV": object, "AESTDTC": object})


def adam_spec(**overrides) -> DatasetSpec:
    """A small ADTTE-like BDS dataset with DATE9. dates."""
    variables = (
        var("STUDYID", "Study Identifier", origin="Predecessor", sources=("ADSL.STUDYID",)),
        var("USUBJID", "Unique Subject Identifier", length=40, origin="Predecessor", sources=("ADSL.USUBJID",)),
        var("PARAMCD", "Parameter Code", length=8, role="Topic", codelist="PARAMCD_T", origin="Assigned", sources=()),
        var(
            "STARTDT",
            "Time-to-Event Origin Date for Subject",
            typ="Num",
            core="Cond",
            role="Timing",
            fmt="DATE9.",
            origin="Predecessor",
            sources=("ADSL.HEPDT",),
        ),
        var(
            "ADT",
            "Analysis Date",
            typ="Num",
            core="Cond",
            role="Timing",
            fmt="DATE9.",
            origin="Derived",
            sources=("RS.RSDTC",),
            derivation="Date of the event or censoring",
        ),
        var(
            "AVAL",
            "Analysis Value",
            typ="Num",
            core="Cond",
            role="Analysis",
            origin="Derived",
            sources=(),
            derivation="ADT - STARTDT + 1",
        ),
        var(
            "CNSR",
            "Censor",
            typ="Num",
            core="Cond",
            role="Analysis",
            origin="Derived",
            sources=(),
            derivation="0 = event, 1 = censored",
        ),
        var(
            "FASFL",
            "Full Analysis Set Population Flag",
            length=1,
            core="Cond",
            role="Record Qualifier",
            codelist="NY",
            origin="Predecessor",
            sources=("ADSL.FASFL",),
        ),
    )
    kw = {
        "name": "ADTT",
        "label": "Time-to-Event Analysis Dataset",
        "cls": "BASIC DATA STRUCTURE",
        "structure": "One record per subject per parameter",
        "keys": ("STUDYID", "USUBJID", "PARAMCD"),
        "sort": ("STUDYID", "USUBJID", "PARAMCD"),
        "comment": "Toy time-to-event dataset.",
        "variables": variables,
        "layer": "adam",
    }
    kw.update(overrides)
    return DatasetSpec(**kw)


def adam_frame() -> pd.DataFrame:
    """Dates as datetime64, as ADaM keeps them in memory (one missing ADT)."""
    return pd.DataFrame(
        {
            "STUDYID": ["TOY01"] * 3,
            "USUBJID": ["TOY01-101-001", "TOY01-101-001", "TOY01-102-007"],
            "PARAMCD": ["OS", "RFS", "OS"],
            "STARTDT": pd.to_datetime(["2019-03-01", "2019-03-01", "1959-12-31"]),
            "ADT": pd.to_datetime(["2020-01-05", None, "1960-01-01"]),
            "AVAL": [311.0, np.nan, 2.5],
            "CNSR": [0.0, 1.0, 1.0],
            "FASFL": ["Y", "Y", "N"],
        }
    ).astype({"STUDYID": object})


def toy_ct() -> dict[str, Codelist]:
    """CDISC codelists (with NCI codes; AESEV extended by a sponsor term) and sponsor codelists."""
    return {
        "AESEV": Codelist(
            "AESEV",
            "C66769",
            "Severity/Intensity Scale for Adverse Events",
            True,
            (
                Term("MILD", "C41338", "Mild Adverse Event"),
                Term("MODERATE", "C41339", "Moderate Adverse Event"),
                Term("SEVERE", "C41340", "Severe Adverse Event"),
                Term("LIFE THREATENING", None, "Life threatening (sponsor)", True),
            ),
            "CDISC",
        ),
        "NY": Codelist(
            "NY",
            "C66742",
            "No Yes Response",
            False,
            (
                Term("N", "C49487", "No"),
                Term("Y", "C49488", "Yes"),
            ),
            "CDISC",
        ),
        "AEREL": Codelist(
            "AEREL",
            None,
            "Relationship to Study Drug",
            False,
            (
                Term("RELATED", None, "Related (definitely or probably)", True),
                Term("NOT RELATED", None, "Not related", True),
            ),
            "SPONSOR",
        ),
        "PARAMCD_T": Codelist(
            "PARAMCD_T",
            None,
            "Time-to-Event Parameter Code",
            False,
            (
                Term("OS", None, "Overall survival", True),
                Term("RFS", None, "Recurrence-free survival", True),
            ),
            "SPONSOR",
        ),
    }


def vlm_spec() -> DatasetSpec:
    """A findings domain with value-level metadata on --ORRES by --TESTCD."""
    variables = (
        var("STUDYID", "Study Identifier", origin="Protocol", sources=()),
        var("USUBJID", "Unique Subject Identifier", length=40, origin="Protocol", sources=()),
        var("LBTESTCD", "Lab Test or Examination Short Name", length=8, role="Topic", origin="Assigned", sources=()),
        var("LBORRES", "Result or Finding in Original Units", length=20, role="Result Qualifier", sources=("lb.LBORRES",)),
    )
    vl = (
        ValueLevelSpec(variable="LBORRES", where=(("LBTESTCD", "ALB"),), origin="Collected", sources=("lb.LBORRES",), type="Num"),
        ValueLevelSpec(
            variable="LBORRES",
            where=(("LBTESTCD", "HBSAG"),),
            origin="Collected",
            sources=("lb.LBORRES",),
            codelist="NY",
            type="Char",
            length=1,
        ),
    )
    return DatasetSpec(
        name="LB",
        label="Laboratory Test Results",
        cls="FINDINGS",
        structure="One record per lab test per visit per subject",
        keys=("STUDYID", "USUBJID", "LBTESTCD"),
        sort=("STUDYID", "USUBJID", "LBTESTCD"),
        comment=None,
        variables=variables,
        value_level=vl,
        layer="sdtm",
    )


def vlm_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": ["TOY01"] * 3,
            "USUBJID": ["TOY01-101-001"] * 3,
            "LBTESTCD": ["ALB", "HBSAG", "ALB"],
            "LBORRES": ["38.5", "N", "40"],
        }
    )


# --- tests of pipeline.submission.common


def test_temporal_kind_follows_the_display_format():
    assert common.temporal_kind(var("ADT", "x", typ="Num", fmt="DATE9.")) == "date"
    assert common.temporal_kind(var("ADTM", "x", typ="Num", fmt="DATETIME20.")) == "datetime"
    assert common.temporal_kind(var("ATM", "x", typ="Num", fmt="TIME8.")) == "time"
    assert common.temporal_kind(var("AVAL", "x", typ="Num", fmt="8.2")) is None
    assert common.temporal_kind(var("AESTDTC", "x")) is None


def test_submission_frame_turns_adam_dates_into_sas_day_numbers():
    f = common.submission_frame(adam_frame(), adam_spec())
    # 1960-01-01 is day 0, 1959-12-31 day -1, 2020-01-05 day 21919.
    assert f["ADT"].tolist()[0] == 21919.0 and np.isnan(f["ADT"][1]) and f["ADT"][2] == 0.0
    assert f["STARTDT"][2] == -1.0
    assert f["ADT"].dtype == "float64"
    # Already-numeric dates pass through unchanged.
    again = common.submission_frame(f, adam_spec())
    pd.testing.assert_frame_equal(again, f)


def test_char_width_is_the_longest_value_in_bytes():
    assert common.char_width(pd.Series(["a", "abc", None])) == 3
    assert common.char_width(pd.Series([None, None], dtype=object)) == 1
    assert common.char_width(pd.Series(["é"])) == 2


@pytest.mark.parametrize(
    "values,kind,digits",
    [
        ([1.0, 2.0, np.nan], "integer", None),
        ([61.25, 60.5], "float", 2),
        ([np.nan], "integer", None),
    ],
)
def test_numeric_kind(values, kind, digits):
    assert common.numeric_kind(pd.Series(values)) == (kind, digits)


def test_cutoff_datetime_is_midnight_of_the_data_cut():
    assert common.cutoff_datetime("2022-12-31") == "2022-12-31T00:00:00"


def test_creation_datetime_sources_in_order(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1672574400")  # 19,358.5 days: 2023-01-01 12:00:00 UTC
    monkeypatch.setattr(common, "_commit_time", lambda: "2024-05-06T07:08:09")
    assert common.creation_datetime("2022-12-31") == ("2023-01-01T12:00:00", "SOURCE_DATE_EPOCH")
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert common.creation_datetime("2022-12-31") == ("2024-05-06T07:08:09", "code commit time")
    monkeypatch.setattr(common, "_commit_time", lambda: None)
    assert common.creation_datetime("2022-12-31") == ("2022-12-31T00:00:00", "data cut-off")
