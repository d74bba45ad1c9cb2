"""SUPPAE.AETRTEM and ADAE.TRTEMFL: one treatment-emergence rule (pipeline/teae.py), hand-worked at its boundaries.

Hepatectomy 2018-01-10 for every subject; data cut-off 2022-12-31 (specs/trial/study.yaml); window 30 days.
  T  sorafenib, first dose 2018-02-01, last dose 2018-06-30.
  O  sorafenib, dosing still open at the cut-off (RFXENDTC null): the reference ends at the cut-off.
  C  control: the reference starts at the hepatectomy and has no end.
  N  sorafenib, never dosed: no reference period, never treatment-emergent.
"""

import pandas as pd
from listed import listed
from test_adam_datasets import adsl_frame, ae

from pipeline.adam import adae
from pipeline.schemas import validate_frame
from pipeline.sdtm import suppae
from pipeline.sdtm.common import DomainResult, empty_queries
from pipeline.specs.datasets import load_dataset_spec
from pipeline.teae import reference_period, treatment_emergent

D = pd.Timestamp
T, O, C, N = "S-T", "S-O", "S-C", "S-N"
HEP = "2018-01-10"


def dm_row(usubjid, armcd, first=None, last=None):
    return {"STUDYID": "S", "USUBJID": usubjid, "ARMCD": armcd, "RFSTDTC": HEP, "RFXSTDTC": first, "RFXENDTC": last}


DM = DomainResult(
    "DM",
    pd.DataFrame(
        [
            dm_row(T, "SORAFENIB", "2018-02-01", "2018-06-30"),
            dm_row(O, "SORAFENIB", "2022-06-01", None),
            dm_row(C, "CONTROL"),
            dm_row(N, "SORAFENIB"),
        ]
    ),
    pd.DataFrame(),
    empty_queries(),
)

# (usubjid, AESEQ, AESTDTC, expected AETRTEM; None = no SUPPAE record)
CASES = [
    (T, 1, "2018-01-31", "N"),  # the day before the first dose
    (T, 2, "2018-02-01", "Y"),  # on the first dose
    (T, 3, "2018-02", "Y"),  # partial, first-dose month: imputed to the first dose
    (T, 4, "2018-07-30", "Y"),  # last dose + 30 days
    (T, 5, "2018-07-31", "N"),  # last dose + 31 days
    (T, 6, None, None),  # no start date: emergence unknown, no record
    (O, 1, "2022-12-20", "Y"),  # open dosing: reference end = cut-off
    (C, 1, "2018-01-09", "N"),  # the day before the hepatectomy
    (C, 2, "2018-01", "Y"),  # partial, hepatectomy month: imputed to the hepatectomy, as the sorafenib arm's
    (C, 3, "2017-12", "N"),  # partial, month before: the reference is not in its range, imputed to 2017-12-01
    (C, 4, "2020-05-01", "Y"),  # control: no end of the reference period
    (N, 1, "2018-03-01", "N"),  # never dosed: never treatment-emergent
]


def ae_result():
    rows = [ae(u, seq, st) for u, seq, st, _ in CASES]
    data = pd.DataFrame(rows)
    lineage = pd.DataFrame(
        {
            "DOMAIN": "AE",
            "USUBJID": data["USUBJID"],
            "RECORD": data["AESEQ"],
            "RAWFILE": "101/ae.csv",
            "RAWROW": range(2, len(data) + 2),
        }
    )
    return DomainResult("AE", data, lineage, empty_queries())


def test_aetrtem_by_hand():
    out = suppae.build(ae_result(), DM)
    spec = load_dataset_spec("sdtm", "suppae")
    ok, failures = validate_frame(out.data, spec)
    assert ok, failures.to_string()
    got = {(u, int(s)): q for u, s, q in out.data[["USUBJID", "IDVARVAL", "QVAL"]].itertuples(index=False, name=None)}
    want = {(u, seq): q for u, seq, _, q in CASES if q is not None}
    assert got == want
    r = out.data.iloc[0]
    assert (r.RDOMAIN, r.IDVAR, r.QNAM, r.QLABEL, r.QORIG) == ("AE", "AESEQ", "AETRTEM", "Treatment Emergent Flag", "Derived")
    assert out.data["QEVAL"].isna().all()
    assert len(out.lineage) == len(out.data) and out.lineage["RAWFILE"].isna().all()  # derived: no raw row of its own


def test_adae_trtemfl_agrees_with_suppae_record_by_record():
    adsl = adsl_frame(
        [
            {"USUBJID": T, "TRTSDT": D("2018-02-01"), "TRTEDT": D("2018-06-30")},
            {"USUBJID": O, "TRTSDT": D("2022-06-01"), "TRTEDT": D("2022-12-31")},
            {"USUBJID": C, "TRT01P": "CONTROL", "TRT01A": "CONTROL", "TRT01AN": 2.0},
            {"USUBJID": N, "TRT01A": "NOT TREATED", "TRT01AN": 3.0, "SAFFL": "N"},
        ]
    )
    a = adae.build(adsl, ae_result()).data.set_index(["USUBJID", "AESEQ"])
    keys = [(u, seq) for u, seq, _, _ in CASES]
    assert listed(a.loc[keys, "TRTEMFL"]) == ["Y" if q == "Y" else None for *_, q in CASES]
    # Control partial date in the hepatectomy month: imputed to HEPDT (flag D), study day 1.
    assert a.loc[(C, 2), ["ASTDT", "ASTDTF", "ASTDY"]].tolist() == [D(HEP), "D", 1]
    assert a.loc[(C, 3), ["ASTDT", "ASTDY"]].tolist() == [D("2017-12-01"), -40]
    # Never dosed: no reference, so no study day and no emergence (not from the hepatectomy as for a control).
    assert pd.isna(a.loc[(N, 1), "ASTDY"]) and pd.isna(a.loc[(N, 1), "TRTEMFL"])
    assert a.loc[(N, 1), "ASTDT"] == D("2018-03-01") and pd.isna(a.loc[(N, 1), "ASTDTF"])


def test_reference_period_and_rule_directly():
    arm = pd.Series(["SORAFENIB", "SORAFENIB", "CONTROL", "SORAFENIB"])
    first = pd.Series([D("2018-02-01"), D("2022-06-01"), pd.NaT, pd.NaT])
    last = pd.Series([D("2018-06-30"), pd.NaT, pd.NaT, pd.NaT])
    hep = pd.Series([D(HEP)] * 4)
    start, end = reference_period(arm, first, last, hep, "2022-12-31")
    assert listed(start) == [D("2018-02-01"), D("2022-06-01"), D(HEP), None]
    assert listed(end) == [D("2018-06-30"), D("2022-12-31"), None, None]
    astdt = pd.Series([D("2018-07-30"), D("2023-01-30"), pd.NaT, D("2018-03-01")])
    got = treatment_emergent(astdt, start, end, 30)
    # Cut-off + 30 is still inside; an unknown start is NA for a subject with a reference, False without one.
    assert got.tolist()[:2] == [True, True] and got.isna().tolist()[2] and got.tolist()[3] is False
    assert treatment_emergent(pd.Series([D("2018-07-31")]), start[:1], end[:1], 30).tolist() == [False]
    assert treatment_emergent(pd.Series([D("2018-07-31")]), start[:1], end[:1], 31).tolist() == [True]
