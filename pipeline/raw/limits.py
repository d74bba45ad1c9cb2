"""The drop settings and hostile-file bounds of ``specs/raw/sites.yaml`` (``drop:`` and ``limits:``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.specs.paths import SPECS_DIR, read_mapping


@dataclass(frozen=True)
class RawLimits:
    partial_drops: bool = False  # a declared site sending nothing: a query (True) or a failed drop
    follow_links: bool = False  # links leaving the raw folder: read (True) or refused
    file_bytes: int = 512 << 20
    xlsx_expanded_bytes: int = 1 << 30
    xlsx_ratio: float = 200.0
    rows: int = 1_048_576
    cells: int = 20_000_000
    field_chars: int = 32_767


@lru_cache(maxsize=4)
def load_limits(root: Path = SPECS_DIR) -> RawLimits:
    """The settings of ``<root>/raw/sites.yaml``; a key left out keeps its default above."""
    doc = read_mapping(Path(root) / "raw" / "sites.yaml")
    values: dict[str, Any] = {}  # types are checked on the built RawLimits below
    for section in ("drop", "limits"):
        for k, v in (doc.get(section) or {}).items():
            if k not in RawLimits.__dataclass_fields__:
                raise ValueError(f"specs/raw/sites.yaml: {section}.{k} is not a known setting")
            values[k] = v
    lim = RawLimits(**values)
    for k in ("file_bytes", "xlsx_expanded_bytes", "rows", "cells", "field_chars"):
        if not isinstance(getattr(lim, k), int) or getattr(lim, k) <= 0:
            raise ValueError(f"specs/raw/sites.yaml: limits.{k} must be a positive whole number")
    return lim
