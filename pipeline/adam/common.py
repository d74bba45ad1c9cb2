"""Mechanics shared by the ADaM datasets: spec order and types, the result container."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.columns import as_char
from pipeline.imputation import to_sas_date
from pipeline.ops.queries import ADAM_ISSUE_COLS
from pipeline.specs.datasets import DatasetSpec, load_dataset_spec


@dataclass(frozen=True)
class AdamResult:
    """An ADaM dataset (spec order; dates as datetime64 in memory) and the problems met deriving it."""

    name: str
    data: pd.DataFrame
    issues: pd.DataFrame


def yn(mask: pd.Series) -> pd.Series:
    """ADaM flag from a boolean mask: "Y" where true, null elsewhere."""
    return pd.Series(np.where(mask, "Y", None), index=mask.index, dtype="object")  # type: ignore[call-overload]  # numpy's stubs take no None fill value


ISSUE_COLS = ADAM_ISSUE_COLS  # the one definition: pipeline.ops.queries


def issues_frame(rows: pd.DataFrame | None = None) -> pd.DataFrame:
    if rows is None or rows.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in ISSUE_COLS})
    return rows[ISSUE_COLS].reset_index(drop=True)


def finalize_adam(df: pd.DataFrame, name: str, issues: pd.DataFrame | None = None) -> AdamResult:
    """Order and type ``df`` by ``specs/adam/<name>.yaml``; DATE9. variables stay datetime64 in memory."""
    spec: DatasetSpec = load_dataset_spec("adam", name)
    out = df.copy()
    for v in spec.variables:
        if v.name not in out.columns:
            out[v.name] = pd.NaT if (v.format or "").upper().startswith("DATE") else (np.nan if v.type == "Num" else None)
        if v.type == "Num" and not (v.format or "").upper().startswith("DATE"):
            out[v.name] = pd.to_numeric(out[v.name], errors="raise").astype("float64")
        elif v.type == "Num":
            out[v.name] = pd.to_datetime(out[v.name])
        else:
            out[v.name] = as_char(out[v.name], f"{spec.name}.{v.name}")
    sort = [c for c in spec.sort if c in out.columns]
    out = out.sort_values(sort, kind="mergesort").reset_index(drop=True) if sort else out.reset_index(drop=True)
    return AdamResult(spec.name, out[[v.name for v in spec.variables]], issues_frame(issues))


def as_submission(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The frame as written to Parquet/XPT: DATE9. variables as SAS day numbers (float64)."""
    out = df.copy()
    for v in spec.variables:
        if v.type == "Num" and (v.format or "").upper().startswith("DATE"):
            out[v.name] = to_sas_date(out[v.name])
    return out
