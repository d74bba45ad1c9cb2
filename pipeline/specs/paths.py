"""Where the specification files live."""

from pathlib import Path
from typing import Any

# specs/ sits next to the package in the repository (and is shipped with it).
SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"


def read_yaml(path: Path) -> object:
    """A YAML spec file as Python data (safe loading; libyaml's C parser when installed, ~10x faster)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)


def read_mapping(path: Path) -> dict[str, Any]:
    """A YAML spec file whose top is a mapping (an empty file gives ``{}``); anything else is refused, naming the file."""
    doc = read_yaml(path)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping at the top, found {type(doc).__name__}")
    return doc
