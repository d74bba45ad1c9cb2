"""A time-to-event engine following admiral's ``derive_param_tte`` rules.

Given ADSL (one row per subject, with the time origin) and event and censoring
sources, it returns one ADTTE row per subject for one parameter:

* per event source, the subject's earliest qualifying record (ties: lower source
  sequence); across event sources the earliest date wins, ties go to the source listed first;
* per censoring source, the subject's latest record; across censoring sources the
  latest date wins, ties go to the source listed last;
* a subject with an event gets the event, whatever its censoring dates;
* a date before the origin is moved to the origin (ADT = max(ADT, STARTDT));
* CNSR = 0 for an event, the source's positive code for a censoring;
* a censored subject with a record of a competing-event source (a death without recurrence
  for time to recurrence) takes that source's CNSR code and EVNTDESC, keeping the censoring's
  ADT and CNSDTDSC: Kaplan-Meier still censors it there, and a competing-risk analysis finds
  the competing event's kind in ADTTE and its date in the parameter of that event;
* AVAL = ADT - STARTDT + 1 (days).

The result does not depend on the order of input rows: every choice is made on
sorted keys (USUBJID, date, source sequence).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.columns import isin


@dataclass(frozen=True)
class TTESource:
    """One event or censoring source (admiral's ``event_source`` / ``censor_source``).

    dataset: name of the input frame in the ``sources`` mapping.
    date: column of that frame holding the date (datetime64).
    cnsr: 0 for an event source, a positive censoring code otherwise.
    filter: optional predicate selecting the qualifying records.
    evntdesc: EVNTDESC (events) or CNSDTDSC (censorings) text.
    srcdom, srcvar: SRCDOM/SRCVAR of the SDTM/ADaM record that decides the row.
    seq: column giving SRCSEQ (e.g. RSSEQ), or None.
    dtf: optional column holding the date's imputation flag (copied to ADTF).
    """

    dataset: str
    date: str
    cnsr: int
    evntdesc: str
    srcdom: str
    srcvar: str
    seq: str | None = None
    filter: Callable[[pd.DataFrame], pd.Series] | None = None
    dtf: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


def _candidates(sources: dict[str, pd.DataFrame], srcs: list[TTESource], kind: str) -> pd.DataFrame:
    rows = []
    for order, s in enumerate(srcs):
        df = sources[s.dataset]
        if s.filter is not None:
            df = df[s.filter(df).fillna(False).astype(bool)]
        df = df[df[s.date].notna()]
        rows.append(
            pd.DataFrame(
                {
                    "USUBJID": df["USUBJID"].to_numpy(),
                    "ADT": pd.to_datetime(df[s.date]).to_numpy(),
                    "SRCSEQ": df[s.seq].astype("float64").to_numpy() if s.seq else np.nan,
                    "ADTF": df[s.dtf].to_numpy() if s.dtf else None,
                    "_order": order,
                    "_kind": kind,
                }
            )
        )
    if not rows:
        return pd.DataFrame(columns=["USUBJID", "ADT", "SRCSEQ", "ADTF", "_order", "_kind"])
    return pd.concat(rows, ignore_index=True)


def derive_param_tte(
    adsl: pd.DataFrame,
    sources: dict[str, pd.DataFrame],
    events: list[TTESource],
    censors: list[TTESource],
    paramcd: str,
    param: str,
    start_date: str = "STARTDT",
    competing: list[TTESource] | None = None,
) -> pd.DataFrame:
    """One ADTTE parameter for every ADSL subject with at least one event or censoring.

    Returns STUDYID, USUBJID, PARAMCD, PARAM, STARTDT, ADT, ADTF, AVAL, AVALU, CNSR,
    EVNTDESC, CNSDTDSC, SRCDOM, SRCVAR, SRCSEQ.
    """
    ev = _candidates(sources, events, "event")
    # Per event source: first record by date, then by source sequence.
    ev = ev.sort_values(["USUBJID", "ADT", "_order", "SRCSEQ"], kind="mergesort")
    ev_best = ev.drop_duplicates("USUBJID", keep="first")

    ce = _candidates(sources, censors, "censor")
    # Per censoring source the last record; across sources the latest date, ties to the later source.
    ce = ce.sort_values(["USUBJID", "ADT", "_order", "SRCSEQ"], kind="mergesort")
    ce_best = ce.drop_duplicates("USUBJID", keep="last")

    chosen = pd.concat([ev_best, ce_best[~isin(ce_best["USUBJID"], ev_best["USUBJID"])]], ignore_index=True)
    meta = []
    for kind, srcs in (("event", events), ("censor", censors)):
        for order, s in enumerate(srcs):
            meta.append(
                {
                    "_kind": kind,
                    "_order": order,
                    "CNSR": float(s.cnsr),
                    "EVNTDESC": s.evntdesc if kind == "event" else None,
                    "CNSDTDSC": s.evntdesc if kind == "censor" else None,
                    "SRCDOM": s.srcdom,
                    "SRCVAR": s.srcvar,
                }
            )
    chosen = chosen.merge(pd.DataFrame(meta), on=["_kind", "_order"], how="left")
    for s in competing or []:
        comp = _candidates(sources, [s], "competing")["USUBJID"]
        hit = chosen["_kind"].eq("censor") & isin(chosen["USUBJID"], comp)
        chosen.loc[hit, "CNSR"] = float(s.cnsr)
        chosen.loc[hit, "EVNTDESC"] = s.evntdesc

    base = adsl[["STUDYID", "USUBJID", start_date]].rename(columns={start_date: "STARTDT"})
    out = base.merge(chosen, on="USUBJID", how="inner")
    out["STARTDT"] = pd.to_datetime(out["STARTDT"])
    # An event or censoring before the origin is moved to the origin.
    before = out["ADT"] < out["STARTDT"]
    out["ADT"] = out["ADT"].where(~before, out["STARTDT"])
    out["AVAL"] = ((out["ADT"] - out["STARTDT"]).dt.days + 1).astype("float64")
    out["AVALU"] = "DAYS"
    out["PARAMCD"] = paramcd
    out["PARAM"] = param
    cols = [
        "STUDYID",
        "USUBJID",
        "PARAMCD",
        "PARAM",
        "STARTDT",
        "ADT",
        "ADTF",
        "AVAL",
        "AVALU",
        "CNSR",
        "EVNTDESC",
        "CNSDTDSC",
        "SRCDOM",
        "SRCVAR",
        "SRCSEQ",
    ]
    return out[cols].sort_values("USUBJID", kind="mergesort").reset_index(drop=True)
