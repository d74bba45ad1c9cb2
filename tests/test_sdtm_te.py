"""TE from specs/trial/te.csv; expected by hand: three elements sorted by ETCD (FU, SCRN, SORA)."""

from pipeline.schemas import validate_frame
from pipeline.sdtm import te as te_mod
from pipeline.specs.datasets import load_dataset_spec


def test_te_records():
    te = te_mod.build()
    ok, failures = validate_frame(te.data, load_dataset_spec("sdtm", "te"))
    assert ok, failures.to_string()
    assert te.data[["STUDYID", "DOMAIN", "ETCD", "ELEMENT"]].values.tolist() == [
        ["NCT02867280", "TE", "FU", "Follow-up"],
        ["NCT02867280", "TE", "SCRN", "Screening"],
        ["NCT02867280", "TE", "SORA", "Sorafenib"],
    ]
    assert te.data["TESTRL"].tolist() == [
        "Day after the last dose of sorafenib (sorafenib arm) or date of enrollment (control arm)",
        "Day of the R0 hepatectomy (the reference start date RFSTDTC)",
        "First dose of sorafenib",
    ]
    assert te.data["TEENRL"].notna().all()
    assert te.data["TEENRL"][1].startswith("First dose of sorafenib (sorafenib arm) or date of enrollment (control arm)")
    assert te.lineage[["RAWFILE", "RAWROW"]].values.tolist() == [
        ["specs/trial/te.csv", 4],
        ["specs/trial/te.csv", 2],
        ["specs/trial/te.csv", 3],
    ]
    assert list(te.data.columns) == ["STUDYID", "DOMAIN", "ETCD", "ELEMENT", "TESTRL", "TEENRL"]
