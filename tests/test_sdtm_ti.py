"""TI from specs/trial/criteria.csv; expected by hand: 9 inclusion and 7 exclusion criteria,
sorted by IECAT (EXCLUSION before INCLUSION) then IETESTCD."""

from pipeline.schemas import validate_frame
from pipeline.sdtm import ti as ti_mod
from pipeline.specs.ct import load_ct
from pipeline.specs.datasets import load_dataset_spec


def test_ti_records():
    ti = ti_mod.build()
    ok, failures = validate_frame(ti.data, load_dataset_spec("sdtm", "ti"))
    assert ok, failures.to_string()
    assert ti.data["IETESTCD"].tolist() == [f"EX0{i}" for i in range(1, 8)] + [f"IN0{i}" for i in range(1, 10)]
    assert ti.data["IECAT"].tolist() == ["EXCLUSION"] * 7 + ["INCLUSION"] * 9
    d = ti.data.set_index("IETESTCD")
    assert d.loc["IN01", "IETEST"] == "Age 18 to 75 years"
    assert d.loc["EX07", "IETEST"] == "Pregnancy or breast-feeding"
    assert set(ti.data["STUDYID"]) == {"NCT02867280"} and set(ti.data["DOMAIN"]) == {"TI"}
    assert ti.data["IETEST"].str.len().max() <= 200  # TIRL not needed
    # IN01 is line 2 of criteria.csv, EX01 line 11.
    assert ti.lineage["RAWROW"].tolist()[:1] == [11] and ti.lineage["RAWROW"].tolist()[7] == 2


def test_ti_is_the_ietestcd_codelist():
    ti = ti_mod.build()
    ct = load_ct()
    assert sorted(ti.data["IETESTCD"]) == sorted(ct["IETESTCD"].values)
    assert sorted(ti.data["IETEST"]) == sorted(ct["IETEST"].values)
