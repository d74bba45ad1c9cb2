"""The query register: every query ever raised, with its lifecycle across transfers (issue #17).

A pure function of (the register after the previous transfer, this transfer's listing, the site
responses returned since, this transfer's delta). The register is keyed by the stable
``query_id`` of pipeline/ops/queries.py, so a problem keeps its row from transfer to transfer.

Transitions, applied per query in this order (responses first: they answer the listing the sites
saw, i.e. the previous transfer's):

1. a response row for the query (pipeline/transfers/responses.py):
   - ``dm_decision`` CANCEL -> CANCELLED, for good (the data manager judged it no problem);
   - ``dm_decision`` CLOSE, new since the last transfer -> CLOSED ("closed by data manager");
   - a ``site_response`` differing from the stored one, while OPEN or REOPENED -> ANSWERED;
2. this transfer's listing:
   - first fire -> OPEN; a CLOSED query that fires again -> REOPENED;
   - OPEN / ANSWERED / REOPENED and no longer firing -> CLOSED, reason "record deleted" (the delta
     deleted the record it was raised on), "record changed: FIELD 'old' -> 'new'" (the delta changed
     the queried field) or "no longer fires"; deletion queries (MANUAL_CLOSE_RULES) fire once, on
     the transfer that deleted the record, and wait for a data manager's CLOSE or CANCEL instead;
   - a CHANGED delta row on the record of a query still firing is written into ``notes``.

Dates are the transfers' received dates (ISO text), never the wall clock, so a transfer rebuilt
later gives the same register.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

import pandas as pd

from pipeline.ops.queries import QUERY_IDENTITY_COLS, RETURN_COLS

REGISTER_COLS = [
    *QUERY_IDENTITY_COLS,
    "message",
    "file",
    "row",
    "status",
    "first_raised",
    "last_seen",
    "status_since",
    "age_days",
    *RETURN_COLS,
    "close_reason",
    "notes",
    "history",
]
RESPONSE_COLS = ["query_id", "site_response", "dm_decision", "file", "row"]

OPEN, ANSWERED, CLOSED, REOPENED, CANCELLED = "OPEN", "ANSWERED", "CLOSED", "REOPENED", "CANCELLED"
STATUSES = (OPEN, ANSWERED, CLOSED, REOPENED, CANCELLED)
ACTIVE = frozenset({OPEN, ANSWERED, REOPENED})
# The data manager's decision column: CANCEL (not a problem, never raised again), CLOSE (resolved by hand).
CANCEL, CLOSE = "CANCEL", "CLOSE"
DM_DECISIONS = (CANCEL, CLOSE)
# Raised once, by the transfer that lost the record (pipeline/transfers/delta.py): not firing on the next
# transfer says nothing about whether the site explained the deletion, so only the data manager closes them.
MANUAL_CLOSE_RULES = frozenset({"RECORD_DELETED", "SUBJECT_DELETED"})
REASON_DELETED = "record deleted"
REASON_NO_LONGER = "no longer fires"
REASON_DM_CLOSE = "closed by data manager"
_TEXT_COLS = [c for c in REGISTER_COLS if c not in ("row", "age_days")]


class RegisterError(ValueError):
    """The register would lose a query, or its input breaks the contract."""


def empty_register() -> pd.DataFrame:
    """Return an empty register (REGISTER_COLS, text columns object, ``row`` Int64, ``age_days`` int64)."""
    return _typed(pd.DataFrame(columns=REGISTER_COLS))


def _text(v: object) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)):
        return ""
    return str(v)


def _row(v: object) -> int | None:
    if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)):
        return None
    try:
        return int(str(v).strip()) if isinstance(v, str) else int(v)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    out = df.reindex(columns=REGISTER_COLS).copy()
    for c in _TEXT_COLS:
        out[c] = [_text(v) for v in out[c]]
        out[c] = out[c].astype(object)
    out["row"] = pd.array([_row(v) for v in out["row"]], dtype="Int64")
    out["age_days"] = pd.to_numeric(out["age_days"], errors="coerce").fillna(0).astype("int64")
    return out.reset_index(drop=True)


def _natural(s: str) -> str:
    # Subjects in natural order (GZ3-2 before GZ3-10), as the site listings sort them.
    return re.sub(r"\d+", lambda m: m.group().zfill(12), s)


def sort_register(df: pd.DataFrame) -> pd.DataFrame:
    """Take register rows; return them in the listing order: site, subject (natural), form, field, rule, query_id."""
    if df.empty:
        return df.reset_index(drop=True)
    key = pd.DataFrame(
        {
            "a": df["siteid"].map(str),
            "b": df["subjid"].map(lambda s: _natural(str(s))),
            "c": df["form"].map(str),
            "d": df["field"].map(str),
            "e": df["rule"].map(str),
            "f": df["query_id"].map(str),
        }
    )
    order = key.sort_values(list(key.columns), kind="mergesort").index
    return df.loc[order].reset_index(drop=True)


def lost_queries(previous: pd.DataFrame | None, current: pd.DataFrame) -> list[str]:
    """Take the previous and the new register; return the query ids of ``previous`` missing from ``current`` (sorted).

    The lifecycle's "none lost" check: a query, once raised, stays in the register in some status.
    """
    if previous is None or previous.empty:
        return []
    have = set(current["query_id"].map(str))
    return sorted({str(q) for q in previous["query_id"]} - have)


def check_none_lost(previous: pd.DataFrame | None, current: pd.DataFrame) -> None:
    """Raise RegisterError naming every query of ``previous`` absent from ``current``, or a query id listed twice."""
    lost = lost_queries(previous, current)
    if lost:
        raise RegisterError(f"{len(lost)} query(ies) of the previous register are missing: {', '.join(lost)}")
    dup = current["query_id"][current["query_id"].duplicated()]
    if len(dup):
        raise RegisterError("query id(s) listed twice in the register: " + ", ".join(sorted(set(map(str, dup)))))


def _entry(day: str, status: str, reason: str) -> str:
    return f"{day} {status} ({reason})" if reason else f"{day} {status}"


def _fields(field: str) -> set[str]:
    return {p.strip() for p in field.split(",") if p.strip()}


def _close_reason(q: dict, deleted: set, changed: dict) -> str:
    """Why a query stopped firing: its record deleted, its field changed (delta), or neither."""
    where = (q["siteid"], q["subjid"], q["form"], q["file"], _row(q["row"]))
    if where in deleted:
        return REASON_DELETED
    rows = changed.get((q["siteid"], q["subjid"], q["form"]), [])
    fields = _fields(q["field"])
    hits = [r for r in rows if r["field"] in fields]
    # Prefer the change away from the very value queried (a subject has several AEs with the same field).
    exact = [r for r in hits if r["old_value"].strip() == q["value"].strip()]
    for r in exact or hits:
        return f"record changed: {r['field']} {r['old_value']!r} -> {r['new_value']!r}"
    return REASON_NO_LONGER


def _delta_index(delta: pd.DataFrame | None) -> tuple[set, dict, dict]:
    """(deleted record places, CHANGED rows by (site, subject, form), CHANGED rows by the current file row)."""
    deleted: set = set()
    by_record: dict = {}
    by_row: dict = {}
    if delta is None or delta.empty:
        return deleted, by_record, by_row
    for d in delta.to_dict("records"):
        site, subj, form = _text(d.get("siteid")), _text(d.get("subjid")), _text(d.get("form"))
        change = _text(d.get("change"))
        where = (site, subj, form, _text(d.get("file")), _row(d.get("row")))
        if change == "DELETED":
            deleted.add(where)
        elif change == "CHANGED":
            r = {k: _text(d.get(k)) for k in ("field", "old_value", "new_value")}
            by_record.setdefault((site, subj, form), []).append(r)
            by_row.setdefault(where, []).append(r)
    return deleted, by_record, by_row


def _response_index(responses: pd.DataFrame | None) -> dict[str, dict]:
    """{query_id: the last response row in (file, row) order}: a later file answers again."""
    if responses is None or responses.empty:
        return {}
    rows = sorted(
        responses.to_dict("records"),
        key=lambda r: (_text(r.get("file")), _row(r.get("row")) or 0, _text(r.get("query_id"))),
    )
    out: dict[str, dict] = {}
    for r in rows:
        out[_text(r.get("query_id")).strip()] = {
            "site_response": _text(r.get("site_response")).strip(),
            "dm_decision": _text(r.get("dm_decision")).strip().upper(),
            "where": f"{_text(r.get('file'))} row {_text(r.get('row'))}".strip(),
        }
    return out


def _as_records(df: pd.DataFrame | None) -> Iterable[dict]:
    return [] if df is None or df.empty else df.to_dict("records")


def _move(q: dict, history: list[str], to: str, reason: str, day: str) -> None:
    q["status"] = to
    q["status_since"] = day
    history.append(_entry(day, to, reason))


def _advance(
    old: dict | None,
    cur: dict | None,
    a: dict | None,
    qid: str,
    transfer_id: str,
    day: str,
    deleted: set,
    changed: dict,
    changed_at: dict,
) -> dict:
    """One query's register row after this transfer (see the module docstring for the order of the steps)."""
    q = dict(old) if old is not None else dict.fromkeys(REGISTER_COLS, "")
    history = [h for h in q["history"].split("; ") if h]
    notes = [n for n in q["notes"].split("; ") if n]

    # 1. The sites' and the data manager's answers to the listing they saw.
    if a is not None and q["status"] and q["status"] != CANCELLED:
        if a["dm_decision"] == CANCEL:
            _move(q, history, CANCELLED, f"data manager: CANCEL in {a['where']}", day)
        elif a["dm_decision"] == CLOSE and q["dm_decision"] != CLOSE and q["status"] != CLOSED:
            _move(q, history, CLOSED, REASON_DM_CLOSE, day)
            q["close_reason"] = REASON_DM_CLOSE
        elif a["site_response"] and a["site_response"] != q["site_response"] and q["status"] in (OPEN, REOPENED):
            _move(q, history, ANSWERED, f"site response in {a['where']}", day)
        if a["site_response"]:
            q["site_response"] = a["site_response"]
        q["dm_decision"] = a["dm_decision"]

    # 2. This transfer's listing.
    if cur is not None:
        for c in ("siteid", "subjid", "form", "field", "value", "rule", "message", "file"):
            q[c] = _text(cur.get(c))
        q["row"] = _row(cur.get("row"))
        q["query_id"] = qid
        q["last_seen"] = day
        if not q["status"]:
            q["first_raised"] = day
            _move(q, history, OPEN, f"raised in {transfer_id}", day)
        elif q["status"] == CLOSED:
            q["close_reason"] = ""
            _move(q, history, REOPENED, f"fires again in {transfer_id}", day)
        if q["status"] in ACTIVE:
            where = (q["siteid"], q["subjid"], q["form"], q["file"], q["row"])
            for r in changed_at.get(where, []):
                notes.append(f"{day} {r['field']} {r['old_value']!r} -> {r['new_value']!r}, query still fires")
    elif q["status"] in ACTIVE and q["rule"] not in MANUAL_CLOSE_RULES:
        reason = _close_reason(q, deleted, changed)
        q["close_reason"] = reason
        _move(q, history, CLOSED, reason, day)

    end = q["status_since"] if q["status"] in (CLOSED, CANCELLED) else day
    q["age_days"] = (dt.date.fromisoformat(end) - dt.date.fromisoformat(q["first_raised"])).days
    q["notes"] = "; ".join(notes)
    q["history"] = "; ".join(history)
    return q


def update_register(
    previous: pd.DataFrame | None,
    fired: pd.DataFrame,
    transfer_id: str,
    received: dt.date,
    responses: pd.DataFrame | None = None,
    delta: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Take the register after the previous transfer (None for the first), this transfer's listing
    (pipeline.ops.queries LISTING_COLS incl. deletion queries), its id and received date, the site
    responses (RESPONSE_COLS) and the delta (pipeline.transfers.delta DELTA_COLS); return the new
    register (REGISTER_COLS), sorted as the listings are, with every query of ``previous`` in it.

    Responses for query ids not in ``previous`` are ignored here (the response reader reports them).
    """
    day = received.isoformat()
    prev = {str(r["query_id"]): r for r in _as_records(_typed(previous) if previous is not None else None)}
    now: dict[str, dict] = {}
    for r in _as_records(fired):
        qid = _text(r.get("query_id"))
        if not qid:
            raise RegisterError(f"a listing row of transfer {transfer_id} has no query_id: {r}")
        if qid in now:
            raise RegisterError(f"query id {qid} is listed twice in transfer {transfer_id}")
        now[qid] = r
    answers = _response_index(responses)
    deleted, changed, changed_at = _delta_index(delta)

    out = [
        _advance(prev.get(qid), now.get(qid), answers.get(qid), qid, transfer_id, day, deleted, changed, changed_at)
        for qid in sorted(set(prev) | set(now))
    ]
    result = sort_register(_typed(pd.DataFrame(out, columns=REGISTER_COLS)) if out else empty_register())
    check_none_lost(previous, result)
    return result


def status_counts(register: pd.DataFrame) -> dict[str, int]:
    """Take a register; return {status: number of queries} for every status (0 included), in STATUSES order."""
    counts = register["status"].value_counts() if not register.empty else pd.Series(dtype=int)
    return {s: int(counts.get(s, 0)) for s in STATUSES}
