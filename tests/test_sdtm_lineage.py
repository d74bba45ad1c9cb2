"""Record lineage: one helper carries it, finalize refuses records without it, derived datasets say so."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.sdtm.common import LineageError, carry_lineage, finalize, spec_lineage
from pipeline.sdtm.supp import build_supp
from pipeline.specs.datasets import load_dataset_spec

MH = load_dataset_spec("sdtm", "mh")


def _mh(rows: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": "S",
            "DOMAIN": "MH",
            "USUBJID": [f"S-101-00{i + 1}" for i in range(rows)],
            "MHSEQ": [1.0] * rows,
            "MHTERM": "Cirrhosis",
        }
    )


def test_finalize_without_lineage_columns_raises_naming_the_dataset() -> None:
    with pytest.raises(LineageError, match=r"^MH: the records carry no lineage \(column\(s\) _file, _row missing\)"):
        finalize(_mh(), MH, "MHSEQ")


def test_finalize_names_the_records_without_a_raw_row() -> None:
    df = _mh(3).assign(_file=["101/surg.csv", None, "101/surg.csv"], _row=[2, 3, None])
    with pytest.raises(LineageError, match=r"^MH: 2 record\(s\) without a raw file and row: S-101-002 1.0; S-101-003 1.0$"):
        finalize(df, MH, "MHSEQ")


def test_finalize_keeps_the_raw_file_and_row_of_every_record() -> None:
    raw = pd.DataFrame({"_file": ["101/surg.csv", "102/surg.csv"], "_row": [7, 2]}, index=[5, 9])
    df = carry_lineage(_mh().set_axis([9, 5]), raw)  # aligned on the index, not by position
    _, lineage = finalize(df, MH, "MHSEQ")
    assert lineage[["USUBJID", "RAWFILE", "RAWROW"]].values.tolist() == [
        ["S-101-001", "102/surg.csv", 2],
        ["S-101-002", "101/surg.csv", 7],
    ]


def test_an_empty_dataset_needs_no_lineage_columns() -> None:
    data, lineage = finalize(_mh(0), MH, "MHSEQ")
    assert data.empty and lineage.empty


def test_a_derived_dataset_declares_it_and_names_no_raw_row() -> None:
    _, lineage = finalize(_mh(), MH, "MHSEQ", derived=True)
    assert lineage["RAWFILE"].isna().all() and lineage["RAWROW"].isna().all()
    with pytest.raises(LineageError, match="declared derived"):
        finalize(carry_lineage(_mh(), pd.DataFrame({"_file": ["a/b.csv"] * 2, "_row": [2, 3]})), MH, "MHSEQ", derived=True)


def test_spec_lineage_names_the_spec_file_and_its_lines() -> None:
    out = spec_lineage(pd.DataFrame({"X": [1, 2]}), "specs/trial/ta.csv", [2, 3])
    assert out[["_file", "_row"]].values.tolist() == [["specs/trial/ta.csv", 2], ["specs/trial/ta.csv", 3]]


def test_build_supp_qualifier_record() -> None:
    parents = pd.DataFrame(
        {"STUDYID": "S", "USUBJID": ["S-101-002", "S-101-001"], "_file": ["101/nl.csv", "101/nl.csv"], "_row": [3, 2]},
        index=[4, 8],
    )
    qval = pd.Series(["IMAGING", "HISTOPATHOLOGY"], index=[4, 8])
    res = build_supp("supptu", parents, "TU", "TULNKID", pd.Series(["L1", "L1"], index=[4, 8]), "DIAGBAS", qval, "Collected")
    assert res.domain == "SUPPTU"
    assert res.data["QEVAL"].isna().all()
    assert res.data.drop(columns="QEVAL").values.tolist() == [
        [
            "S",
            "TU",
            "S-101-001",
            "TULNKID",
            "L1",
            "DIAGBAS",
            "Basis of Recurrence Diagnosis",
            "HISTOPATHOLOGY",
            "Collected",
        ],
        ["S", "TU", "S-101-002", "TULNKID", "L1", "DIAGBAS", "Basis of Recurrence Diagnosis", "IMAGING", "Collected"],
    ]
    assert res.lineage["RAWROW"].tolist() == [2, 3]
    # A derived qualifier (SUPPAE.AETRTEM) names no raw row, by declaration.
    derived = build_supp(
        "suppae",
        parents.drop(columns=["_file", "_row"]),
        "AE",
        "AESEQ",
        pd.Series(["1", "1"], index=[4, 8]),
        "AETRTEM",
        pd.Series(["Y", "N"], index=[4, 8]),
        "Derived",
        derived=True,
    )
    assert derived.data["QLABEL"].eq("Treatment Emergent Flag").all() and derived.lineage["RAWFILE"].isna().all()


def test_finalize_sets_the_dtypes_once() -> None:
    """Char = TEXT (Arrow text, also when all missing), Num = float64: the checks read one form only."""
    from pipeline.columns import TEXT

    df = carry_lineage(_mh(), pd.DataFrame({"_file": ["a/b.csv"] * 2, "_row": [2, 3]}))
    data, _ = finalize(df.assign(MHSEQ=[1, 2]), MH, "MHSEQ")
    for v in MH.variables:
        assert data[v.name].dtype == (TEXT if v.type == "Char" else "float64"), v.name
    # A value that is not text in a Char variable is a derivation bug: finalize names it.
    with pytest.raises(TypeError, match=r"^MH.MHTERM: 1 value\(s\) of a Char variable are not text \(row 1: 7\)"):
        finalize(df.assign(MHTERM=pd.Series(["Cirrhosis", 7], dtype=object)), MH, "MHSEQ")
