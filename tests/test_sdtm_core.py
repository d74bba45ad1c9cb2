"""DM, SE, EX and AE from a hand-made three-subject export; every expected value worked out by hand.

101-001 SORAFENIB: hepatectomy 2018-01-10, consent 2018-01-20, born 1960-05-15 (57 at consent);
        400 mg QD 2018-01-25..2018-03-10, interrupted 2018-03-11..2018-03-20 (AE),
        200 mg QD from 2018-03-21 (still open at the cut-off); hand-foot syndrome (Chinese verbatim)
        grade 3 from 2018-03-05, drug interrupted.
101-002 CONTROL: hepatectomy 2018-02-01, consent 2018-02-10, enrolled 2018-02-12, born 1970-12-31
        (47 at consent); diarrhoea starting "2018-04" (partial); one verbatim no dictionary knows.
101-009: a demographics record without enrollment (not an enrolled subject).
"""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from listed import listed
from sdtm_inputs import build_dm, extract, pair

from pipeline.columns import TEXT
from pipeline.schemas import validate_frame
from pipeline.sdtm import ae as ae_mod
from pipeline.sdtm import ex as ex_mod
from pipeline.sdtm import se as se_mod
from pipeline.sdtm.common import epoch_from_se, last_before_exposure
from pipeline.specs.datasets import load_dataset_spec

S1, S2 = "NCT02867280-101-101-001", "NCT02867280-101-101-002"

ENROL, DEMOG, SURG, _ = pair(
    enrol={"101-001": {"SUBJINIT": "ZW"}, "101-002": {"SUBJINIT": "LM"}},
    demog={
        "101-001": {"RACE": "ASIAN", "ETHNIC": "NOT HISPANIC OR LATINO", "PTNAME": "Zhang Wei"},
        "101-002": {"BRTHDAT": "1970-12-31", "SEX": "F", "RACE": "ASIAN", "ETHNIC": "NOT HISPANIC OR LATINO", "PTNAME": "Li Mei"},
        "101-009": {"BRTHDAT": "1955-01-01", "SEX": "M", "RACE": "ASIAN"},  # not enrolled
    },
    surg={"101-002": {"PRTRT": "NON-ANATOMICAL HEPATECTOMY"}},
)
EX = extract(
    "ex",
    [
        {
            "SUBJID": "101-001",
            "EXTRT": "SORAFENIB",
            "EXSTDAT": "2018-01-25",
            "EXENDAT": "2018-03-10",
            "EXDOSE": 400.0,
            "EXDOSU": "mg",
            "EXDOSFRQ": "QD",
        },
        {
            "SUBJID": "101-001",
            "EXTRT": "SORAFENIB",
            "EXSTDAT": "2018-03-11",
            "EXENDAT": "2018-03-20",
            "EXDOSE": 0.0,
            "EXDOSU": "mg",
            "EXDOSFRQ": "QD",
            "EXADJ": "ADVERSE EVENT",
        },
        {
            "SUBJID": "101-001",
            "EXTRT": "SORAFENIB",
            "EXSTDAT": "2018-03-21",
            "EXDOSE": 200.0,
            "EXDOSU": "mg",
            "EXDOSFRQ": "QD",
            "EXADJ": "AE RESOLVED",
        },
    ],
)
AE = extract(
    "ae",
    [
        {
            "SUBJID": "101-001",
            "AESPID": 1,
            "AETERM": "手足综合征",
            "AESTDAT": "2018-03-05",
            "AEENDAT": "2018-03-25",
            "AETOXGR": "3",
            "AESER": "N",
            "AEREL": "RELATED",
            "AEACN": "DRUG INTERRUPTED",
            "AEOUT": "RECOVERED/RESOLVED",
        },
        {
            "SUBJID": "101-002",
            "AESPID": 1,
            "AETERM": "腹泻",
            "AESTDAT": "2018-04",
            "AETOXGR": "1",
            "AESER": "N",
            "AEREL": "NOT APPLICABLE",
            "AEACN": "NOT APPLICABLE",
            "AEOUT": "RECOVERING/RESOLVING",
            "AEONGO": "Y",
        },
        {
            "SUBJID": "101-002",
            "AESPID": 2,
            "AETERM": "xyzzy pain thing",
            "AESTDAT": "2018-05-02",
            "AETOXGR": "1",
            "AESER": "N",
            "AEREL": "NOT APPLICABLE",
            "AEACN": "NOT APPLICABLE",
            "AEOUT": "UNKNOWN",
        },
    ],
)


@pytest.fixture(scope="module")
def dm():
    return build_dm(ENROL, DEMOG, SURG, EX)


@pytest.fixture(scope="module")
def se(dm):
    return se_mod.build(dm, ENROL)


def assert_conforms(result, name):
    ok, failures = validate_frame(result.data, load_dataset_spec("sdtm", name))
    assert ok, failures.to_string()


def test_dm_reference_dates_age_and_arms(dm):
    assert_conforms(dm, "dm")
    d = dm.data.set_index("USUBJID")
    assert list(d.index) == [S1, S2]
    assert d.loc[S1, ["RFSTDTC", "RFICDTC", "RFXSTDTC", "AGE", "ACTARMCD"]].tolist() == [
        "2018-01-10",
        "2018-01-20",
        "2018-01-25",
        57.0,
        "SORAFENIB",
    ]
    # Still on 200 mg at the cut-off: no last dose date yet; participation last seen at that period's start.
    assert pd.isna(d.loc[S1, "RFXENDTC"]) and d.loc[S1, "RFPENDTC"] == "2018-03-21"
    assert d.loc[S2, ["AGE", "ARMCD", "ACTARMCD", "COUNTRY"]].tolist() == [47.0, "CONTROL", "CONTROL", "CHN"]
    assert pd.isna(d.loc[S2, "RFXSTDTC"])


def test_dm_holds_no_identifier(dm):
    text = dm.data.astype(str).to_string()
    for ident in ["Zhang Wei", "ZW", "1960-05-15", "1970-12-31"]:
        assert ident not in text


def test_se_elements(se):
    assert_conforms(se, "se")
    rows = se.data[["USUBJID", "ETCD", "SESTDTC", "SEENDTC", "EPOCH"]].astype(object).where(se.data.notna(), None).values.tolist()
    assert rows == [
        [S1, "SCRN", "2018-01-10", "2018-01-25", "SCREENING"],
        [S1, "SORA", "2018-01-25", None, "TREATMENT"],
        [S2, "SCRN", "2018-02-01", "2018-02-12", "SCREENING"],
        [S2, "FU", "2018-02-12", "2018-02-12", "FOLLOW-UP"],
    ]


def test_ex_periods(dm, se):
    ex = ex_mod.build(EX, dm, se)
    assert_conforms(ex, "ex")
    d = ex.data
    assert d["EXSEQ"].tolist() == [1, 2, 3]
    assert d["EXDOSE"].tolist() == [400, 0, 200] and d["EXDOSTOT"].tolist() == [400, 0, 200]
    assert d["EXSTDY"].tolist() == [16, 61, 71]  # 2018-01-25 is day 16 after 2018-01-10
    assert d["EPOCH"].tolist() == ["TREATMENT"] * 3
    assert d["EXADJ"].tolist()[1:] == ["ADVERSE EVENT", "AE RESOLVED"]
    assert ex.lineage["RAWROW"].tolist() == [2, 3, 4]


def test_ae_coding_epoch_and_unknown_verbatim(dm, se):
    ae = ae_mod.build(AE, dm, se)
    assert_conforms(ae, "ae")
    d = ae.data.set_index("USUBJID")
    hfs = d.loc[S1]
    assert (hfs.AETERM, hfs.AEDECOD, hfs.AEBODSYS) == (
        "Hand-foot syndrome",
        "Palmar-plantar erythrodysaesthesia syndrome",
        "Skin and subcutaneous tissue disorders",
    )
    assert (hfs.AESTDY, hfs.AEENDY, hfs.EPOCH, hfs.AETOXGR) == (55, 75, "TREATMENT", "3")
    diarrhoea = d.loc[S2]
    assert diarrhoea.AESTDTC == "2018-04" and pd.isna(diarrhoea.AESTDY) and pd.isna(diarrhoea.EPOCH)
    assert diarrhoea.AEENRTPT == "ONGOING" and diarrhoea.AEENTPT == "2018-02-12"  # RFPENDTC
    # The unknown verbatim is a coding query, not an output record, and never upper-cased into AE.
    assert len(ae.data) == 2
    q = ae.queries
    assert q[["subjid", "field", "value", "rule"]].values.tolist() == [
        ["101-002", "AETERM", "xyzzy pain thing", "AE_TERM_UNKNOWN"]
    ]
    assert "XYZZY" not in ae.data.astype(str).to_string()


def test_records_of_unenrolled_subjects_become_queries(dm, se):
    stray = extract(
        "ae",
        [
            {
                "SUBJID": "101-009",
                "AESPID": 1,
                "AETERM": "腹泻",
                "AESTDAT": "2018-04-01",
                "AETOXGR": "1",
                "AESER": "N",
                "AEREL": "NOT APPLICABLE",
                "AEACN": "NOT APPLICABLE",
                "AEOUT": "UNKNOWN",
            }
        ],
    )
    ae = ae_mod.build(stray, dm, se)
    assert ae.data.empty and ae.queries["rule"].tolist() == ["SUBJECT_NOT_IN_DM"]


# --- EPOCH from SE: the rule, checked against a plain per-observation reading of it ------------------

_DAYS = st.one_of(st.none(), st.integers(0, 40))


def _iso(day: int | None, partial: bool) -> str | None:
    if day is None:
        return None
    return "2019-03" if partial else (dt.date(2019, 3, 1) + dt.timedelta(days=day)).isoformat()


def _epoch_by_rule(d: str | None, subject: str, se: pd.DataFrame) -> str | None:
    """The docstring's rule, one observation at a time: the containing element with the highest SESEQ."""
    if d is None or len(d) < 10:
        return None
    own = se[se["USUBJID"] == subject]
    best = None
    for r in own.itertuples():
        if r.SESTDTC is None or len(r.SESTDTC) < 10 or d < r.SESTDTC:
            continue
        last = own["SESEQ"].max() == r.SESEQ
        end_ok = r.SEENDTC is None or len(r.SEENDTC) < 10 or d < r.SEENDTC or (last and d <= r.SEENDTC)
        if end_ok and (best is None or best[0] <= r.SESEQ):
            best = (r.SESEQ, r.EPOCH)
    return None if best is None else best[1]


@settings(max_examples=150, deadline=None)
@given(
    elements=st.lists(
        st.tuples(
            st.sampled_from(["S1", "S2"]), _DAYS, _DAYS, st.booleans(), st.sampled_from(["SCREENING", "TREATMENT", "FOLLOW-UP"])
        ),
        max_size=6,
    ),
    obs=st.lists(st.tuples(st.sampled_from(["S1", "S2", "S3"]), _DAYS, st.booleans()), max_size=12),
)
def test_epoch_from_se_follows_the_rule_even_for_overlapping_or_odd_elements(elements, obs) -> None:
    rows = []
    for i, (subject, start, end, partial, epoch) in enumerate(elements):
        rows.append(
            {
                "USUBJID": subject,
                "SESTDTC": _iso(start, False),
                "SEENDTC": _iso(end, partial),
                "EPOCH": epoch,
                "SESEQ": float(i + 1),
            }
        )
    text = ["USUBJID", "SESTDTC", "SEENDTC", "EPOCH"]
    se = pd.DataFrame(rows, columns=[*text, "SESEQ"]).astype(dict.fromkeys(text, TEXT))
    dtc = pd.Series([_iso(day, partial) for _, day, partial in obs], index=np.arange(len(obs)) * 2, dtype=TEXT)
    subj = pd.Series([s for s, _, _ in obs], index=dtc.index, dtype=TEXT)
    got = epoch_from_se(dtc, subj, se)
    assert got.index.equals(dtc.index)
    plain = se.astype(object).where(se.notna(), None)
    assert listed(got) == [_epoch_by_rule(d, s, plain) for d, s in zip(listed(dtc), subj)]


def test_epoch_before_the_first_element_only_when_asked() -> None:
    """A date before the subject's first element has no EPOCH, or with ``before_first`` the first element's.

    S1: SCRN [2018-01-10, 2018-01-25), SORA [2018-01-25, ...). 2018-01-05 is before SCRN; 2018-01-09 the day
    before; 2018-01-10 is in SCRN either way; a partial date and a subject without elements never get one.
    """
    text = ["USUBJID", "SESTDTC", "SEENDTC", "EPOCH"]
    se = pd.DataFrame(
        {
            "USUBJID": ["S1", "S1"],
            "SESTDTC": ["2018-01-25", "2018-01-10"],
            "SEENDTC": [None, "2018-01-25"],
            "EPOCH": ["TREATMENT", "SCREENING"],
            "SESEQ": [2.0, 1.0],
        }
    ).astype(dict.fromkeys(text, TEXT))
    dtc = pd.Series(["2018-01-05", "2018-01-09", "2018-01-10", "2018-01", "2018-01-05"], dtype=TEXT)
    subj = pd.Series(["S1", "S1", "S1", "S1", "S2"], dtype=TEXT)
    assert listed(epoch_from_se(dtc, subj, se)) == [None, None, "SCREENING", None, None]
    assert listed(epoch_from_se(dtc, subj, se, before_first=True)) == ["SCREENING", "SCREENING", "SCREENING", None, None]


def test_last_observation_before_exposure() -> None:
    """Per subject and test, the latest eligible record (ties: the ``order`` column, then raw file and row)."""
    df = pd.DataFrame(
        {
            "USUBJID": ["S1", "S1", "S1", "S1", "S2"],
            "TESTCD": ["A", "A", "A", "B", "A"],
            "_dated": [0, 1, 1, 1, 1],
            "_file": ["f", "f", "f", "f", "f"],
            "_row": [2, 3, 4, 5, 6],
        }
    )
    when = pd.to_datetime(pd.Series([None, "2018-01-05", "2018-01-05", "2018-01-01", "2018-01-01"]))
    eligible = pd.Series([True, True, True, True, False])
    # S1/A: rows 3 and 4 tie on the date and _dated, so the later raw row (4) wins; S1/B its only row; S2 none.
    assert listed(last_before_exposure(df, ["TESTCD"], when, eligible, ["_dated"])) == [None, None, "Y", "Y", None]
