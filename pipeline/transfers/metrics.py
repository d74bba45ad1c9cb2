"""Site metrics of one transfer, as numbers the Dagster UI plots from transfer to transfer.

Per site: queries by register status (open, answered, closed, reopened, cancelled), the median
age in days of the queries still active, the records new, changed and deleted since the previous
transfer, and AEs per subject-month (AE records of the transfer over the months from each
subject's enrolment to the earlier of the received date and the data cut-off).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd

from pipeline.transfers.delta import CHANGED, DELETED, NEW

METRIC_COLS = [
    "siteid",
    "open",
    "answered",
    "closed",
    "reopened",
    "cancelled",
    "median_query_age_days",
    "new_records",
    "changed_records",
    "deleted_records",
    "subjects",
    "subject_months",
    "ae_records",
    "aes_per_subject_month",
]
_STATUS_COLS = {"OPEN": "open", "ANSWERED": "answered", "CLOSED": "closed", "REOPENED": "reopened", "CANCELLED": "cancelled"}
ACTIVE = ("OPEN", "ANSWERED", "REOPENED")
DAYS_PER_MONTH = 365.25 / 12


def subject_months(enrol: pd.DataFrame, until: dt.date) -> pd.DataFrame:
    """Take raw enrolment records (``_site``, ``SUBJID``, ``ENRLDAT`` ISO) and the last day counted;
    return per site: subjects and subject-months on study (a partial or later date counts 0)."""
    if enrol is None or enrol.empty:
        return pd.DataFrame({"siteid": pd.Series(dtype=object), "subjects": 0, "subject_months": 0.0})
    day = pd.to_datetime(
        enrol["ENRLDAT"].astype(object).where(enrol["ENRLDAT"].notna(), None), format="%Y-%m-%d", errors="coerce"
    )
    days = (pd.Timestamp(until) - day).dt.days.clip(lower=0).fillna(0)
    frame = pd.DataFrame(
        {"siteid": enrol["_site"].astype(str).to_numpy(), "subj": enrol["SUBJID"].astype(str).to_numpy(), "days": days.to_numpy()}
    )
    frame = frame.drop_duplicates(["siteid", "subj"])
    out = frame.groupby("siteid", sort=True).agg(subjects=("subj", "size"), days=("days", "sum")).reset_index()
    out["subject_months"] = out["days"] / DAYS_PER_MONTH
    return out[["siteid", "subjects", "subject_months"]]


def site_metrics(
    register: pd.DataFrame, delta: pd.DataFrame, enrol: pd.DataFrame, ae: pd.DataFrame, until: dt.date, siteids: Iterable[str]
) -> pd.DataFrame:
    """Take the register after the transfer, its delta, the raw enrolment and AE records and the last
    day counted; return one row per site (METRIC_COLS) plus a row ``all``, rounded for display."""
    sites = sorted({*map(str, siteids)})
    out = pd.DataFrame({"siteid": sites})
    reg = register if register is not None else pd.DataFrame(columns=["siteid", "status", "age_days"])
    for status, col in _STATUS_COLS.items():
        counts = reg.loc[reg["status"] == status, "siteid"].value_counts()
        out[col] = out["siteid"].map(counts).fillna(0).astype(int)
    active = reg[reg["status"].isin(ACTIVE)]
    ages = pd.to_numeric(active["age_days"], errors="coerce")
    med = ages.groupby(active["siteid"]).median()
    out["median_query_age_days"] = out["siteid"].map(med).astype(float).fillna(0.0)
    d = delta if delta is not None else pd.DataFrame(columns=["siteid", "subjid", "form", "key", "change"])
    for change, col in ((NEW, "new_records"), (CHANGED, "changed_records"), (DELETED, "deleted_records")):
        rows = d[d["change"] == change].drop_duplicates(["siteid", "subjid", "form", "key"])
        out[col] = out["siteid"].map(rows["siteid"].value_counts()).fillna(0).astype(int)
    months = subject_months(enrol, until).set_index("siteid")
    out["subjects"] = out["siteid"].map(months["subjects"]).fillna(0).astype(int)
    out["subject_months"] = out["siteid"].map(months["subject_months"]).astype(float).fillna(0.0)
    ae_counts = ae["_site"].astype(str).value_counts() if ae is not None and not ae.empty else pd.Series(dtype=int)
    out["ae_records"] = out["siteid"].map(ae_counts).fillna(0).astype(int)
    total = {c: out[c].sum() for c in METRIC_COLS if c not in ("siteid", "median_query_age_days", "aes_per_subject_month")}
    total["siteid"] = "all"
    total["median_query_age_days"] = float(ages.median()) if len(ages.dropna()) else 0.0
    out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    per = out["ae_records"] / out["subject_months"].where(out["subject_months"] > 0)
    out["aes_per_subject_month"] = per.fillna(0.0).astype(float).round(4)
    out["subject_months"] = out["subject_months"].astype(float).round(1)
    out["median_query_age_days"] = out["median_query_age_days"].astype(float).round(1)
    return out[METRIC_COLS]


def as_metadata(metrics: pd.DataFrame) -> dict[str, float | int]:
    """Take site metrics; return flat numeric entries (``<site> <metric>``; ``all`` without a prefix)
    that Dagster stores per materialization and plots over the transfers."""
    out: dict[str, float | int] = {}
    for r in metrics.to_dict("records"):
        prefix = "" if r["siteid"] == "all" else f"site {r['siteid']} "
        for c in METRIC_COLS:
            if c in ("siteid", "subjects", "subject_months", "ae_records") and r["siteid"] != "all":
                continue
            if c == "siteid":
                continue
            v = r[c]
            out[f"{prefix}{c}"] = float(v) if isinstance(v, float) else int(v)
    return out
