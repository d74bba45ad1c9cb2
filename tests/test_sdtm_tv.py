"""TV from specs/trial/tv.csv; expected by hand.

46 planned visits: HEPATECTOMY (0, day 1), SCREENING (1, no fixed day), MONTH 2 ... MONTH 24 every 2 months
(12 visits), MONTH 27 ... MONTH 120 every 3 months (32 visits). One schedule for both arms: ARMCD null.
"""

import pytest
from listed import listed, rows

from pipeline.schemas import validate_frame
from pipeline.sdtm import tv as tv_mod
from pipeline.specs.datasets import load_dataset_spec


@pytest.fixture(scope="module")
def tv():
    return tv_mod.build()


def test_tv_records(tv):
    ok, failures = validate_frame(tv.data, load_dataset_spec("sdtm", "tv"))
    assert ok, failures.to_string()
    assert len(tv.data) == 2 + 12 + 32
    assert rows(tv.data[["VISITNUM", "VISIT", "VISITDY", "ARMCD"]].head(4)) == [
        [0.0, "HEPATECTOMY", 1.0, None],
        [1.0, "SCREENING", None, None],
        [2.0, "MONTH 2", 62.0, None],
        [4.0, "MONTH 4", 123.0, None],
    ]
    assert rows(tv.data[["VISITNUM", "VISIT", "VISITDY"]].iloc[[13, 14, 45]]) == [
        [24.0, "MONTH 24", 732.0],
        [27.0, "MONTH 27", 823.0],
        [120.0, "MONTH 120", 3654.0],
    ]
    assert set(tv.data["STUDYID"]) == {"NCT02867280"} and set(tv.data["DOMAIN"]) == {"TV"}
    assert tv.data["TVSTRL"].iloc[2] == "2 months after the hepatectomy, within 14 days before or after"
    assert tv.data["TVSTRL"].iloc[0].startswith("Day of the R0 hepatectomy")
    assert tv.data["ARMCD"].isna().all() and tv.data["TVSTRL"].notna().all()


def test_tv_lineage_is_the_line_of_the_schedule_file(tv):
    assert set(tv.lineage["RAWFILE"]) == {"specs/trial/tv.csv"}
    assert listed(tv.lineage["RAWROW"].head(3)) == [2, 3, 4]
