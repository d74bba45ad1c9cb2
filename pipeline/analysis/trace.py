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


def _first_match(want: pd.DataFrame, usubjid: pd.Series, seq: pd.Series) -> pd.DataFrame:
    """The rows of a frame whose (USUBJID, sequence number) is one of ``want`` (columns u, s), in the
    frame's order: columns u, s and pos (the row's position in the frame)."""
    keys = pd.DataFrame({"u": usubjid.astype(str).to_numpy(dtype=object), "s": seq.astype("float64").to_numpy()})
    keys["pos"] = range(len(keys))
    return want.merge(keys, on=["u", "s"], how="inner").sort_values("pos", kind="mergesort")


def adtte_trace(adtte: pd.DataFrame, sdtm: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]], usubjid: str = "") -> pd.DataFrame:
    """Take ADTTE, {domain: (SDTM data, record lineage)} and an optional USUBJID; return TRACE_COLS,
    one row per (ADTTE record, raw record), sorted by USUBJID and PARAMCD.

    The SDTM record of an ADTTE record is the first of its domain with its USUBJID and --SEQ =
    SRCSEQ; its raw records are every lineage row with that USUBJID and RECORD = SRCSEQ, in the
    lineage's order. Each domain is matched once for all ADTTE records (a join, not a search per
    record), so tracing every subject of a large study takes seconds.
    """
    t = adtte if not usubjid else adtte[adtte["USUBJID"].astype(str).eq(usubjid)]
    t = t.sort_values(["USUBJID", "PARAMCD"], kind="mergesort")
    dom = [_text(v) for v in t["SRCDOM"]]
    seq_text = [_text(v) for v in t["SRCSEQ"]]
    ustr = t["USUBJID"].astype(str).tolist()
    traced = [d in sdtm and bool(q) for d, q in zip(dom, seq_text)]
    seqs = [float(v) if ok else float("nan") for v, ok in zip(t["SRCSEQ"], traced)]
    record: dict[tuple[str, str, float], str] = {}  # (domain, USUBJID, seq) -> the SDTM record's text
    raw: dict[tuple[str, str, float], list[tuple[str, str]]] = {}  # -> its (raw file, raw row) pairs
    for d in sorted({d for d, ok in zip(dom, traced) if ok}):
        data, lineage = sdtm[d]
        seq_var = f"{d}SEQ"
        want = pd.DataFrame(
            {
                "u": [u for u, x, ok in zip(ustr, dom, traced) if ok and x == d],
                "s": [s for s, x, ok in zip(seqs, dom, traced) if ok and x == d],
            }
        ).drop_duplicates()
        first = _first_match(want, data["USUBJID"], data[seq_var]).drop_duplicates(["u", "s"])
        cols = [c for c in _CONTEXT if c in data.columns]
        ctx = {c: data[c].iloc[first["pos"].to_numpy()].tolist() for c in cols}
        for i, (u, s) in enumerate(zip(first["u"], first["s"])):
            record[(d, u, s)] = f"{d} {seq_var}={int(s)}: " + ", ".join(
                f"{c}={_text(ctx[c][i])}" for c in cols if _text(ctx[c][i])
            )
        lin = _first_match(want, lineage["USUBJID"], lineage["RECORD"])
        pos = lin["pos"].to_numpy()
        files, rows_ = lineage["RAWFILE"].iloc[pos].tolist(), lineage["RAWROW"].iloc[pos].tolist()
        for u, s, f, n in zip(lin["u"], lin["s"], files, rows_):
            raw.setdefault((d, u, s), []).append((_text(f), _text(n)))
    rows: list[dict] = []
    cols_t = ["AVAL", "CNSR", "ADT", "SRCVAR", "PARAMCD", "USUBJID"]
    ev = t["EVNTDESC"].tolist() if "EVNTDESC" in t.columns else [""] * len(t)
    values = zip(*(t[c].tolist() for c in cols_t), ev, dom, seq_text, ustr, seqs, traced)
    for aval, cnsr, adt, srcvar, paramcd, usub, evntdesc, d, q, u, s, ok in values:
        base = {
            "USUBJID": usub,
            "PARAMCD": paramcd,
            "AVAL": _text(aval),
            "CNSR": _text(cnsr),
            "ADT": _text(adt),
            "EVNTDESC": _text(evntdesc),
            "source": f"{d}.{_text(srcvar)}" + (f" {d}SEQ={q}" if q else ""),
            "SDTM record": "",
            "raw file": "",
            "raw row": "",
        }
        if not ok:
            base["SDTM record"] = "derived in ADSL from several SDTM records (see ADSL's variable lineage)" if d == "ADSL" else ""
            rows.append(base)
            continue
        base["SDTM record"] = record.get((d, u, s), "")
        pairs = raw.get((d, u, s))
        if not pairs:
            rows.append(base)
        for f, n in pairs or ():
            rows.append({**base, "raw file": f, "raw row": n})
    return pd.DataFrame(rows, columns=TRACE_COLS)
