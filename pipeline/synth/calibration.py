"""Load ``calibration.yaml``: every parameter with its value and its source."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

CALIBRATION_PATH = Path(__file__).with_name("calibration.yaml")


def _strip(node: Any) -> Any:
    """Replace every ``{value, source}`` leaf by its value, recursively."""
    if isinstance(node, dict):
        if set(node) == {"value", "source"}:
            return node["value"]
        return {k: _strip(v) for k, v in node.items()}
    return node


@lru_cache(maxsize=2)
def _load(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def load_calibration(path: Path = CALIBRATION_PATH) -> dict:
    """Return the calibration as nested dicts of plain values (sources dropped)."""
    return _strip(_load(str(path)))


def calibration_sources(path: Path = CALIBRATION_PATH) -> dict:
    """Return the raw document with ``{value, source}`` leaves (for reports and tests)."""
    return _load(str(path))
