"""Dataset specifications (SDTM now, ADaM with the same format): ``specs/<layer>/<name>.yaml``.

One YAML file per dataset, file name = lower-case dataset name::

    dataset: AE
    label: Adverse Events            # <= 40 ASCII characters
    class: EVENTS
    structure: One record per adverse event per subject
    keys: [STUDYID, USUBJID, AEDECOD, AESTDTC]   # natural keys (define.xml KeySequence)
    sort: [STUDYID, USUBJID, AESEQ]
    comment: >-                      # sponsor choices, for a reviewer
      ...
    variables:
      - name: AETERM
        label: Reported Term for the Adverse Event
        type: Char                   # Char | Num
        length: 200                  # maximum allowed length in bytes (Num: 8)
        core: Req                    # Req | Exp | Perm (ADaM also Cond)
        role: Topic
        codelist: null               # a codelist name of specs/ct, a list of names (union), or null
        dictionary: null             # external dictionary instead of a codelist (MedDRA, ISO 3166, ...)
        origin: Collected            # Collected | Derived | Assigned | Protocol | Predecessor | Not Available
        sources: [ae.AETERM]         # raw <form>.<FIELD> or <DATASET>.<VAR>; [] for constants
        derivation: ...              # short text for define.xml MethodDef and the UI
        format: null                 # display format (ADaM dates: DATE9.)
    value_level:                     # optional: define.xml value-level metadata
      - variable: RSORRES            # the variable described
        where: {RSTESTCD: ECOG101}   # condition on other variables of the same record
        type: Char                   # optional: type of the value in this case
        codelist: null               # optional: codelist(s) the value must belong to
        origin: Collected
        sources: [surg.ECOG]
        derivation: ...

Loading is strict: every problem raises ``SpecError`` naming the file and the variable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from pipeline.specs.paths import SPECS_DIR, read_mapping, read_yaml

LAYERS = ("sdtm", "adam")
TYPES = ("Char", "Num")
CORES = {"sdtm": ("Req", "Exp", "Perm"), "adam": ("Req", "Cond", "Perm")}
ORIGINS = ("Collected", "Derived", "Assigned", "Protocol", "Predecessor", "Not Available")
ROLES = (
    "Identifier",
    "Topic",
    "Grouping Qualifier",
    "Result Qualifier",
    "Synonym Qualifier",
    "Record Qualifier",
    "Variable Qualifier",
    "Timing",
    "Rule",
)
CLASSES = {
    "sdtm": (
        "SPECIAL PURPOSE",
        "INTERVENTIONS",
        "EVENTS",
        "FINDINGS",
        "FINDINGS ABOUT",
        "TRIAL DESIGN",
        "RELATIONSHIP",
        "STUDY REFERENCE",
    ),
    "adam": (
        "SUBJECT LEVEL ANALYSIS DATASET",
        "BASIC DATA STRUCTURE",
        "OCCURRENCE DATA STRUCTURE",
        "ADAM OTHER",
    ),
}
NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
RAW_SOURCE_RE = re.compile(r"^([a-z][a-z0-9_]*)\.([A-Z][A-Z0-9_]*)$")
DATASET_SOURCE_RE = re.compile(r"^([A-Z][A-Z0-9]*)\.([A-Z][A-Z0-9_]*)$")
MAX_CHAR_LENGTH = 200  # SAS XPORT v5
DATASET_KEYS = {
    "dataset",
    "label",
    "class",
    "structure",
    "keys",
    "sort",
    "comment",
    "variables",
    "value_level",
    "subclass",
    "standard",
}
VARIABLE_KEYS = {
    "name",
    "label",
    "type",
    "length",
    "core",
    "role",
    "codelist",
    "dictionary",
    "origin",
    "sources",
    "derivation",
    "format",
}
VALUE_LEVEL_KEYS = {"variable", "where", "type", "length", "codelist", "origin", "sources", "derivation", "label", "unit"}


class SpecError(ValueError):
    """A dataset specification is invalid (the message names the file and the variable)."""


@dataclass(frozen=True)
class VariableSpec:
    name: str
    label: str
    type: str  # "Char" | "Num"
    length: int  # bytes for Char (maximum allowed), 8 for Num
    core: str  # Req | Exp | Perm (ADaM: Req | Cond | Perm)
    role: str
    codelist: str | tuple[str, ...] | None  # one codelist name, several (union), or None
    origin: str
    sources: tuple[str, ...]
    derivation: str | None = None
    format: str | None = None
    dictionary: str | None = None  # external dictionary (MedDRA, ISO 3166-1 alpha-3, CTCAE v4.0)

    @property
    def codelists(self) -> tuple[str, ...]:
        """The codelist names as a tuple (empty when none)."""
        if self.codelist is None:
            return ()
        return (self.codelist,) if isinstance(self.codelist, str) else tuple(self.codelist)

    @property
    def is_date(self) -> bool:
        """An ISO 8601 character date/time variable (--DTC)."""
        return self.type == "Char" and self.name.endswith("DTC")


@dataclass(frozen=True)
class ValueLevelSpec:
    """Value-level metadata: what ``variable`` holds on the records matching ``where``."""

    variable: str
    where: tuple[tuple[str, str], ...]  # ((VAR, value), ...), all must hold
    origin: str
    sources: tuple[str, ...]
    codelist: str | tuple[str, ...] | None = None
    type: str | None = None
    length: int | None = None
    label: str | None = None  # e.g. QLABEL of a supplemental qualifier
    derivation: str | None = None
    unit: str | None = None  # unit of the value in this case (ADaM AVALU of a parameter)

    @property
    def codelists(self) -> tuple[str, ...]:
        if self.codelist is None:
            return ()
        return (self.codelist,) if isinstance(self.codelist, str) else tuple(self.codelist)

    @property
    def where_text(self) -> str:
        return " and ".join(f"{k} = {v}" for k, v in self.where)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    label: str
    cls: str
    structure: str
    keys: tuple[str, ...]
    sort: tuple[str, ...]
    comment: str | None
    variables: tuple[VariableSpec, ...]
    value_level: tuple[ValueLevelSpec, ...] = field(default=())
    layer: str = "sdtm"
    subclass: str | None = None  # Define-XML def:SubClass (ADaM: TIME-TO-EVENT, ADVERSE EVENT)
    standard: str | None = None  # "<Define-XML standard name> <version>" when not the layer's IG (ADaM-OCCDSIG 1.1)

    @property
    def variable_names(self) -> list[str]:
        return [v.name for v in self.variables]

    def variable(self, name: str) -> VariableSpec:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(f"{self.name} has no variable {name!r}")

    def __contains__(self, name: object) -> bool:
        return any(v.name == name for v in self.variables)

    @property
    def seq_variable(self) -> str | None:
        """The --SEQ variable of the dataset, if any."""
        for v in self.variables:
            if v.name.endswith("SEQ") and v.role == "Identifier" and v.type == "Num":
                return v.name
        return None

    @property
    def is_supp(self) -> bool:
        return self.name.startswith("SUPP")


# --------------------------------------------------------------------------------------------
# helpers


MAX_LABEL = 40  # SAS XPORT v5 and the FDA Technical Conformance Guide


def balanced(text: str) -> bool:
    """True when parentheses, brackets, braces, quotes and apostrophes in ``text`` pair up.

    The TCG asks for labels without unbalanced apostrophes, quotes or brackets, so ``Parkinson's``
    (one apostrophe) fails.
    """
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for c in text:
        if c in "([{":
            stack.append(c)
        elif c in pairs and (not stack or stack.pop() != pairs[c]):
            return False
    return not stack and text.count('"') % 2 == 0 and text.count("'") % 2 == 0


def label_problems(label: object) -> list[str]:
    """What breaks the label rules in a dataset or variable label ([] when nothing does).

    The one rule for the spec loader and the XPT check: at most MAX_LABEL ASCII characters, with
    balanced brackets, quotes and apostrophes (:func:`balanced`). A missing label is ``["is missing"]``.
    """
    if not isinstance(label, str) or not label.strip():
        return ["is missing"]
    out = []
    if len(label) > MAX_LABEL:
        out.append(f"has {len(label)} characters (max {MAX_LABEL})")
    if not label.isascii():
        bad = sorted({c for c in label if not c.isascii()})
        out.append(f"is not ASCII ({', '.join(f'U+{ord(c):04X}' for c in bad)})")
    if not balanced(label):
        out.append("has unbalanced quotes, apostrophes or brackets")
    return out


def _check_label(where: str, label: Any, what: str = "label") -> str:
    problems = label_problems(label)
    if problems == ["is missing"]:
        raise SpecError(f"{where}: {what} missing")
    if problems:
        raise SpecError(f"{where}: {what} {label!r} {'; '.join(problems)}")
    return label


def _codelist_value(where: str, value: Any, ct: dict) -> str | tuple[str, ...] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise SpecError(f"{where}: codelist must be a name, a list of names or null")
    for n in names:
        if n not in ct:
            raise SpecError(f"{where}: codelist {n!r} is not defined in specs/ct (nor built from specs/trial)")
    return names[0] if len(names) == 1 else tuple(names)


@dataclass(frozen=True)
class _SourceIndex:
    raw: frozenset[str]  # "form.FIELD"
    identifiers: frozenset[str]  # raw fields that are direct identifiers
    datasets: dict[str, frozenset[str]]  # "AE" -> variable names (both layers)
    layer_of: dict[str, str]  # "AE" -> "sdtm"


@lru_cache(maxsize=4)
def _source_index(root: Path) -> _SourceIndex:
    from pipeline.specs.raw import load_raw_spec

    raw = load_raw_spec(root)
    fields = {f"{f.form}.{f.name}" for form in raw.forms.values() for f in form.fields}
    idents = {f"{f.form}.{f.name}" for form in raw.forms.values() for f in form.fields if f.identifier}
    datasets: dict[str, frozenset[str]] = {}
    layer_of: dict[str, str] = {}
    for layer in LAYERS:
        d = root / layer
        if not d.is_dir():
            continue
        for p in sorted(d.glob("*.yaml")):
            doc = read_mapping(p)
            name = str(doc.get("dataset", p.stem.upper()))
            names = frozenset(str(v.get("name")) for v in doc.get("variables") or [] if isinstance(v, dict))
            datasets[name] = names
            layer_of[name] = layer
    return _SourceIndex(frozenset(fields), frozenset(idents), datasets, layer_of)


def clear_caches() -> None:
    """Forget cached specs (tests that write temporary spec trees call this)."""
    _source_index.cache_clear()
    _load_cached.cache_clear()


def source_asset_key(source: str, root: Path = SPECS_DIR) -> tuple[list[str], str]:
    """Asset key path and column of a source: ``ae.AETERM`` -> (["raw", "ae"], "AETERM"),
    ``DM.RFSTDTC`` -> (["sdtm", "dm"], "RFSTDTC")."""
    m = RAW_SOURCE_RE.match(source)
    if m:
        return ["raw", m.group(1)], m.group(2)
    m = DATASET_SOURCE_RE.match(source)
    if m:
        ds = m.group(1)
        layer = _source_index(root).layer_of.get(ds, "sdtm")
        return [layer, ds.lower()], m.group(2)
    raise ValueError(f"not a source reference: {source!r}")


def _check_sources(where: str, sources: Any, index: _SourceIndex, origin: str) -> tuple[str, ...]:
    if sources is None:
        return ()
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise SpecError(f"{where}: sources must be a list of '<form>.<FIELD>' or '<DATASET>.<VAR>'")
    for s in sources:
        if RAW_SOURCE_RE.match(s):
            if s not in index.raw:
                raise SpecError(f"{where}: source {s!r} is not a field of specs/raw/dictionary.csv")
            if s in index.identifiers and origin != "Derived":
                raise SpecError(f"{where}: source {s!r} is a direct identifier; only a Derived value may use it")
        elif DATASET_SOURCE_RE.match(s):
            ds, var = s.split(".", 1)
            if ds not in index.datasets:
                raise SpecError(f"{where}: source {s!r}: no dataset spec {ds}")
            if var not in index.datasets[ds]:
                raise SpecError(f"{where}: source {s!r}: {ds} has no variable {var}")
        else:
            raise SpecError(f"{where}: source {s!r} is neither '<form>.<FIELD>' nor '<DATASET>.<VAR>'")
    return tuple(sources)


def _opt_text(where: str, value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(f"{where}: {what} must be text")
    return value.strip() or None


def _parse_variable(path: Path, layer: str, doc: Any, ct: dict, index: _SourceIndex) -> VariableSpec:
    if not isinstance(doc, dict):
        raise SpecError(f"{path}: every variable must be a mapping")
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SpecError(f"{path}: variable name {name!r} is not 1-8 upper-case letters, digits or _")
    where = f"{path}: {name}"
    unknown = set(doc) - VARIABLE_KEYS
    if unknown:
        raise SpecError(f"{where}: unknown fields {sorted(unknown)}")
    label = _check_label(where, doc.get("label"))
    typ = doc.get("type")
    if typ not in TYPES:
        raise SpecError(f"{where}: type {typ!r} is not Char or Num")
    length = doc.get("length")
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise SpecError(f"{where}: length {length!r} must be a positive integer")
    if typ == "Char" and length > MAX_CHAR_LENGTH:
        raise SpecError(f"{where}: length {length} exceeds {MAX_CHAR_LENGTH} bytes (SAS XPORT v5)")
    if typ == "Num" and length != 8:
        raise SpecError(f"{where}: a Num variable has length 8")
    core = doc.get("core")
    if core not in CORES[layer]:
        raise SpecError(f"{where}: core {core!r} not in {CORES[layer]}")
    role = doc.get("role")
    if role not in ROLES:
        raise SpecError(f"{where}: role {role!r} not in {ROLES}")
    origin = doc.get("origin")
    if origin not in ORIGINS:
        raise SpecError(f"{where}: origin {origin!r} not in {ORIGINS}")
    codelist = _codelist_value(where, doc.get("codelist"), ct)
    if codelist is not None and typ == "Num":
        raise SpecError(f"{where}: a Num variable cannot have a codelist")
    dictionary = _opt_text(where, doc.get("dictionary"), "dictionary")
    if dictionary and codelist:
        raise SpecError(f"{where}: both a codelist and an external dictionary")
    fmt = _opt_text(where, doc.get("format"), "format")
    if fmt and fmt != fmt.upper():
        raise SpecError(f"{where}: format {fmt!r} must be upper case")
    sources = _check_sources(where, doc.get("sources"), index, origin)
    if origin == "Collected" and not sources:
        raise SpecError(f"{where}: a Collected variable must name its raw source")
    derivation = _opt_text(where, doc.get("derivation"), "derivation")
    if origin == "Derived" and not derivation:
        raise SpecError(f"{where}: a Derived variable needs a derivation")
    return VariableSpec(
        name=name,
        label=label,
        type=typ,
        length=length,
        core=core,
        role=role,
        codelist=codelist,
        origin=origin,
        sources=sources,
        derivation=derivation,
        format=fmt,
        dictionary=dictionary,
    )


def _parse_value_level(path: Path, doc: Any, variables: dict[str, VariableSpec], ct: dict, index: _SourceIndex) -> ValueLevelSpec:
    if not isinstance(doc, dict):
        raise SpecError(f"{path}: value_level entries must be mappings")
    var = doc.get("variable")
    where_doc = doc.get("where")
    where = f"{path}: value_level {var} where {where_doc}"
    unknown = set(doc) - VALUE_LEVEL_KEYS
    if unknown:
        raise SpecError(f"{where}: unknown fields {sorted(unknown)}")
    if var not in variables:
        raise SpecError(f"{where}: {var!r} is not a variable of the dataset")
    if not isinstance(where_doc, dict) or not where_doc:
        raise SpecError(f"{where}: 'where' must be a non-empty mapping VAR: value")
    conds = []
    for k, v in where_doc.items():
        if k not in variables:
            raise SpecError(f"{where}: condition variable {k!r} is not a variable of the dataset")
        if k == var:
            raise SpecError(f"{where}: a value-level entry cannot condition on its own variable")
        value = str(v)
        cls = variables[k].codelists
        if cls and not any(value in ct[c] for c in cls):
            raise SpecError(f"{where}: {k} = {value!r} is not in codelist(s) {cls}")
        conds.append((k, value))
    origin = doc.get("origin")
    if origin not in ORIGINS:
        raise SpecError(f"{where}: origin {origin!r} not in {ORIGINS}")
    typ = doc.get("type")
    if typ is not None and typ not in TYPES:
        raise SpecError(f"{where}: type {typ!r} is not Char or Num")
    length = doc.get("length")
    if length is not None and (not isinstance(length, int) or length < 1 or length > MAX_CHAR_LENGTH):
        raise SpecError(f"{where}: length {length!r} must be 1..{MAX_CHAR_LENGTH}")
    label = doc.get("label")
    if label is not None:
        _check_label(where, label)
    codelist = _codelist_value(where, doc.get("codelist"), ct)
    sources = _check_sources(where, doc.get("sources"), index, origin)
    if origin == "Collected" and not sources:
        raise SpecError(f"{where}: a Collected value must name its raw source")
    derivation = _opt_text(where, doc.get("derivation"), "derivation")
    if origin == "Derived" and not derivation:
        raise SpecError(f"{where}: a Derived value needs a derivation")
    unit = _opt_text(where, doc.get("unit"), "unit")
    return ValueLevelSpec(
        variable=var,
        where=tuple(conds),
        origin=origin,
        sources=sources,
        codelist=codelist,
        type=typ,
        length=length,
        label=label,
        derivation=derivation,
        unit=unit,
    )


def _names(where: str, value: Any, what: str, variables: dict[str, VariableSpec]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}: {what} must be a list of variable names")
    for v in value:
        if v not in variables:
            raise SpecError(f"{where}: {what} names {v!r}, which is not a variable of the dataset")
    if len(set(value)) != len(value):
        raise SpecError(f"{where}: {what} repeats a variable")
    return tuple(value)


def _parse(path: Path, layer: str, root: Path) -> DatasetSpec:
    from pipeline.specs.ct import load_ct

    try:
        doc = read_yaml(path)
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise SpecError(f"{path}: expected a mapping at the top")
    unknown = set(doc) - DATASET_KEYS
    if unknown:
        raise SpecError(f"{path}: unknown fields {sorted(unknown)}")
    name = doc.get("dataset")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SpecError(f"{path}: dataset name {name!r} is not 1-8 upper-case letters or digits")
    if path.stem != name.lower():
        raise SpecError(f"{path}: file name must be the lower-case dataset name ({name.lower()}.yaml)")
    label = _check_label(str(path), doc.get("label"), "dataset label")
    cls = doc.get("class")
    if cls not in CLASSES[layer]:
        raise SpecError(f"{path}: class {cls!r} not in {CLASSES[layer]}")
    structure = doc.get("structure")
    if not isinstance(structure, str) or not structure.strip():
        raise SpecError(f"{path}: structure missing")
    comment = _opt_text(str(path), doc.get("comment"), "comment")
    subclass = _opt_text(str(path), doc.get("subclass"), "subclass")
    standard = _opt_text(str(path), doc.get("standard"), "standard")
    if standard is not None and not re.match(r"^\S+ \d+(\.\d+)*$", standard):
        raise SpecError(f"{path}: standard {standard!r} is not '<name> <version>'")

    ct = load_ct(root)
    index = _source_index(root)
    var_docs = doc.get("variables")
    if not isinstance(var_docs, list) or not var_docs:
        raise SpecError(f"{path}: variables missing")
    variables: dict[str, VariableSpec] = {}
    for vd in var_docs:
        v = _parse_variable(path, layer, vd, ct, index)
        if v.name in variables:
            raise SpecError(f"{path}: {v.name}: variable defined twice")
        variables[v.name] = v
    keys = _names(str(path), doc.get("keys"), "keys", variables)
    sort = _names(str(path), doc.get("sort"), "sort", variables)
    if not keys:
        raise SpecError(f"{path}: keys must name at least one variable")
    vl_docs = doc.get("value_level") or []
    if not isinstance(vl_docs, list):
        raise SpecError(f"{path}: value_level must be a list")
    value_level = tuple(_parse_value_level(path, d, variables, ct, index) for d in vl_docs)
    seen = set()
    for vl in value_level:
        k = (vl.variable, vl.where)
        if k in seen:
            raise SpecError(f"{path}: value_level {vl.variable} where {vl.where_text} defined twice")
        seen.add(k)

    if layer == "sdtm":
        _check_sdtm_conventions(path, name, variables)
    return DatasetSpec(
        name=name,
        label=label,
        cls=cls,
        structure=structure.strip(),
        keys=keys,
        sort=sort,
        comment=comment,
        variables=tuple(variables.values()),
        value_level=value_level,
        layer=layer,
        subclass=subclass,
        standard=standard,
    )


def _check_sdtm_conventions(path: Path, name: str, variables: dict[str, VariableSpec]) -> None:
    """The few SDTMIG rules a spec can break by itself."""
    for v in variables.values():
        where = f"{path}: {v.name}"
        if v.is_date and v.length > 19 + 20:  # ISO 8601 date/time, or an interval
            raise SpecError(f"{where}: a --DTC variable longer than an ISO 8601 interval")
        if v.name.endswith("DY") and v.role == "Timing" and v.type != "Num":
            raise SpecError(f"{where}: a --DY variable is Num")
    if "DOMAIN" in variables and variables["DOMAIN"].core != "Req":
        raise SpecError(f"{path}: DOMAIN: core must be Req")


@lru_cache(maxsize=256)
def _load_cached(layer: str, name: str, root: Path) -> DatasetSpec:
    if layer not in LAYERS:
        raise SpecError(f"unknown layer {layer!r} (expected one of {LAYERS})")
    path = root / layer / f"{name.lower()}.yaml"
    if not path.exists():
        raise SpecError(f"{path}: no such dataset spec")
    return _parse(path, layer, root)


def load_dataset_spec(layer: str, name: str, root: Path = SPECS_DIR) -> DatasetSpec:
    """The validated spec ``specs/<layer>/<name>.yaml`` (``name`` in any case)."""
    return _load_cached(layer, name.lower(), Path(root))


def load_layer(layer: str, root: Path = SPECS_DIR) -> dict[str, DatasetSpec]:
    """All dataset specs of a layer, by dataset name, in file-name order."""
    d = Path(root) / layer
    if layer not in LAYERS:
        raise SpecError(f"unknown layer {layer!r} (expected one of {LAYERS})")
    if not d.is_dir():
        return {}
    out: dict[str, DatasetSpec] = {}
    for p in sorted(d.glob("*.yaml")):
        spec = load_dataset_spec(layer, p.stem, root)
        out[spec.name] = spec
    return out
