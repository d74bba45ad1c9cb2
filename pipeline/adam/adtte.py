"""ADTTE — RFS, TTR and OS for every ADSL subject, from the hepatectomy (rules in specs/adam/adtte.yaml).

Sources: recurrence = the first RS OVRLRESP record with RELAPSED DISEASE, dated by its
assessment (RSDTC), or the collected diagnosis date of that recurrence (SUPPRS RECURDTC) when
it certainly precedes the assessment (a recurrence found outside the schedule). A partial date
is imputed to the first possible day, not before the day after the last assessment without
recurrence. Last assessment without recurrence = the last RS OVRLRESP record with NED;
death = ADSL.DTHDT; last known alive = ADSL.LSTALVDT; no assessment = ADSL.HEPDT.
"""

from __future__ import annotations

import pandas as pd

from pipeline.adam.common import AdamResult, finalize_adam
from pipeline.adam.tte import TTESource, derive_param_tte
from pipeline.columns import stack
from pipeline.dates import complete_date
from pipeline.imputation import impute_date, possible_range
from pipeline.sdtm.common import DomainResult
from pipeline.specs.ct import load_ct, paired_value

NAME = "ADTTE"
INPUTS = {"adsl": ["adam", "adsl"], "rs": ["sdtm", "rs"], "supprs": ["sdtm", "supprs"]}

RECURRENCE = "RELAPSED DISEASE"
COMPETING_CNSR = 4  # CNSR of a TTR record censored because the subject died without recurrence
NO_DISEASE = "NED"


def assessment_sources(rs: pd.DataFrame, supprs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(recurrences by assessment, recurrences by earlier diagnosis date, assessments without recurrence).

    Each with USUBJID, ADT (datetime), ADTF, RSSEQ.
    """
    # Only the columns used here are filtered (RS has 1.6 M records at 100,000 subjects).
    ovr = rs.loc[rs["RSTESTCD"].eq("OVRLRESP"), ["USUBJID", "RSSEQ", "RSDTC", "RSSTRESC"]]
    ned = ovr[ovr["RSSTRESC"].eq(NO_DISEASE)].copy()
    ned["ADT"], ned["ADTF"] = complete_date(ned["RSDTC"]), None
    # A recurrence cannot predate an assessment that found no disease: a partial date is
    # imputed no earlier than the day after the last NED assessment before it.
    last_ned = ned.groupby("USUBJID")["ADT"].max()
    rec = ovr[ovr["RSSTRESC"].eq(RECURRENCE)].copy()
    floor = (rec["USUBJID"].map(last_ned) + pd.Timedelta(days=1)).set_axis(rec.index)
    rec["ADT"], rec["ADTF"] = impute_date(rec["RSDTC"], "first", min_dates=floor)

    diag = supprs[supprs["QNAM"].eq("RECURDTC")].copy()
    diag["RSSEQ"] = pd.to_numeric(diag["IDVARVAL"]).astype("float64")
    diag = diag.merge(rec[["USUBJID", "RSSEQ", "ADT"]].rename(columns={"ADT": "ASSESSDT"}), on=["USUBJID", "RSSEQ"], how="inner")
    _, latest = possible_range(diag["QVAL"])
    diag = diag[latest < diag["ASSESSDT"]].copy()  # only a date that certainly precedes the assessment
    floor = (diag["USUBJID"].map(last_ned) + pd.Timedelta(days=1)).set_axis(diag.index)
    diag["ADT"], diag["ADTF"] = impute_date(diag["QVAL"], "first", min_dates=floor)
    cols = ["USUBJID", "ADT", "ADTF", "RSSEQ"]
    return rec[cols], diag[cols], ned[cols]


def param_name(ct: dict, paramcd: str) -> str:
    """PARAM of an ADTTE PARAMCD: its PARAMCD_TTE/PARAM_TTE pair in specs/ct/adam_ct.csv (KeyError if unpaired)."""
    name = paired_value(ct, "PARAMCD_TTE", "PARAM_TTE", paramcd)
    if name is None:
        raise KeyError(f"PARAMCD {paramcd!r} has no PARAM_TTE pair in specs/ct/adam_ct.csv")
    return name


def build(adsl: AdamResult, rs: DomainResult, supprs: DomainResult) -> AdamResult:
    """Three parameters per ADSL subject; SRCDOM/SRCVAR/SRCSEQ name the record that decided each row."""
    s = adsl.data
    rec, diag, ned = assessment_sources(rs.data, supprs.data)
    sources = {"adsl": s, "rec": rec, "diag": diag, "ned": ned}
    recurrence = TTESource("rec", "ADT", 0, "RECURRENCE", "RS", "RSDTC", seq="RSSEQ", dtf="ADTF")
    diagnosis = TTESource("diag", "ADT", 0, "RECURRENCE", "SUPPRS", "QVAL", seq="RSSEQ", dtf="ADTF")
    death = TTESource("adsl", "DTHDT", 0, "DEATH", "ADSL", "DTHDT", dtf="DTHDTF")
    origin = TTESource("adsl", "HEPDT", 1, "NO ASSESSMENT AFTER HEPATECTOMY", "ADSL", "HEPDT")
    last_ned = TTESource("ned", "ADT", 2, "LAST ASSESSMENT WITHOUT RECURRENCE", "RS", "RSDTC", seq="RSSEQ")
    alive = TTESource("adsl", "LSTALVDT", 3, "LAST KNOWN ALIVE", "ADSL", "LSTALVDT")
    # TTR: a death without recurrence competes with recurrence (CNSR 4); its date is OS's ADT.
    competing_death = TTESource("adsl", "DTHDT", COMPETING_CNSR, "DEATH WITHOUT RECURRENCE", "ADSL", "DTHDT")
    params = [
        ("RFS", [recurrence, diagnosis, death], [origin, last_ned], None),
        ("TTR", [recurrence, diagnosis], [origin, last_ned], [competing_death]),
        ("OS", [death], [origin, alive], None),
    ]
    ct = load_ct()
    parts = [
        # PARAM: the PARAM_TTE term paired with the code in specs/ct/adam_ct.csv.
        derive_param_tte(s, sources, ev, ce, code, param_name(ct, code), start_date="HEPDT", competing=cr)
        for code, ev, ce, cr in params
    ]
    out = stack(parts, ignore_index=True)
    sub = s.set_index("USUBJID").reindex(out["USUBJID"])
    for c in ["SUBJID", "SITEID", "TRT01P", "TRT01A", "FASFL"]:
        out[c] = sub[c].to_numpy()
    order = {code: i for i, code in enumerate(sorted(p[0] for p in params), start=1)}  # ASEQ follows the sort order (PARAMCD)
    out["ASEQ"] = out["PARAMCD"].map(order).astype("float64")
    return finalize_adam(out, "adtte")
