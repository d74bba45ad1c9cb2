"""Mechanics shared by every SDTM domain: keys, --SEQ, --DY, EPOCH, lineage, spec order.

Each domain module maps raw records to SDTM variables while carrying the lineage
columns ``_file`` and ``_row`` (the raw file and row a record came from, as sdtm.oak
keeps its oak_id_vars), given by :func:`carry_lineage` (or :func:`spec_lineage` for
trial-design rows read from ``specs/trial``). :func:`finalize` splits those off into the
lineage table and raises :class:`LineageError` for a record without them, unless the
call declares the dataset derived from other SDTM records (``derived=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.columns import TEXT, as_char, take_text
from pipeline.dates import complete_date
from pipeline.ops.queries import QUERY_COLS
from pipeline.specs.datasets import DatasetSpec, load_dataset_spec

LINEAGE_COLS = ["_file", "_row"]


class LineageError(ValueError):
    """Records of an SDTM dataset that name no raw file and row (and the dataset is not declared derived)."""


def carry_lineage(out: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    """Give each record of ``out`` the raw file and row of the ``source`` record with the same index label.

    ``source`` holds ``_file``/``_row`` (a FormExtract's data or records mapped from it); ``out`` is
    changed in place and returned.
    """
    for c in LINEAGE_COLS:
        out[c] = source[c]
    return out


def spec_lineage(out: pd.DataFrame, file: str, rows: pd.Series | np.ndarray) -> pd.DataFrame:
    """Records read from a table of ``specs/`` (trial design): ``_file`` = its path, ``_row`` = its line numbers."""
    out["_file"], out["_row"] = file, rows
    return out


@dataclass(frozen=True)
class DomainResult:
    """An SDTM dataset with its record-level lineage and the problems met mapping it.

    data: the domain, variables in spec order, sorted by the spec's sort keys.
    lineage: one row per (SDTM record, raw record): USUBJID, the record's --SEQ (or its
        row number for datasets without --SEQ), RAWFILE, RAWROW.
    queries: one row per problem (columns QUERY_COLS), the record held back from ``data``.
    """

    domain: str
    data: pd.DataFrame
    lineage: pd.DataFrame
    queries: pd.DataFrame


def empty_queries() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in QUERY_COLS})


def make_queries(
    records: pd.DataFrame, form: str, field: str, value: pd.Series, rule: str, message: str | pd.Series
) -> pd.DataFrame:
    """Query rows for ``records`` (which carry SITEID, SUBJID, _file, _row)."""
    if records.empty:
        return empty_queries()
    out = pd.DataFrame(
        {
            "siteid": records["SITEID"].astype(str).to_numpy(),
            "subjid": records["SUBJID"].astype(str).to_numpy(),
            "form": form,
            "file": records["_file"].to_numpy(),
            "row": records["_row"].to_numpy(),
            "field": field,
            "value": value.astype("string").fillna("").to_numpy(),
            "rule": rule,
        }
    )
    out["message"] = message.to_numpy() if isinstance(message, pd.Series) else message
    return out[QUERY_COLS]


def usubjid(studyid: str, siteid: pd.Series, subjid: pd.Series) -> pd.Series:
    """USUBJID = STUDYID-SITEID-SUBJID (unique across the sponsor's studies)."""
    return studyid + "-" + siteid.astype(str) + "-" + subjid.astype(str)


def derive_seq(df: pd.DataFrame, seq_var: str, order: list[str]) -> pd.DataFrame:
    """Add ``seq_var`` = 1..n within USUBJID, ordered by ``order`` then raw file and row.

    The raw position is the last tie-breaker so the numbering never depends on the
    order rows arrive in.
    """
    keys = ["USUBJID", *order, *[c for c in LINEAGE_COLS if c in df.columns]]
    # Only the key columns are sorted; the rows stay where they are (finalize orders the dataset
    # once, with ``seq_var`` as its last tie-breaker), so no text column is copied here.
    pos = df[keys].reset_index(drop=True).sort_values(keys, kind="mergesort", na_position="last").index.to_numpy()
    subject = pd.factorize(df["USUBJID"])[0][pos]
    step = np.arange(len(df))
    first = np.maximum.accumulate(np.where(np.r_[True, subject[1:] != subject[:-1]], step, 0))  # each subject's first row
    seq = np.empty(len(df), dtype="float64")
    seq[pos] = step - first + 1
    out = df.copy(deep=False)
    out[seq_var] = seq
    return out


def epoch_from_se(dtc: pd.Series, usubjid: pd.Series, se: pd.DataFrame, before_first: bool = False) -> pd.Series:
    """EPOCH of each observation date from the subject's elements in SE (rule in specs/sdtm/se.yaml).

    The element with SESTDTC <= date < SEENDTC gives the EPOCH; the subject's last element
    also includes its end date, and an element without an end is open. Null when the date
    is partial or missing, or before the first element (earlier than RFSTDTC) unless
    ``before_first``: then a date before the subject's first element takes that element's
    EPOCH (a pre-operative assessment belongs to SCREENING).
    Several elements containing the date: the one with the highest SESEQ. Returns ``TEXT``.
    """
    d = complete_date(dtc).to_numpy()
    st, en = complete_date(se["SESTDTC"]).to_numpy(), complete_date(se["SEENDTC"]).to_numpy()
    seq = se["SESEQ"].to_numpy(dtype="float64")
    # Subjects as integer codes shared by elements and observations; a subject's elements are
    # then one run of the elements sorted by code, and each observation tries the few of its
    # subject's run in turn (at most a handful) instead of a merge of every pair.
    codes, _ = pd.factorize(pd.concat([se["USUBJID"].astype(TEXT), usubjid.astype(TEXT)], ignore_index=True))
    ec, oc = codes[: len(se)], codes[len(se) :]
    last = seq == pd.Series(seq).groupby(ec).transform("max").to_numpy()
    order = np.argsort(ec, kind="stable")
    first = np.searchsorted(ec[order], oc, "left")
    count = np.searchsorted(ec[order], oc, "right") - first
    best = np.full(len(d), -1, dtype=np.int64)
    best_seq = np.full(len(d), -np.inf)
    for j in range(int(count.max(initial=0))):
        rows = np.flatnonzero(count > j)
        el = order[first[rows] + j]
        dj = d[rows]
        inside = (dj >= st[el]) & (np.isnat(en[el]) | (dj < en[el]) | (last[el] & (dj <= en[el])))
        take = inside & (seq[el] >= best_seq[rows])  # equal SESEQ: the later element, as before
        best[rows[take]], best_seq[rows[take]] = el[take], seq[el[take]]
    if before_first and len(se):
        # The subject's first element: the earliest start (the lowest SESEQ among equal starts).
        first_el = (
            pd.DataFrame({"c": ec, "st": st, "seq": seq}).sort_values(["c", "st", "seq"], kind="mergesort").drop_duplicates("c")
        )
        lookup = pd.Series(first_el.index.to_numpy(), index=first_el["c"].to_numpy())
        el0 = lookup.reindex(oc).to_numpy()
        has = ~np.isnan(el0)
        el0 = np.where(has, el0, 0).astype(np.int64)
        early = (best < 0) & has & ~np.isnat(d) & (d < st[el0])
        best[early] = el0[early]
    epochs = se["EPOCH"].to_numpy(dtype=object)
    return take_text(epochs, best, dtc.index) if len(epochs) else pd.Series(np.nan, index=dtc.index, dtype=TEXT)


def _check_lineage(df: pd.DataFrame, spec: DatasetSpec, seq_var: str | None, derived: bool) -> None:
    """Raise LineageError unless every record of ``df`` names its raw file and row (or ``derived``, and none does)."""
    present = [c for c in LINEAGE_COLS if c in df.columns]
    if derived:
        if present:
            raise LineageError(f"{spec.name}: declared derived (no raw row), yet its records carry {', '.join(present)}")
        return
    if df.empty:
        return
    if len(present) < len(LINEAGE_COLS):
        missing = [c for c in LINEAGE_COLS if c not in df.columns]
        raise LineageError(
            f"{spec.name}: the records carry no lineage (column(s) {', '.join(missing)} missing); carry the raw file and row"
            " with carry_lineage/spec_lineage, or declare the dataset derived"
        )
    bad = df[LINEAGE_COLS].isna().any(axis=1).to_numpy()
    if bad.any():
        rows = df[bad]
        ids = [c for c in ["USUBJID", *([seq_var] if seq_var else [])] if c in rows.columns]
        where = rows[ids].astype(str).agg(" ".join, axis=1).tolist() if ids else [f"record {i + 1}" for i in np.flatnonzero(bad)]
        shown = "; ".join(where[:10]) + (f"; ... ({len(where)} in all)" if len(where) > 10 else "")
        raise LineageError(f"{spec.name}: {len(where)} record(s) without a raw file and row: {shown}")


def finalize(
    df: pd.DataFrame, spec: DatasetSpec, seq_var: str | None = None, derived: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a mapped frame into (dataset in spec order, lineage table).

    Variables of the spec missing from ``df`` are added empty (Perm variables never
    collected); Num variables become float64, Char variables ``TEXT`` — the one place the
    dtypes of an SDTM dataset are set, so checks downstream need no other path.
    Every record must carry ``_file``/``_row`` (LineageError names the dataset and the
    records without them); ``derived=True`` declares records built from other SDTM
    records (SUPPAE, SV, RELREC), whose lineage rows then name no raw file.
    """
    _check_lineage(df, spec, seq_var, derived)
    # Column by column, then every column put in row order once, and the frames made without
    # copying the arrays again (copy=False: no consolidation of a million-row frame into 2-D blocks).
    cols: dict[str, pd.Series] = {}
    for v in spec.variables:
        if v.name in df.columns:
            col = df[v.name]
        else:
            col = pd.Series(np.nan if v.type == "Num" else pd.NA, index=df.index)
        if v.type == "Num":
            cols[v.name] = pd.to_numeric(col, errors="raise").astype("float64")
        else:
            cols[v.name] = as_char(col, f"{spec.name}.{v.name}")
    for c in ["USUBJID", *LINEAGE_COLS, *spec.sort, *([seq_var] if seq_var else [])]:
        if c in df.columns and c not in cols:
            cols[c] = df[c]
    sort = [c for c in spec.sort if c in cols]
    if seq_var and seq_var in cols and seq_var not in sort:
        sort.append(seq_var)  # ties of the spec's keys keep the --SEQ order
    if sort:  # the permutation sorting the whole frame would apply
        keys = pd.DataFrame({c: cols[c].array for c in sort}, copy=False)
        order = keys.sort_values(sort, kind="mergesort").index.to_numpy()
    else:
        order = np.arange(len(df))

    def take(name: str) -> object:
        return cols[name].array.take(order)

    rec = seq_var if seq_var and seq_var in cols else None
    lineage = pd.DataFrame({"USUBJID": take("USUBJID")} if "USUBJID" in cols else {}, index=pd.RangeIndex(len(df)), copy=False)
    lineage["RECORD"] = take(rec) if rec else np.arange(1, len(df) + 1, dtype="float64")
    lineage["RAWFILE"] = take("_file") if "_file" in cols else pd.NA
    lineage["RAWROW"] = take("_row") if "_row" in cols else pd.NA
    lineage.insert(0, "DOMAIN", spec.name)
    data = pd.DataFrame({v.name: take(v.name) for v in spec.variables}, index=pd.RangeIndex(len(df)), copy=False)
    return data, lineage


def build_result(
    df: pd.DataFrame, domain: str, queries: pd.DataFrame | None = None, seq_var: str | None = None, derived: bool = False
) -> DomainResult:
    """Finalize ``df`` against ``specs/sdtm/<domain>.yaml`` into a DomainResult (``derived``: see :func:`finalize`)."""
    spec = load_dataset_spec("sdtm", domain)
    data, lineage = finalize(df, spec, seq_var, derived)
    return DomainResult(domain=spec.name, data=data, lineage=lineage, queries=queries if queries is not None else empty_queries())


def last_before_exposure(
    df: pd.DataFrame, keys: list[str], when: pd.Series, eligible: pd.Series, order: list[str] | None = None
) -> pd.Series:
    """--LOBXFL: ``"Y"`` on the last ``eligible`` record per USUBJID and ``keys``, null elsewhere (``TEXT``).

    ``eligible`` marks records with a result on or before the subject's first exposure (RFXSTDTC);
    "last" is by ``when`` (datetime; NaT first), then the ``order`` columns, then raw file and row.
    """
    cols = ["USUBJID", *keys]
    tie = [*(order or []), *[c for c in LINEAGE_COLS if c in df.columns]]
    cand = pd.DataFrame(
        {
            **{c: df[c].to_numpy() for c in cols},
            "_when": when.fillna(pd.Timestamp.min).to_numpy(),
            **{c: df[c].to_numpy() for c in tie},
        }
    )[eligible.to_numpy(dtype=bool)]
    last = cand.sort_values([*cols, "_when", *tie], kind="mergesort").drop_duplicates(cols, keep="last")
    flag = np.zeros(len(df), dtype=bool)
    flag[last.index.to_numpy()] = True
    return pd.Series(np.where(flag, "Y", None), index=df.index, dtype=TEXT)  # type: ignore[call-overload]  # numpy's stubs take no None fill value
