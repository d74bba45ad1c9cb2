"""RELREC: the dataset-level TU-TR relationship, from the export of test_sdtm_tu.

Expected by hand: two records, RELID TUTR, sorted by RELID then RDOMAIN (TR before TU): TR by TRLNKID, MANY;
TU by TULNKID, ONE; USUBJID and IDVARVAL null. Nothing to relate (no TR record) -> an empty RELREC.
"""

import pytest
from sdtm_inputs import empty
from test_sdtm_tu import NL, inputs

from pipeline.schemas import validate_frame
from pipeline.sdtm import relrec as relrec_mod
from pipeline.sdtm import tr as tr_mod
from pipeline.specs.datasets import load_dataset_spec


@pytest.fixture(scope="module")
def built():
    dm, se, tu = inputs()
    return dm, se, tu, tr_mod.build(NL, tu, dm, se)


def conforms(result):
    ok, failures = validate_frame(result.data, load_dataset_spec("sdtm", "relrec"))
    assert ok, failures.to_string()


def test_tu_relates_to_tr(built):
    _, _, tu, tr = built
    rel = relrec_mod.build(tu, tr)
    conforms(rel)
    d = rel.data
    assert d.astype(object).where(d.notna(), None).values.tolist() == [
        ["NCT02867280", "TR", None, "TRLNKID", None, "MANY", "TUTR"],
        ["NCT02867280", "TU", None, "TULNKID", None, "ONE", "TUTR"],
    ]
    assert rel.queries.empty and rel.lineage["RECORD"].tolist() == [1, 2]


def test_nothing_to_relate_gives_an_empty_relrec(built):
    dm, se, tu, _ = built
    rel = relrec_mod.build(tu, tr_mod.build(empty("nl"), tu, dm, se))
    conforms(rel)
    assert rel.data.empty and list(rel.data.columns) == [v.name for v in load_dataset_spec("sdtm", "relrec").variables]
