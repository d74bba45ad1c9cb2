"""The record-level trace of ADTTE: each time-to-event record back to its SDTM record and raw row.

ADTTE names its source with SRCDOM/SRCVAR/SRCSEQ (ADaMIG). Where SRCDOM is an SDTM domain,
SRCSEQ is that domain's --SEQ, and the domain's record lineage (``outputs/sdtm/lineage``:
USUBJID, RECORD = --SEQ, RAWFILE, RAWROW) gives the raw file and row the record was mapped
from. Where SRCDOM is ADSL (death or last-alive dates derived from several SDTM records) there
is no single raw row: the trace says so instead of guessing one.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

TRACE_COLS = ["USUBJID", "PARAMCD", "AVAL", "CNSR", "ADT", "EVNTDESC", "source", "SDTM record", "raw file", "raw row"]
# What the source record shows besides its date (variable names of the SDTM domain, if present).
_CONTEXT = ("RSTESTCD", "VISIT", "RSSTRESC", "RSDTC", "DSDECOD", "DSSTDTC", "AEDECOD", "AESTDTC")


def _text(v: object) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v.date()) if isinstance(v, pd.Timestamp) else str(v)


def adtte_trace(adtte: pd.DataFrame, sdtm: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]], usubjid: str = "") -> pd.DataFrame:
    """Take ADTTE, {domain: (SDTM data, record lineage)} and an optional USUBJID; return TRACE_COLS,
    one row per (ADTTE record, raw record), sorted by USUBJID and PARAMCD."""
    t = adtte if not usubjid else adtte[adtte["USUBJID"].astype(str).eq(usubjid)]
    rows: list[dict] = []
    for r in t.sort_values(["USUBJID", "PARAMCD"], kind="mergesort").itertuples(index=False):
        base = {
            "USUBJID": r.USUBJID,
            "PARAMCD": r.PARAMCD,
            "AVAL": _text(r.AVAL),
            "CNSR": _text(r.CNSR),
            "ADT": _text(r.ADT),
            "EVNTDESC": _text(getattr(r, "EVNTDESC", "")),
            "source": f"{_text(r.SRCDOM)}.{_text(r.SRCVAR)}"
            + (f" {_text(r.SRCDOM)}SEQ={_text(r.SRCSEQ)}" if _text(r.SRCSEQ) else ""),
            "SDTM record": "",
            "raw file": "",
            "raw row": "",
        }
        dom = _text(r.SRCDOM)
        if dom not in sdtm or not _text(r.SRCSEQ):
            base["SDTM record"] = (
                "derived in ADSL from several SDTM records (see ADSL's variable lineage)" if dom == "ADSL" else ""
            )
            rows.append(base)
            continue
        data, lineage = sdtm[dom]
        seq = float(r.SRCSEQ)
        seq_var = f"{dom}SEQ"
        rec = data[data["USUBJID"].astype(str).eq(str(r.USUBJID)) & data[seq_var].eq(seq)]
        if not rec.empty:
            x = rec.iloc[0]
            base["SDTM record"] = f"{dom} {seq_var}={int(seq)}: " + ", ".join(
                f"{c}={_text(x[c])}" for c in _CONTEXT if c in rec.columns and _text(x[c])
            )
        lin = lineage[lineage["USUBJID"].astype(str).eq(str(r.USUBJID)) & lineage["RECORD"].eq(seq)]
        if lin.empty:
            rows.append(base)
        for f, n in zip(lin["RAWFILE"], lin["RAWROW"]):
            rows.append({**base, "raw file": _text(f), "raw row": _text(n)})
    return pd.DataFrame(rows, columns=TRACE_COLS)
