"""Small helpers turning frames into Dagster metadata a data manager can read."""

from __future__ import annotations

import dagster as dg
import pandas as pd

MAX_SAMPLE_ROWS = 50


def md_table(df: pd.DataFrame, max_rows: int = MAX_SAMPLE_ROWS) -> dg.MetadataValue:
    """A capped markdown table (the UI renders it in the asset's metadata)."""
    if df.empty:
        return dg.MetadataValue.md("_none_")
    shown = df.head(max_rows).astype(str)
    note = f"\n\n_{len(df) - max_rows} more rows not shown_" if len(df) > max_rows else ""
    return dg.MetadataValue.md(shown.to_markdown(index=False) + note)


def counts_by(df: pd.DataFrame, col: str) -> dict[str, int]:
    if df.empty or col not in df.columns:
        return {}
    return {str(k): int(v) for k, v in df[col].value_counts().sort_index().items()}
