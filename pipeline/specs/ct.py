"""Controlled terminology of the SDTM (and later ADaM) datasets, read from ``specs/ct/``.

Files (every ``specs/ct/*.csv`` with the columns ``CT_COLUMNS`` is read; rows, not files, decide
what a row is):

- ``specs/ct/sdtm_ct.csv``: the CDISC codelists the SDTM specs use, extracted from the NCI-EVS
  release recorded in ``specs/trial/study.yaml`` (``ct_version``) by ``tools/extract_ct.py``.
  Every term has its NCI code. A row with a codelist code but no submission value is a
  header-only entry (a CDISC codelist the study extends with sponsor terms).
- ``specs/ct/sponsor_ct.csv`` (and ``adam_ct.csv`` for ADaM): rows without an NCI term code. With
  an empty ``codelist_code`` they form a sponsor-defined codelist; with a ``codelist_code`` they
  extend that CDISC codelist (allowed only when it is extensible). ``nci_preferred_term`` then
  holds the sponsor's decode (for a test-code codelist: the test name, which pairs it with the
  test-name codelist, see ``paired_value``).
- ``specs/ct/raw_to_sdtm.csv``: raw canonical value -> CDISC submission value, only where the two
  differ (``to_submission``).
- ``specs/ct/lb_units.csv``: LB unit conversions to the standard unit (``load_lb_units``).

Codelists that are facts of the trial are built from the file that states them, never copied:
``IETESTCD``/``IETEST`` from ``specs/trial/criteria.csv``, ``ARMCD``/``ARM`` from
``specs/trial/study.yaml`` and ``ETCD``/``ELEMENT`` from ``specs/trial/te.csv``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.specs.paths import SPECS_DIR, read_mapping

CT_COLUMNS = [
    "codelist",
    "codelist_code",
    "codelist_name",
    "extensible",
    "submission_value",
    "term_code",
    "nci_preferred_term",
]


class CTError(ValueError):
    """A controlled-terminology file is inconsistent (names the file and the codelist)."""


@dataclass(frozen=True)
class Term:
    """One permissible value of a codelist."""

    value: str  # CDISC submission value (or sponsor value)
    code: str | None  # NCI C-code; None for a sponsor term
    decode: str  # NCI preferred term, or the sponsor's decode
    sponsor: bool = False  # sponsor-defined term (own codelist or extension of a CDISC one)


@dataclass(frozen=True)
class Codelist:
    """A codelist: CDISC (with NCI code), sponsor-defined, or CDISC extended by the sponsor."""

    name: str  # short name used by the specs (e.g. "NY", "AEREL")
    code: str | None  # NCI codelist code; None for a sponsor-defined codelist
    label: str  # codelist name (e.g. "No Yes Response")
    extensible: bool
    terms: tuple[Term, ...]
    origin: str  # "CDISC", "SPONSOR" or "TRIAL" (built from specs/trial)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(t.value for t in self.terms)

    @property
    def is_cdisc(self) -> bool:
        return self.code is not None

    @property
    def extended(self) -> bool:
        """True when a CDISC codelist carries sponsor terms."""
        return self.is_cdisc and any(t.sponsor for t in self.terms)

    def term(self, value: str) -> Term | None:
        for t in self.terms:
            if t.value == value:
                return t
        return None

    def __contains__(self, value: object) -> bool:
        return any(t.value == value for t in self.terms)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def malformed_rows(path: Path) -> list[int]:
    """Line numbers of rows whose number of fields differs from the header (an unquoted comma)."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return []
    n = len(rows[0])
    return [i for i, r in enumerate(rows[1:], start=2) if r and len(r) != n]


def _check_columns(path: Path, rows: list[dict[str, str]], columns: list[str]) -> None:
    with path.open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh), [])
    if header != columns:
        raise CTError(f"{path}: columns {header} != {columns}")


def _yes_no(path: Path, name: str, value: str) -> bool:
    if value not in ("Yes", "No"):
        raise CTError(f"{path}: codelist {name}: extensible must be Yes or No, not {value!r}")
    return value == "Yes"


def _build(rows: list[dict[str, str]], path: Path, sponsor: bool) -> dict[str, dict]:
    """Group rows by codelist, checking codelist-level fields agree across rows."""
    out: dict[str, dict] = {}
    for i, r in enumerate(rows, start=2):
        name = r["codelist"].strip()
        if not name:
            raise CTError(f"{path}:{i}: empty codelist name")
        head = (r["codelist_code"], r["codelist_name"], r["extensible"])
        entry = out.setdefault(name, {"head": head, "terms": [], "line": i})
        if entry["head"] != head:
            raise CTError(f"{path}:{i}: codelist {name}: codelist_code/name/extensible differ between rows")
        value = r["submission_value"]
        if value == "":
            if sponsor:
                raise CTError(f"{path}:{i}: codelist {name}: empty submission value")
            continue  # header-only CDISC codelist
        if value != value.strip():
            raise CTError(f"{path}:{i}: codelist {name}: value {value!r} has leading/trailing blanks")
        code = r["term_code"] or None
        if sponsor and code:
            raise CTError(f"{path}:{i}: codelist {name}: sponsor term {value!r} must not carry an NCI term code")
        if not sponsor and not code:
            raise CTError(f"{path}:{i}: codelist {name}: CDISC term {value!r} has no NCI code")
        if any(t.value == value for t in entry["terms"]):
            raise CTError(f"{path}:{i}: codelist {name}: duplicate value {value!r}")
        entry["terms"].append(Term(value, code, r["nci_preferred_term"], sponsor))
    return out


def _trial_codelists(root: Path) -> dict[str, Codelist]:
    """Codelists whose values are facts of the trial, read from specs/trial."""
    out: dict[str, Codelist] = {}
    crit = _read_csv(root / "trial" / "criteria.csv")
    out["IETESTCD"] = Codelist(
        "IETESTCD",
        None,
        "Inclusion/Exclusion Criterion Short Name",
        False,
        tuple(Term(r["IETESTCD"], None, r["IETEST"], True) for r in crit),
        "TRIAL",
    )
    out["IETEST"] = Codelist(
        "IETEST",
        None,
        "Inclusion/Exclusion Criterion",
        False,
        tuple(Term(r["IETEST"], None, r["IETESTCD"], True) for r in crit),
        "TRIAL",
    )
    study = read_mapping(root / "trial" / "study.yaml")
    arms = study.get("arms") or []
    out["ARMCD"] = Codelist(
        "ARMCD",
        None,
        "Planned Arm Code",
        False,
        tuple(Term(a["armcd"], None, a["arm"], True) for a in arms),
        "TRIAL",
    )
    out["ARM"] = Codelist(
        "ARM",
        None,
        "Description of Planned Arm",
        False,
        tuple(Term(a["arm"], None, a["armcd"], True) for a in arms),
        "TRIAL",
    )
    te_path = root / "trial" / "te.csv"
    if te_path.exists():
        te = _read_csv(te_path)
        out["ETCD"] = Codelist(
            "ETCD",
            None,
            "Element Code",
            False,
            tuple(Term(r["ETCD"], None, r["ELEMENT"], True) for r in te),
            "TRIAL",
        )
        out["ELEMENT"] = Codelist(
            "ELEMENT",
            None,
            "Description of Element",
            False,
            tuple(Term(r["ELEMENT"], None, r["ETCD"], True) for r in te),
            "TRIAL",
        )
    return out


def _ct_files(root: Path) -> list[Path]:
    """Every ``specs/ct/*.csv`` whose header is ``CT_COLUMNS`` (other CSVs there are maps and tables)."""
    out = []
    for p in sorted((root / "ct").glob("*.csv")):
        with p.open(encoding="utf-8", newline="") as fh:
            if next(csv.reader(fh), []) == CT_COLUMNS:
                out.append(p)
    return out


@lru_cache(maxsize=4)
def load_ct(root: Path = SPECS_DIR) -> dict[str, Codelist]:
    """All codelists the specs may refer to, by short name.

    Reads every ``specs/ct/*.csv`` with the CT columns (``sdtm_ct.csv``, ``sponsor_ct.csv``, and
    any later ``adam_ct.csv``). A row with an NCI term code is a CDISC term (its codelist must
    carry its NCI codelist code); a row with neither term code nor value is a CDISC header-only
    entry; a row without a term code is a sponsor term, extending the CDISC codelist named by its
    ``codelist_code`` (which must be extensible) or forming a sponsor-defined codelist when that
    is empty. Trial codelists are built from ``specs/trial``. Raises ``CTError`` naming the file
    and the codelist on any inconsistency.
    """
    files = _ct_files(root)
    if not files:
        raise CTError(f"{root / 'ct'}: no controlled-terminology CSV")
    cdisc: dict[str, dict] = {}
    sponsor: dict[str, tuple[Path, dict]] = {}
    for path in files:
        rows = _read_csv(path)
        c_rows = [r for r in rows if r["term_code"] or (not r["submission_value"] and r["codelist_code"])]
        s_rows = [r for r in rows if not (r["term_code"] or (not r["submission_value"] and r["codelist_code"]))]
        for name, e in _build(c_rows, path, sponsor=False).items():
            if name in cdisc and cdisc[name]["head"] != e["head"]:
                raise CTError(f"{path}: codelist {name} differs from its definition in another file")
            prev = cdisc.setdefault(name, {"head": e["head"], "terms": [], "path": path})
            for t in e["terms"]:
                if any(u.value == t.value for u in prev["terms"]):
                    raise CTError(f"{path}: codelist {name}: duplicate value {t.value!r}")
                prev["terms"].append(t)
        for name, e in _build(s_rows, path, sponsor=True).items():
            if name in sponsor:
                raise CTError(f"{path}: sponsor codelist {name} also defined in {sponsor[name][0]}")
            sponsor[name] = (path, e)

    result: dict[str, Codelist] = {}
    for name, e in cdisc.items():
        code, label, ext = e["head"]
        if not code:
            raise CTError(f"{e['path']}: codelist {name}: no NCI codelist code")
        result[name] = Codelist(name, code, label, _yes_no(e["path"], name, ext), tuple(e["terms"]), "CDISC")

    for name, (path, e) in sponsor.items():
        code, label, ext = e["head"]
        extensible = _yes_no(path, name, ext)
        if code:  # extension of a CDISC codelist
            base = result.get(name)
            if base is None:
                raise CTError(f"{path}: codelist {name} extends {code}, which is not an extracted CDISC codelist")
            if base.code != code:
                raise CTError(f"{path}: codelist {name}: code {code} != CDISC code {base.code}")
            if not base.extensible:
                raise CTError(f"{path}: codelist {name} ({code}) is not extensible; it cannot take sponsor terms")
            clash = [t.value for t in e["terms"] if t.value in base]
            if clash:
                raise CTError(f"{path}: codelist {name}: {clash} already CDISC terms")
            result[name] = Codelist(name, base.code, base.label, True, base.terms + tuple(e["terms"]), "CDISC")
        else:
            if name in result:
                raise CTError(f"{path}: sponsor codelist {name} clashes with a CDISC codelist of that name")
            result[name] = Codelist(name, None, label, extensible, tuple(e["terms"]), "SPONSOR")

    for name, cl in _trial_codelists(root).items():
        if name in result:
            raise CTError(f"codelist {name} is built from specs/trial and must not be in specs/ct")
        result[name] = cl
    return result


def paired_value(ct: dict[str, Codelist], from_codelist: str, to_codelist: str, value: str) -> str | None:
    """The term of ``to_codelist`` paired with ``value`` of ``from_codelist`` (e.g. TESTCD -> TEST).

    CDISC pairs share the NCI code; sponsor pairs share the decode (the test name).
    """
    src, dst = ct[from_codelist], ct[to_codelist]
    t = src.term(value)
    if t is None:
        return None
    for u in dst.terms:
        if t.code and u.code == t.code:
            return u.value
    if t.sponsor:
        for u in dst.terms:
            if u.sponsor and t.decode in (u.value, u.decode):
                return u.value
    return None


@lru_cache(maxsize=4)
def load_raw_to_sdtm(root: Path = SPECS_DIR) -> dict[tuple[str, str], dict[str, str]]:
    """``{(raw_codelist, sdtm_codelist): {raw_value: submission_value}}`` from ``ct/raw_to_sdtm.csv``.

    Checked against the raw codelists (``specs/raw/codelists.csv``) and ``load_ct``.
    """
    from pipeline.specs.raw import load_raw_spec

    path = root / "ct" / "raw_to_sdtm.csv"
    rows = _read_csv(path)
    _check_columns(path, rows, ["raw_codelist", "raw_value", "sdtm_codelist", "submission_value"])
    raw = load_raw_spec(root).codelists
    ct = load_ct(root)
    out: dict[tuple[str, str], dict[str, str]] = {}
    for i, r in enumerate(rows, start=2):
        rc, rv, sc, sv = r["raw_codelist"], r["raw_value"], r["sdtm_codelist"], r["submission_value"]
        if rc not in raw or rv not in raw[rc].values:
            raise CTError(f"{path}:{i}: {rc}.{rv} is not a raw canonical value (specs/raw/codelists.csv)")
        if sc not in ct or sv not in ct[sc]:
            raise CTError(f"{path}:{i}: {sv!r} is not a term of codelist {sc}")
        m = out.setdefault((rc, sc), {})
        if rv in m:
            raise CTError(f"{path}:{i}: {rc}.{rv} -> {sc} mapped twice")
        m[rv] = sv
    return out


def to_submission(raw_codelist: str, raw_value: str | None, sdtm_codelist: str, root: Path = SPECS_DIR) -> str | None:
    """Submission value in ``sdtm_codelist`` for a raw canonical value (identity when not listed)."""
    if raw_value is None:
        return None
    return load_raw_to_sdtm(root).get((raw_codelist, sdtm_codelist), {}).get(raw_value, raw_value)


@dataclass(frozen=True)
class UnitConversion:
    testcd: str
    original_unit: str  # CDISC UNIT submission value
    standard_unit: str
    factor: float  # standard = original * factor
    comment: str


@lru_cache(maxsize=4)
def load_lb_units(root: Path = SPECS_DIR) -> dict[tuple[str, str], UnitConversion]:
    """``{(LBTESTCD, original unit): UnitConversion}`` from ``ct/lb_units.csv``; one standard unit per test."""
    path = root / "ct" / "lb_units.csv"
    rows = _read_csv(path)
    _check_columns(path, rows, ["LBTESTCD", "original_unit", "standard_unit", "factor", "comment"])
    ct = load_ct(root)
    out: dict[tuple[str, str], UnitConversion] = {}
    std: dict[str, str] = {}
    for i, r in enumerate(rows, start=2):
        tc = r["LBTESTCD"]
        if tc not in ct["LBTESTCD"]:
            raise CTError(f"{path}:{i}: {tc} is not in codelist LBTESTCD")
        for u in (r["original_unit"], r["standard_unit"]):
            if u not in ct["UNIT"]:
                raise CTError(f"{path}:{i}: unit {u!r} is not in codelist UNIT")
        try:
            factor = float(r["factor"])
        except ValueError:
            raise CTError(f"{path}:{i}: factor {r['factor']!r} is not a number") from None
        if factor <= 0:
            raise CTError(f"{path}:{i}: factor must be > 0")
        if std.setdefault(tc, r["standard_unit"]) != r["standard_unit"]:
            raise CTError(f"{path}:{i}: {tc} has two standard units")
        key = (tc, r["original_unit"])
        if key in out:
            raise CTError(f"{path}:{i}: {key} listed twice")
        out[key] = UnitConversion(tc, r["original_unit"], r["standard_unit"], factor, r["comment"])
    return out


@dataclass(frozen=True)
class LabTest:
    testcd: str
    category: str  # LBCAT (sponsor codelist LBCAT)
    specimen: str  # LBSPEC (CDISC SPECTYPE)
    comment: str


@lru_cache(maxsize=4)
def load_lb_tests(root: Path = SPECS_DIR) -> dict[str, LabTest]:
    """``{LBTESTCD: LabTest}`` from ``ct/lb_tests.csv``: the one table of LBCAT and LBSPEC per test.

    Every test of ``ct/lb_units.csv`` must be listed; LBTESTCD, LBCAT and LBSPEC must be terms of
    their codelists. Raises ``CTError`` naming file and line.
    """
    path = root / "ct" / "lb_tests.csv"
    rows = _read_csv(path)
    _check_columns(path, rows, ["LBTESTCD", "LBCAT", "LBSPEC", "comment"])
    ct = load_ct(root)
    out: dict[str, LabTest] = {}
    for i, r in enumerate(rows, start=2):
        for col, cl in (("LBTESTCD", "LBTESTCD"), ("LBCAT", "LBCAT"), ("LBSPEC", "SPECTYPE")):
            if r[col] not in ct[cl]:
                raise CTError(f"{path}:{i}: {col} {r[col]!r} is not in codelist {cl}")
        if r["LBTESTCD"] in out:
            raise CTError(f"{path}:{i}: {r['LBTESTCD']} listed twice")
        out[r["LBTESTCD"]] = LabTest(r["LBTESTCD"], r["LBCAT"], r["LBSPEC"], r["comment"])
    missing = sorted({u.testcd for u in load_lb_units(root).values()} - set(out))
    if missing:
        raise CTError(f"{path}: test(s) {', '.join(missing)} of ct/lb_units.csv have no category")
    return out
