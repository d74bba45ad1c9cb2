"""The analysis programs of the m5 tree (``analysis/adam/programs/``), as plain ASCII text.

The FDA Study Data Technical Conformance Guide (section 4.1.2.10, "Software Programs") asks for
the programs that create the ADaM datasets and the tables and figures of the primary and
secondary efficacy analyses, "in ASCII text format", with no executable file extensions; the
specific software is named in the ADRG. Followed here in its strict reading: every program is a
``.txt`` file, and the few non-ASCII characters of the sources (dashes and arrows in comments,
the Chinese site terms the raw layer maps) are written as Python ``\\N{NAME}`` escapes, which
:func:`restore` (and the README's few lines) turn back into the original source.

Files: one per module that builds an ADaM dataset or computes the endpoint results
(``adam_adsl.txt``, ``analysis_survival.txt``, ...); ``pipeline_source.txt``, the whole pipeline
package and its specs (``pipeline/``, ``specs/``, ``pyproject.toml``) in one text file, needed to re-run it; ``constraints.txt``,
the pinned versions; ``readme.txt``, the inventory and how to re-run.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from pipeline import io

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = PROJECT_ROOT / "pipeline"
# Modules that create the ADaM datasets and the endpoint results, with what each does (the
# inventory of the README and the ADRG).
PROGRAMS: tuple[tuple[str, str], ...] = (
    ("adam/adsl.py", "ADSL: populations, treatment variables, baseline covariates, death and end-of-study dates"),
    ("adam/adae.py", "ADAE: analysis dates and imputation flags, TRTEMFL, relationship and action flags"),
    ("adam/adex.py", "ADEX: total dose, duration, dose intensity, dose modification due to an AE"),
    ("adam/adtte.py", "ADTTE: RFS, TTR and OS parameters from their event and censoring sources"),
    ("adam/tte.py", "The time-to-event engine ADTTE uses (event and censoring selection, AVAL)"),
    ("imputation.py", "Partial-date imputation rules (ADAE, ADTTE)"),
    ("teae.py", "The treatment-emergence rule of ADAE.TRTEMFL and SUPPAE.AETRTEM (both arms)"),
    ("adam/common.py", "Helpers shared by the ADaM datasets"),
    ("adam/assets.py", "The Dagster assets that run the ADaM builders on SDTM"),
    ("analysis/survival.py", "Kaplan-Meier (log(-log) CIs), Aalen-Johansen, Cox, log-rank (lifelines)"),
    ("analysis/endpoints.py", "The primary and secondary endpoint results table"),
    ("analysis/plots.py", "Kaplan-Meier figures"),
    ("analysis/assets.py", "The Dagster assets of the results"),
    ("tlf/ard.py", "The analysis results dataset: every number of the report displays, from ADaM"),
    ("tlf/ars.py", "The CDISC ARS v1.0 reporting event of the analyses and its checks"),
    ("tlf/t14_2_1_rfs.py", "Table 14.2.1: recurrence-free survival, the primary endpoint"),
    ("tlf/t14_2_2_ttr.py", "Table 14.2.2: time to recurrence and the Aalen-Johansen recurrence rate"),
    ("tlf/t14_2_3_os.py", "Table 14.2.3: overall survival"),
    ("tlf/t14_3_1_ae_overview.py", "Table 14.3.1: overview of treatment-emergent adverse events"),
    ("tlf/t14_3_7_exposure.py", "Table 14.3.7: exposure to sorafenib (total dose, dose intensity)"),
)
PACK = "pipeline_source.txt"
README = "readme.txt"
CONSTRAINTS = "constraints.txt"
_FILE_LINE = "#=== FILE: "
_ESCAPE = re.compile(r"\\N\{([A-Z0-9 \-]+)\}")


def program_name(module: str) -> str:
    """``adam/adsl.py`` -> ``adam_adsl.txt`` (lower case, one dot)."""
    return module[: -len(".py")].replace("/", "_").lower() + ".txt"


def to_ascii(text: str) -> str:
    """``text`` with every non-ASCII character as ``\\N{UNICODE NAME}`` (reversible by :func:`restore`)."""
    # A backslash that already starts "\\N{" is itself escaped, so restore() gives it back unchanged.
    text = text.replace("\\N{", "\\N{REVERSE SOLIDUS}N{")
    if text.isascii():
        return text
    return "".join(c if ord(c) < 128 else f"\\N{{{unicodedata.name(c)}}}" for c in text)


def restore(text: str) -> str:
    """The original source of an ASCII program text (inverse of :func:`to_ascii`)."""
    return _ESCAPE.sub(lambda m: unicodedata.lookup(m.group(1)), text)


def _sources() -> list[Path]:
    """pyproject.toml, constraints.txt, every file of the package and of specs/ (the pipeline reads them),
    except the synthetic-study generator (``pipeline/synth``: no part of a run, and its name lists are no
    reviewer's business)."""
    files = sorted(
        p
        for d in (PACKAGE_DIR, PROJECT_ROOT / "specs")
        for p in d.rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and not p.name.startswith(".")
        and p.parent != PACKAGE_DIR / "synth"
        and PACKAGE_DIR / "synth" not in p.parents
    )
    return [PROJECT_ROOT / "pyproject.toml", PROJECT_ROOT / "constraints.txt", *files]


def pack(paths: list[Path]) -> str:
    """One text of many files: each as a ``#=== FILE: <path> sha256=<hex> ===`` line, then its text."""
    parts = []
    for p in paths:
        raw = p.read_bytes()
        rel = p.relative_to(PROJECT_ROOT).as_posix()
        parts.append(f"{_FILE_LINE}{rel} sha256={hashlib.sha256(raw).hexdigest()} ===\n" + to_ascii(raw.decode("utf-8")))
    return "".join(x if x.endswith("\n") else x + "\n" for x in parts)


def unpack(text: str) -> dict[str, str]:
    """``path -> original source`` of a :func:`pack` text."""
    out: dict[str, str] = {}
    for chunk in re.split("(?m)^" + re.escape(_FILE_LINE), text)[1:]:
        head, _, body = chunk.partition("\n")
        out[head.split(" sha256=")[0]] = restore(body)
    return out


@dataclass(frozen=True)
class Program:
    file: str  # name in the programs folder
    source: str  # module path in the repository
    purpose: str
    sha256: str  # of the original source file


def inventory() -> list[Program]:
    """The programs submitted, in the order of :data:`PROGRAMS`."""
    out = []
    for module, purpose in PROGRAMS:
        raw = (PACKAGE_DIR / module).read_bytes()
        out.append(Program(program_name(module), f"pipeline/{module}", purpose, hashlib.sha256(raw).hexdigest()))
    return out


def pinned_versions(path: Path = PROJECT_ROOT / "constraints.txt") -> dict[str, str]:
    """``package -> version`` pinned in constraints.txt (``name==version`` lines)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and not name.startswith("#"):
            out[name.strip()] = version.strip()
    return out


def direct_dependencies(path: Path = PROJECT_ROOT / "pyproject.toml") -> list[str]:
    """The names of pyproject.toml's runtime dependencies (``[project] dependencies``)."""
    deps = tomllib.loads(path.read_text(encoding="utf-8"))["project"]["dependencies"]
    return [re.split(r"[<>=\[ ;]", d.strip())[0] for d in deps]


def readme_text(studyid: str) -> str:
    """The programs folder's readme.txt: inventory, software, how to re-run."""
    pins = pinned_versions()
    lines = [
        f"{studyid}: analysis programs (ADaM datasets and endpoint results)",
        "",
        "The pipeline is written in Python. Every program is submitted as ASCII text (.txt, FDA Study Data",
        "Technical Conformance Guide 4.1.2.10); non-ASCII characters of the sources are written as \\N{NAME}",
        "escapes. The ADRG (../datasets/adrg.pdf) describes the derivations and methods in words.",
        "",
        "Programs (file, source module, sha256 of the source, purpose):",
    ]
    for p in inventory():
        lines += [f"  {p.file:<28} {p.source}", f"  {'':<28} sha256 {p.sha256}", f"  {'':<28} {p.purpose}"]
    lines += [
        f"  {PACK:<28} pipeline/, specs/ and pyproject.toml in one file (needed to re-run)",
        f"  {CONSTRAINTS:<28} the exact versions of every Python package used (pip constraints)",
        "",
        "Software: Python 3.11; " + ", ".join(f"{d} {pins[d]}" for d in direct_dependencies() if d in pins) + ".",
        "",
        "How to re-run:",
        f"  1. Unpack {PACK} into a folder (Python 3.11):",
        "       import re, unicodedata, pathlib",
        f"       text = open('{PACK}', encoding='ascii').read()",
        f"       for chunk in re.split(r'(?m)^{_FILE_LINE}', text)[1:]:",
        "           head, _, body = chunk.partition('\\n')",
        "           body = re.sub(r'\\\\N\\{([A-Z0-9 \\-]+)\\}', lambda m: unicodedata.lookup(m.group(1)), body)",
        "           p = pathlib.Path(head.split(' sha256=')[0]); p.parent.mkdir(parents=True, exist_ok=True)",
        "           p.write_text(body, encoding='utf-8')",
        "  2. python3.11 -m venv .venv && .venv/bin/pip install -c constraints.txt -e .",
        "  3. .venv/bin/python -m pipeline run --raw <raw EDC exports> --out outputs",
        "     (every asset: raw -> SDTM -> ADaM -> outputs/analysis/endpoints.csv; 'status: success' at the end).",
        "  The run starts from the sites' raw EDC exports, which are not part of this package; the ADaM",
        "  programs read the SDTM datasets the run builds, the same as tabulations/sdtm/*.xpt.",
        "",
    ]
    return "\n".join(lines)


def write_programs(folder: Path, studyid: str) -> dict[str, int]:
    """Write the programs folder; returns ``file -> bytes``. Files of an earlier run not written now are removed."""
    folder = Path(folder)
    files: dict[str, bytes] = {}
    for p in inventory():
        files[p.file] = to_ascii((PROJECT_ROOT / p.source).read_text(encoding="utf-8")).encode("ascii")
    files[PACK] = pack(_sources()).encode("ascii")
    files[CONSTRAINTS] = (PROJECT_ROOT / "constraints.txt").read_bytes()
    files[README] = readme_text(studyid).encode("ascii")
    for name, data in files.items():
        io.write_bytes(folder / name, data)
    for old in folder.glob("*"):
        if old.is_file() and old.name not in files:
            old.unlink()
    return {k: len(v) for k, v in sorted(files.items())}
