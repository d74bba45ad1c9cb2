"""What changed between two transfers: new, changed and deleted records per form and site.

Records are matched on their natural key, never on file row numbers (a re-export reorders
rows): the subject and the form's collected key fields (``keys`` of specs/raw/forms.yaml,
the same keys the raw layer's duplicate check uses). Keys are compared after the raw
layer's text normalisation (NFKC, whitespace), values likewise; the delta shows the values
as exported. Identifier fields (names, initials, birth dates) show as ``<redacted>``.

A key that is not unique on either side (a conflicting duplicate, queried by the raw layer)
cannot be matched record to record: its records are compared as a set, and a record found
on one side only is NEW or DELETED with ``(key not unique)`` after its key text.

Also here: the queries a deletion raises (:func:`deletion_queries`): RECORD_DELETED,
SUBJECT_DELETED and FORM_MISSING (the drop rule of pipeline/ops/queries.py, one rule set).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.ops.queries import QUERY_COLS, REDACTED, drop_queries
from pipeline.terminology import normalise_text

DELTA_COLS = [
    "transfer",
    "previous",
    "siteid",
    "subjid",
    "form",
    "key",
    "change",
    "field",
    "old_value",
    "new_value",
    "file",
    "row",
]
NEW, CHANGED, DELETED = "NEW", "CHANGED", "DELETED"
CHANGES = (NEW, CHANGED, DELETED)
SUBJECT_FIELD = "SUBJID"
NOT_UNIQUE = " (key not unique)"
LINEAGE = ("_site", "_file", "_row")
DELETION_RULES = {
    "RECORD_DELETED": (
        "Record {key} of subject {subjid} ({form}, {file} row {row} in transfer {previous}) is not in this transfer; "
        "confirm it was deleted on purpose, or send it again"
    ),
    "SUBJECT_DELETED": (
        "Subject {subjid} was in transfer {previous} ({n} record(s): {forms}) and is in no form of this transfer; "
        "confirm the subject was removed on purpose, or send the records again"
    ),
}

Frames = Mapping[tuple[str, str], pd.DataFrame]


def _empty() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in DELTA_COLS})
    df["row"] = df["row"].astype("Int64")
    return df


def _natural(s: str) -> str:
    return re.sub(r"\d+", lambda m: m.group().zfill(12), s)


def _cells(df: pd.DataFrame, name: str) -> list[str]:
    """A column's values as exported, as plain str ('' for a missing cell or an absent column)."""
    if name not in df:
        return [""] * len(df)
    return ["" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else str(v) for v in df[name].tolist()]


def _norm(col: pd.Series) -> np.ndarray:
    """The compared form of values: the raw layer's normalisation, '' for blank."""
    return normalise_text(col).astype(object).where(lambda s: s.notna(), "").to_numpy(dtype=object)


def _prepare(df: pd.DataFrame, fields: list[str], keys: Sequence[str]) -> pd.DataFrame:
    """One side of a (site, form): text values, normalised copies, the key, exact re-exports dropped.

    Plain Python lists and one normalisation of the distinct values of all fields: per cell, only a
    dictionary lookup (a delta runs on every record of every form, twice)."""
    cols = {f: _cells(df, f) for f in fields}
    distinct = list(dict.fromkeys(v for f in fields for v in cols[f]))
    lookup = dict(zip(distinct, _norm(pd.Series(distinct, dtype=object)))) if distinct else {}
    normed = {f: [lookup[v] for v in cols[f]] for f in fields}
    rows = pd.to_numeric(df["_row"], errors="coerce").astype("Int64").to_numpy() if "_row" in df else [pd.NA] * len(df)
    whole = ["\x1f".join(t) for t in zip(*(normed[f] for f in fields))] if fields else [""] * len(df)
    subj = normed.get(SUBJECT_FIELD, [""] * len(df))
    others = [k for k in keys if k != SUBJECT_FIELD]
    if others:
        key = ["; ".join(f"{k}={v}" for k, v in zip(others, t)) for t in zip(*(normed[k] for k in others))]
    else:
        key = [f"{SUBJECT_FIELD}={v}" for v in subj]
    out = pd.DataFrame(
        {
            **{f: pd.Series(cols[f], dtype=object) for f in fields},
            **{f"~{f}": pd.Series(normed[f], dtype=object) for f in fields},
            "_file": pd.Series(_cells(df, "_file"), dtype=object),
            "_row": pd.array(rows, dtype="Int64"),
            "_subj": pd.Series(subj, dtype=object),
            "_key": pd.Series(key, dtype=object),
            "_id": pd.Series([f"{a}\x1f{b}" for a, b in zip(subj, key)], dtype=object),
            "_whole": pd.Series(whole, dtype=object),
        }
    )
    # A re-export repeats a record (after normalisation): it is one record, the first occurrence.
    return out[~out["_whole"].duplicated(keep="first")].reset_index(drop=True)


def _rows(side: pd.DataFrame, change: str, site: str, form: str, suffix: str = "") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "siteid": site,
            "subjid": side["_subj"].to_numpy(dtype=object),
            "form": form,
            "key": (side["_key"].astype(str) + suffix).to_numpy(dtype=object),
            "change": change,
            "field": "",
            "old_value": "",
            "new_value": "",
            "file": side["_file"].to_numpy(dtype=object),
            "row": side["_row"].to_numpy(),
        }
    )


def form_delta(
    previous: pd.DataFrame | None,
    current: pd.DataFrame | None,
    site: str,
    form: str,
    fields: list[str],
    keys: Sequence[str],
    identifiers: Iterable[str] = (),
) -> pd.DataFrame:
    """Take one site's records of one form in the previous and this transfer (text as read, with
    ``_file``/``_row``; None for a file not sent); return its delta rows (DELTA_COLS without transfer ids)."""
    prev = _prepare(previous if previous is not None else pd.DataFrame(columns=fields), fields, keys)
    cur = _prepare(current if current is not None else pd.DataFrame(columns=fields), fields, keys)
    ids = {i.upper() for i in identifiers}
    parts: list[pd.DataFrame] = []
    dup_ids = set(prev.loc[prev["_id"].duplicated(keep=False), "_id"]) | set(cur.loc[cur["_id"].duplicated(keep=False), "_id"])
    if dup_ids:
        p_dup, c_dup = prev[prev["_id"].isin(dup_ids)], cur[cur["_id"].isin(dup_ids)]
        # Set comparison: a record is the same when every (normalised) value is.
        gone = p_dup[~(p_dup["_id"] + "\x1e" + p_dup["_whole"]).isin(set(c_dup["_id"] + "\x1e" + c_dup["_whole"]))]
        came = c_dup[~(c_dup["_id"] + "\x1e" + c_dup["_whole"]).isin(set(p_dup["_id"] + "\x1e" + p_dup["_whole"]))]
        parts += [_rows(gone, DELETED, site, form, NOT_UNIQUE), _rows(came, NEW, site, form, NOT_UNIQUE)]
        prev, cur = prev[~prev["_id"].isin(dup_ids)], cur[~cur["_id"].isin(dup_ids)]
    parts.append(_rows(prev[~prev["_id"].isin(set(cur["_id"]))], DELETED, site, form))
    parts.append(_rows(cur[~cur["_id"].isin(set(prev["_id"]))], NEW, site, form))
    both = cur.merge(prev, on="_id", how="inner", suffixes=("", "@prev"))
    for f in fields:
        differs = both[f"~{f}"].to_numpy(dtype=object) != both[f"~{f}@prev"].to_numpy(dtype=object)
        if not differs.any():
            continue
        hit = both[differs]
        old, new = hit[f"{f}@prev"].to_numpy(dtype=object), hit[f].to_numpy(dtype=object)
        if f.upper() in ids:
            old, new = np.full(len(hit), REDACTED, dtype=object), np.full(len(hit), REDACTED, dtype=object)
        rows = _rows(hit, CHANGED, site, form)
        rows["field"], rows["old_value"], rows["new_value"] = f, old, new
        parts.append(rows)
    parts = [p for p in parts if not p.empty]
    if not parts:
        return _empty().drop(columns=["transfer", "previous"])
    return pd.concat(parts, ignore_index=True)


def record_delta(
    previous: Frames,
    current: Frames,
    keys: Mapping[str, Sequence[str]],
    fields: Mapping[str, list[str]] | None = None,
    transfer: str = "",
    previous_id: str = "",
    identifiers: Iterable[str] = (),
) -> pd.DataFrame:
    """Take {(siteid, form): records as read} of the previous and this transfer and the forms' keys
    (form -> key fields, SUBJID first); return the delta (DELTA_COLS), sorted by site, form, subject
    (natural order), key, change and field. A (site, form) absent on one side is a file not sent.

    ``fields`` (form -> dictionary fields compared; default: the columns of the frames but lineage);
    ``identifiers``: fields whose values are shown as ``<redacted>``.
    """
    idents = tuple(identifiers)
    parts = []
    for site, form in sorted({*previous, *current}):
        p, c = previous.get((site, form)), current.get((site, form))
        if fields is not None and form in fields:
            cols = list(fields[form])
        else:
            seen = [*(p.columns if p is not None else []), *(c.columns if c is not None else [])]
            cols = [x for x in dict.fromkeys(seen) if x not in LINEAGE]
        d = form_delta(p, c, site, form, cols, keys[form], idents)
        if not d.empty:
            parts.append(d)
    if not parts:
        return _empty().assign(transfer=pd.Series(dtype=object), previous=pd.Series(dtype=object))[DELTA_COLS]
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "previous", previous_id)
    out.insert(0, "transfer", transfer)
    out["row"] = pd.to_numeric(out["row"], errors="coerce").astype("Int64")
    order = {c: i for i, c in enumerate((DELETED, CHANGED, NEW))}
    out["_s"], out["_k"], out["_c"] = out["subjid"].map(_natural), out["key"].map(_natural), out["change"].map(order)
    out = out.sort_values(["siteid", "form", "_s", "_k", "_c", "field", "file", "row"], kind="mergesort")
    return out[DELTA_COLS].reset_index(drop=True)


def summary_counts(delta: pd.DataFrame) -> dict[str, int]:
    """Take a delta; return {"new": records, "changed": records (not fields), "deleted": records}."""
    if delta.empty:
        return {"new": 0, "changed": 0, "deleted": 0}
    changed = delta[delta["change"] == CHANGED].drop_duplicates(["siteid", "subjid", "form", "key"])
    return {
        "new": int((delta["change"] == NEW).sum()),
        "changed": len(changed),
        "deleted": int((delta["change"] == DELETED).sum()),
    }


def _file_of(frame: pd.DataFrame | None, site: str, form: str, formats: Mapping[str, str]) -> str:
    if frame is not None and "_file" in frame and len(frame):
        return str(frame["_file"].iloc[0])
    return f"{site}/{form}.{formats.get(site, 'csv')}"


def deletion_queries(
    delta: pd.DataFrame,
    previous_forms: Frames,
    current_forms: Frames,
    file_formats: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Take this transfer's delta and the {(siteid, form): records} of both transfers; return the
    queries of what disappeared (QUERY_COLS), one per item:

    - FORM_MISSING: a form file of the previous transfer not sent now (the drop rule's text;
      the records it held are not queried one by one);
    - SUBJECT_DELETED: a subject of the previous transfer in no form of this one, at a site that
      sent files (one query; its records are not queried one by one);
    - RECORD_DELETED: every other DELETED record (field = its key fields, value = their values).
    """
    formats = dict(file_formats or {})
    missing = sorted(k for k in previous_forms if k not in current_forms)
    events = [("FORM_MISSING", s, f, _file_of(previous_forms[(s, f)], s, f, formats), "", "") for s, f in missing]
    parts = [drop_queries(events)]
    sent_sites = {s for s, _ in current_forms}

    def subjects(frames: Frames) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for (s, _f), df in frames.items():
            if df is not None and SUBJECT_FIELD in df and len(df):
                out |= {(s, v) for v in _norm(df[SUBJECT_FIELD]) if v}
        return out

    gone_subjects = {(s, j) for s, j in subjects(previous_forms) - subjects(current_forms) if s in sent_sites}
    deleted = delta[delta["change"] == DELETED] if not delta.empty else delta
    if not deleted.empty:
        # Records of a file no longer sent are covered by FORM_MISSING.
        in_missing = pd.Series([(s, f) in set(missing) for s, f in zip(deleted["siteid"], deleted["form"])], index=deleted.index)
        deleted = deleted[~in_missing]
    rows = []
    if gone_subjects and not deleted.empty:
        by_subject = deleted.groupby(["siteid", "subjid"], sort=True)
        for (s, j), recs in by_subject:
            if (s, j) not in gone_subjects:
                continue
            first = recs.iloc[0]
            forms = ", ".join(dict.fromkeys(recs["form"]))
            rows.append(
                {
                    "siteid": s,
                    "subjid": j,
                    "form": first["form"],
                    "file": first["file"],
                    "row": first["row"],
                    "field": SUBJECT_FIELD,
                    "value": j,
                    "rule": "SUBJECT_DELETED",
                    "message": DELETION_RULES["SUBJECT_DELETED"].format(
                        subjid=j, previous=first["previous"], n=len(recs), forms=forms
                    ),
                }
            )
    for r in deleted.to_dict("records") if not deleted.empty else []:
        if (r["siteid"], r["subjid"]) in gone_subjects:
            continue
        key = str(r["key"]).removesuffix(NOT_UNIQUE)
        pairs = [p.split("=", 1) for p in key.split("; ")]
        rows.append(
            {
                "siteid": r["siteid"],
                "subjid": r["subjid"],
                "form": r["form"],
                "file": r["file"],
                "row": r["row"],
                "field": ",".join(p[0] for p in pairs),
                "value": ",".join(p[1] if len(p) > 1 else "" for p in pairs),
                "rule": "RECORD_DELETED",
                "message": DELETION_RULES["RECORD_DELETED"].format(
                    key=r["key"], subjid=r["subjid"], form=r["form"], file=r["file"], row=r["row"], previous=r["previous"]
                ),
            }
        )
    if rows:
        parts.append(pd.DataFrame(rows, columns=QUERY_COLS))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return drop_queries([])
    out = pd.concat(parts, ignore_index=True)[QUERY_COLS]
    out["row"] = pd.to_numeric(out["row"], errors="coerce").astype("Int64")
    return out.reset_index(drop=True)
