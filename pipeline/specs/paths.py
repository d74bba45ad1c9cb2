"""Where the specification files live."""

from pathlib import Path

# specs/ sits next to the package in the repository (and is shipped with it).
SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"
