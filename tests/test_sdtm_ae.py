"""AE coding, seriousness criteria and the end reference at death, on a hand-made export.

101-001 SORAFENIB: hepatectomy 2018-01-10, first dose 2018-01-25 (still dosing at the cut-off).
101-002 CONTROL: hepatectomy 2018-02-01, enrolled 2018-02-12, died 2018-06-10.
Every expected value below is worked out by hand from these rows and specs/terms/ctcae_meddra.csv.
"""

from pathlib import Path

import pandas as pd
import pytest
from sdtm_inputs import build_dm, extract, pair

from pipeline import meddra
from pipeline.schemas import validate_frame
from pipeline.sdtm import ae as ae_mod
from pipeline.sdtm import se as se_mod
from pipeline.sdtm import ts as ts_mod
from pipeline.specs.datasets import load_dataset_spec

S1, S2 = "NCT02867280-101-101-001", "NCT02867280-101-101-002"
FIXTURE = Path(__file__).parent / "fixtures" / "meddra_ascii"
NOCRIT = dict.fromkeys(ae_mod.SERIOUS_CRITERIA, "N")

ENROL, DEMOG, SURG, EX = pair(
    demog={
        "101-001": {"RACE": "ASIAN", "ETHNIC": "NOT HISPANIC OR LATINO"},
        "101-002": {"BRTHDAT": "1970-12-31", "SEX": "F", "RACE": "ASIAN", "ETHNIC": "NOT HISPANIC OR LATINO"},
    },
    surg={"101-002": {"PRTRT": "NON-ANATOMICAL HEPATECTOMY"}},
    ex={"101-001": {"EXENDAT": None}},  # still dosing at the cut-off
)
SURV = extract(
    "surv",
    [
        {"SUBJID": "101-002", "CONTDAT": "2018-06-10", "SURVSTAT": "DEAD", "DTHDAT": "2018-06-10", "DTHCAUS": "OTHER"},
    ],
)


def row(subj, spid, term, start, ser, end=None, ongo=None, arm="SORAFENIB", **crit):
    control = arm == "CONTROL"
    return {
        "SUBJID": subj,
        "AESPID": spid,
        "AETERM": term,
        "AESTDAT": start,
        "AEENDAT": end,
        "AEONGO": ongo,
        "AETOXGR": "2",
        "AESER": ser,
        "AEREL": "NOT RELATED" if control else "RELATED",
        "AEACN": "NOT APPLICABLE" if control else "DOSE NOT CHANGED",
        "AEOUT": "RECOVERED/RESOLVED",
        **crit,
    }


AE = extract(
    "ae",
    [
        row("101-001", 1, "手足综合征", "2018-03-05", "Y", end="2018-03-25", **{**NOCRIT, "AESHOSP": "Y"}),
        row("101-001", 2, "腹泻", "2018-03-06", "Y", end="2018-03-26", **NOCRIT),  # serious, no criterion
        row("101-001", 3, "Fatigue", "2018-03-07", "N", end="2018-03-27", AESMIE="Y"),  # not serious, with one
        row("101-001", 4, "Fatigue", "2018-03-08", "N", end="2018-03-28"),  # not serious, none asked
        row("101-002", 1, "Anorexia", "2018-05-01", "N", ongo="Y", arm="CONTROL"),  # ongoing at death
        row("101-002", 2, "Weight loss", "2018-05-02", "N", end="2018-06-10", arm="CONTROL"),  # ends on the death day
        row("101-002", 3, "Diarrhea", "2018-05-03", "N", end="2018-06-11", arm="CONTROL"),  # ends the day after
    ],
)


@pytest.fixture(scope="module")
def dm():
    return build_dm(ENROL, DEMOG, SURG, EX, surv=SURV)


@pytest.fixture(scope="module")
def built(dm):
    se = se_mod.build(dm, ENROL)
    return ae_mod.build(AE, dm, se)


def rec(result, usubjid, spid):
    d = result.data
    return d[(d["USUBJID"] == usubjid) & (d["AESPID"] == str(spid))].iloc[0]


def test_ae_conforms_and_keeps_every_coded_record(built):
    ok, failures = validate_frame(built.data, load_dataset_spec("sdtm", "ae"))
    assert ok, failures.to_string()
    assert len(built.data) == 7


def test_fallback_codes_from_the_ctcae_mapping(built):
    hfs = rec(built, S1, 1)
    assert (hfs.AELLT, hfs.AELLTCD, hfs.AEDECOD, hfs.AEPTCD) == (
        "Palmar-plantar erythrodysesthesia syndrome",
        10054524,
        "Palmar-plantar erythrodysaesthesia syndrome",
        10054524,
    )
    assert (hfs.AEBODSYS, hfs.AEBDSYCD, hfs.AESOC, hfs.AESOCCD) == (
        "Skin and subcutaneous tissue disorders",
        10040785,
        "Skin and subcutaneous tissue disorders",
        10040785,
    )
    anorexia = rec(built, S2, 1)
    # Filled from CTCAE v4.0 / the public MedDRA SOC list: PT Decreased appetite, SOC Metabolism and nutrition.
    assert (anorexia.AEDECOD, anorexia.AEPTCD, anorexia.AEBDSYCD, anorexia.AESOCCD) == (
        "Decreased appetite",
        10061428,
        10027433,
        10027433,
    )
    weight = rec(built, S2, 2)
    assert pd.isna(weight.AELLTCD) and weight.AEPTCD == 10047895 and weight.AESOCCD == 10022891
    # The CTCAE mapping has no HLT or HLGT: null, never invented.
    assert built.data[["AEHLT", "AEHLTCD", "AEHLGT", "AEHLGTCD"]].isna().all().all()


def test_seriousness_criteria_and_their_queries(built):
    assert rec(built, S1, 1).AESHOSP == "Y" and rec(built, S1, 1).AESDTH == "N"
    assert rec(built, S1, 2).AESER == "Y"  # kept as collected, and queried
    assert rec(built, S1, 4)[ae_mod.SERIOUS_CRITERIA].isna().all()
    q = built.queries
    got = q[q["rule"].isin(["SERIOUS_NO_CRITERION", "NOT_SERIOUS_WITH_CRITERION"])][["subjid", "row", "field", "value", "rule"]]
    assert got.values.tolist() == [
        ["101-001", 3, "AESER", "Y", "SERIOUS_NO_CRITERION"],
        ["101-001", 4, "AESER", "N", "NOT_SERIOUS_WITH_CRITERION"],
    ]
    assert "(AESMIE)" in q.loc[q["rule"].eq("NOT_SERIOUS_WITH_CRITERION"), "message"].iloc[0]


def test_ongoing_at_death_ends_at_death_and_a_later_end_is_queried(built, dm):
    assert dm.data.set_index("USUBJID").loc[S2, "DTHDTC"] == "2018-06-10"
    anorexia = rec(built, S2, 1)
    assert (anorexia.AEENRTPT, anorexia.AEENTPT) == ("ONGOING", "2018-06-10")
    q = built.queries[built.queries["rule"].eq("AE_END_AFTER_DEATH")]
    # 2018-06-10 (the death day) is allowed; 2018-06-11 is one day too late.
    assert q[["subjid", "row", "value"]].values.tolist() == [["101-002", 8, "2018-06-11"]]
    assert q["message"].tolist() == ["AE ends after the death (2018-06-10)"]
    # A living subject's ongoing AE still ends its reference at the end of participation.
    assert rec(built, S1, 1).AEENTPT is None or pd.isna(rec(built, S1, 1).AEENTPT)


def test_with_a_release_configured_terms_outside_it_are_coding_queries(dm, monkeypatch):
    monkeypatch.setenv(meddra.ENV_DIR, str(FIXTURE))
    se = se_mod.build(dm, ENROL)
    res = ae_mod.build(AE, dm, se)
    # The made-up release holds none of the CTCAE terms: nothing is output uncoded.
    assert res.data.empty
    q = res.queries[res.queries["rule"].eq("AE_LLT_NOT_IN_MEDDRA")]
    assert len(q) == 7
    assert (
        q["message"].iloc[0]
        == "CTCAE v4.0 term Palmar-plantar erythrodysesthesia syndrome is not a lowest level term of MedDRA 99.0; cannot be coded"
    )
    assert ts_mod.derive_value("meddra:version", None, None, "ts.csv") == "99.0"


def test_ts_names_the_fallback_dictionary_and_version(dm):
    ts = ts_mod.build(dm).data.set_index("TSPARMCD")
    assert ts.loc["AEDICT", "TSVAL"] == "MedDRA" and ts.loc["AEDICTV", "TSVAL"] == "12.0"
