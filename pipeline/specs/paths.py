"""Where the specification files live."""

from pathlib import Path

# specs/ sits next to the package in the repository (and is shipped with it).
SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"


def read_yaml(path: Path) -> object:
    """A YAML spec file as Python data (safe loading; libyaml's C parser when installed, ~10x faster)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
