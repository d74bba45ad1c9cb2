"""SUPPTU from the new-lesion export of test_sdtm_tu (see its docstring); expected values worked out by hand.

One DIAGBAS qualifier per TU lesion, attached by TULNKID: 101-001 NL01 IMAGING, NL02 HISTOPATHOLOGY (sorted by
IDVARVAL, not file order); 101-002 "1" IMAGING, "2" IMAGING AND AFP. Lesion "3" has basis "GUESS" (no DIAGBAS
term) and "4" is not in TU: both held back. 101-009 is not in DM.
"""

import pytest
from test_sdtm_tu import NL, S1, S2, inputs

from pipeline.schemas import validate_frame
from pipeline.sdtm import supptu as supptu_mod
from pipeline.specs.datasets import load_dataset_spec


@pytest.fixture(scope="module")
def supptu():
    dm, _, tu = inputs()
    return supptu_mod.build(NL, tu, dm)


def test_supptu_conforms_to_spec(supptu):
    ok, failures = validate_frame(supptu.data, load_dataset_spec("sdtm", "supptu"))
    assert ok, failures.to_string()


def test_one_basis_of_diagnosis_per_lesion(supptu):
    assert supptu.data.astype(object).where(supptu.data.notna(), None).values.tolist() == [
        ["NCT02867280", "TU", S1, "TULNKID", "NL01", "DIAGBAS", "Basis of Recurrence Diagnosis", "IMAGING", "Collected", None],
        [
            "NCT02867280",
            "TU",
            S1,
            "TULNKID",
            "NL02",
            "DIAGBAS",
            "Basis of Recurrence Diagnosis",
            "HISTOPATHOLOGY",
            "Collected",
            None,
        ],
        ["NCT02867280", "TU", S2, "TULNKID", "1", "DIAGBAS", "Basis of Recurrence Diagnosis", "IMAGING", "Collected", None],
        [
            "NCT02867280",
            "TU",
            S2,
            "TULNKID",
            "2",
            "DIAGBAS",
            "Basis of Recurrence Diagnosis",
            "IMAGING AND AFP",
            "Collected",
            None,
        ],
    ]
    assert supptu.lineage["RAWROW"].tolist() == [3, 2, 4, 5]


def test_queries(supptu):
    got = sorted(map(tuple, supptu.queries[["subjid", "field", "value", "rule", "row"]].values.tolist()))
    assert got == [
        ("101-002", "DIAGBAS", "GUESS", "TERM_NOT_IN_CT", 6),
        ("101-002", "LESID", "4", "LESION_NOT_IN_TU", 7),
        ("101-009", "SUBJID", "101-009", "SUBJECT_NOT_IN_DM", 8),
    ]
    assert "GUESS" not in supptu.data.astype(str).to_string()
