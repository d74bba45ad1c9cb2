"""ADSL — one record per subject: treatment, populations, time origin, baseline covariates, death and disposition.

Rules in specs/adam/adsl.yaml. Baseline covariates are read from the SDTM findings of
the surgery and pathology form (RS clinical classifications, MI, LB, MB, MH).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.adam.common import AdamResult, finalize_adam
from pipeline.dates import complete_date
from pipeline.imputation import impute_date
from pipeline.sdtm.common import DomainResult
from pipeline.specs.study import load_study

NAME = "ADSL"
INPUTS = {
    "dm": ["sdtm", "dm"],
    "pr": ["sdtm", "pr"],
    "ds": ["sdtm", "ds"],
    "ex": ["sdtm", "ex"],
    "ae": ["sdtm", "ae"],
    "lb": ["sdtm", "lb"],
    "mi": ["sdtm", "mi"],
    "mb": ["sdtm", "mb"],
    "mh": ["sdtm", "mh"],
    "rs": ["sdtm", "rs"],
    "ss": ["sdtm", "ss"],
}
NOT_TREATED = "NOT TREATED"  # TRT01A of a subject never dosed; TRT01AN after the arms


def finding(df: pd.DataFrame, test_var: str, testcd: str, result: str, extra: pd.Series | None = None) -> pd.Series:
    """Per-USUBJID value of ``result`` for the record with ``test_var == testcd`` (first by --SEQ)."""
    sel = df[test_var].eq(testcd)
    if extra is not None:
        sel &= extra
    rows = df[sel].drop_duplicates("USUBJID")
    return rows.set_index("USUBJID")[result]


def last_alive(dm, ds, ex, ae, lb, rs, ss) -> pd.Series:
    """Latest complete date per USUBJID on which the subject is known to be alive."""

    def by_subject(df: pd.DataFrame, col: str) -> pd.Series:
        return df[["USUBJID", col]].set_index("USUBJID")[col]  # two columns, not the whole domain

    alive = ss.data["SSSTRESC"].eq("ALIVE")
    parts = [
        by_subject(rs.data, "RSDTC"),
        by_subject(ds.data, "DSSTDTC"),
        by_subject(lb.data, "LBDTC"),
        by_subject(ex.data, "EXSTDTC"),
        by_subject(ex.data, "EXENDTC"),
        by_subject(ae.data, "AESTDTC"),
        by_subject(ae.data, "AEENDTC"),
        by_subject(ss.data[alive], "SSDTC"),
        by_subject(dm.data, "RFSTDTC"),
        by_subject(dm.data, "RFICDTC"),
    ]
    dates = pd.concat([complete_date(p) for p in parts if len(p)])
    return dates.groupby(level=0).max()


def _status(ds: pd.DataFrame, scat: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    ev = ds[ds["DSSCAT"].eq(scat) & ds["DSCAT"].eq("DISPOSITION EVENT")].drop_duplicates("USUBJID").set_index("USUBJID")
    stt = pd.Series(np.where(ev["DSDECOD"].eq("COMPLETED"), "COMPLETED", "DISCONTINUED"), index=ev.index)
    reason = ev["DSDECOD"].where(ev["DSDECOD"].ne("COMPLETED"))
    return stt, complete_date(ev["DSSTDTC"]), reason


def build(
    dm: DomainResult,
    pr: DomainResult,
    ds: DomainResult,
    ex: DomainResult,
    ae: DomainResult,
    lb: DomainResult,
    mi: DomainResult,
    mb: DomainResult,
    mh: DomainResult,
    rs: DomainResult,
    ss: DomainResult,
) -> AdamResult:
    """ADSL from the SDTM domains."""
    study = load_study()
    d = dm.data.set_index("USUBJID")
    out = d[
        [
            "STUDYID",
            "SUBJID",
            "SITEID",
            "AGE",
            "AGEU",
            "SEX",
            "RACE",
            "ETHNIC",
            "COUNTRY",
            "ARMCD",
            "ARM",
            "ACTARMCD",
            "ACTARM",
            "DTHFL",
        ]
    ].copy()
    out["AGEGR1"] = np.where(out["AGE"] >= 65, ">=65", np.where(out["AGE"].notna(), "<65", None))  # type: ignore[call-overload]  # numpy's stubs take no None fill value
    out["TRT01P"] = out["ARMCD"]
    out["TRT01A"] = out["ACTARMCD"].where(out["ACTARMCD"].notna(), NOT_TREATED)
    # TRTxxPN/AN: the arm's position in specs/trial/study.yaml (1 = SORAFENIB, 2 = CONTROL), then NOT TREATED.
    trtn = {a.armcd: float(i) for i, a in enumerate(study.arms, start=1)} | {NOT_TREATED: float(len(study.arms) + 1)}
    out["TRT01PN"], out["TRT01AN"] = out["TRT01P"].map(trtn), out["TRT01A"].map(trtn)
    out["RFICDT"] = complete_date(d["RFICDTC"])
    out["HEPDT"] = complete_date(pr.data.drop_duplicates("USUBJID").set_index("USUBJID")["PRSTDTC"]).reindex(out.index)
    out["FASFL"] = np.where(out["HEPDT"].notna(), "Y", "N")
    out["SAFFL"] = np.where(out["ACTARMCD"].isin([a.armcd for a in study.arms]), "Y", "N")

    out["TRTSDT"] = complete_date(d["RFXSTDTC"])
    # Still dosing at the cut-off: exposure so far ends at the cut-off (RFXENDTC is null in SDTM).
    open_dosing = d["RFXSTDTC"].notna() & d["RFXENDTC"].isna()
    out["TRTEDT"] = complete_date(d["RFXENDTC"]).where(~open_dosing, pd.Timestamp(study.data_cutoff))
    out["TRTDURD"] = ((out["TRTEDT"] - out["TRTSDT"]).dt.days + 1).astype("float64")

    r = rs.data
    out["BCLC"] = finding(r, "RSTESTCD", "BCLC101", "RSSTRESC").reindex(out.index)
    out["ECOGBL"] = finding(r, "RSTESTCD", "ECOG101", "RSSTRESN").reindex(out.index)
    out["CPSCORBL"] = finding(r, "RSTESTCD", "CPS0106", "RSSTRESN").reindex(out.index)
    m = mi.data
    out["TUMSZBL"] = finding(m, "MITESTCD", "LDIAM", "MISTRESN").reindex(out.index)
    out["TUMNUMBL"] = finding(m, "MITESTCD", "TUMNUM", "MISTRESN").reindex(out.index)
    out["EDMGRBL"] = finding(m, "MITESTCD", "OVLTGRD", "MISTRESC").reindex(out.index)
    out["TUMSZGR1"] = np.where(out["TUMSZBL"] > 5, ">5 cm", np.where(out["TUMSZBL"].notna(), "<=5 cm", None))  # type: ignore[call-overload]  # numpy's stubs take no None fill value
    out["TUMNUMGR"] = np.where(out["TUMNUMBL"] > 1, "MULTIPLE", np.where(out["TUMNUMBL"].notna(), "SINGLE", None))  # type: ignore[call-overload]  # numpy's stubs take no None fill value
    out["EDMGR1"] = out["EDMGRBL"].map({"I": "I-II", "II": "I-II", "III": "III-IV", "IV": "III-IV"})
    out["AFPBL"] = finding(lb.data, "LBTESTCD", "AFP", "LBSTRESN", lb.data["LBTPT"].eq("PRE-OPERATIVE")).reindex(out.index)
    out["AFPGR1"] = np.where(out["AFPBL"] > 400, ">400", np.where(out["AFPBL"].notna(), "<=400", None))  # type: ignore[call-overload]  # numpy's stubs take no None fill value
    out["HBSAGBL"] = finding(mb.data, "MBTESTCD", "HBSAG", "MBSTRESC").reindex(out.index)
    out["CIRRHFL"] = mh.data.drop_duplicates("USUBJID").set_index("USUBJID")["MHOCCUR"].reindex(out.index)

    alive = last_alive(dm, ds, ex, ae, lb, rs, ss).reindex(out.index)
    dthdt, out["DTHDTF"] = impute_date(d["DTHDTC"], "first", min_dates=alive)
    out["DTHDT"] = dthdt
    out["LSTALVDT"] = alive.where(dthdt.isna() | (alive <= dthdt), dthdt)

    eos, eosdt, dcs = _status(ds.data, "END OF STUDY")
    out["EOSSTT"] = eos.reindex(out.index).fillna("ONGOING")
    out["EOSDT"], out["DCSREAS"] = eosdt.reindex(out.index), dcs.reindex(out.index)
    eot, _, dct = _status(ds.data, "END OF TREATMENT")
    out["EOTSTT"] = eot.reindex(out.index).where(out["TRTSDT"].notna())
    out["EOTSTT"] = out["EOTSTT"].where(out["EOTSTT"].notna() | out["TRTSDT"].isna(), "ONGOING")
    out["DCTREAS"] = dct.reindex(out.index)
    return finalize_adam(out.rename_axis("USUBJID").reset_index(), "adsl")
