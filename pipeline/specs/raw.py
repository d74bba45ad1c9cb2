"""The raw input contract: forms, fields, site conventions and raw codelists.

Reads ``specs/raw/forms.yaml``, ``specs/raw/dictionary.csv``, ``specs/raw/sites.yaml``,
``specs/raw/codelists.csv`` and ``specs/trial/criteria.csv``.

Value rules are data in ``dictionary.csv`` (optional columns; blank = no rule):

* ``min`` / ``max``: inclusive numeric bounds of an integer or float field (``0`` for a
  dose, ``5`` and ``15`` for the Child-Pugh score);
* ``required_if``: ``FIELD=VALUE`` or ``FIELD=VALUE1|VALUE2``: the (optional) field must
  be given when code field ``FIELD`` of the same form holds one of the canonical values
  (``AEONGO=N``: an adverse event that is not ongoing has an end date).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pipeline.specs.paths import SPECS_DIR, read_mapping

FIELD_TYPES = ("text", "integer", "float", "date", "code")
DATE_ORDERS = ("YMD", "DMY", "MDY")
NUMERIC_TYPES = ("integer", "float")


@dataclass(frozen=True)
class Condition:
    """``required_if`` of a field: ``field`` holds one of ``values`` (canonical codelist values)."""

    field: str
    values: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.field}={'|'.join(self.values)}"


@dataclass(frozen=True)
class RawField:
    """One field of a CRF form as the EDC exports it."""

    form: str
    name: str
    label: str
    type: str  # one of FIELD_TYPES
    required: bool
    codelist: str | None  # raw codelist name when type == "code"
    unit: str | None  # fixed unit of a numeric field (e.g. "cm")
    unit_field: str | None  # field holding the unit of this numeric field (e.g. "AFPU")
    identifier: bool  # a direct identifier: never copied to any output
    description: str = ""
    min: float | None = None  # inclusive lower bound of a numeric field
    max: float | None = None  # inclusive upper bound of a numeric field
    required_if: Condition | None = None  # must be given when this condition holds


@dataclass(frozen=True)
class Form:
    """A CRF form: its fields in export order and the keys of one record."""

    name: str
    label: str
    keys: tuple[str, ...]
    fields: tuple[RawField, ...]

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> RawField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"form {self.name!r} has no field {name!r}")


@dataclass(frozen=True)
class Site:
    """A site's export conventions from the data transfer agreement."""

    siteid: str
    name: str
    country: str
    file_format: str  # "csv" or "xlsx"
    encoding: str
    date_order: str  # one of DATE_ORDERS: how an all-numeric date such as 05/03/2019 is read
    subject_id_pattern: str


@dataclass(frozen=True)
class RawCodelist:
    """A raw codelist: canonical values and the synonyms sites send for them."""

    name: str
    values: tuple[str, ...]
    synonyms: dict[str, str] = field(default_factory=dict)  # synonym -> canonical value


@dataclass(frozen=True)
class RawSpec:
    study: str
    forms: dict[str, Form]
    sites: dict[str, Site]
    codelists: dict[str, RawCodelist]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _load_codelists(root: Path) -> dict[str, RawCodelist]:
    values: dict[str, list[str]] = {}
    synonyms: dict[str, dict[str, str]] = {}
    for row in _read_csv(root / "raw" / "codelists.csv"):
        name, value = row["codelist"], row["value"]
        values.setdefault(name, []).append(value)
        syn = synonyms.setdefault(name, {})
        for s in filter(None, (x.strip() for x in row["synonyms"].split("|"))):
            syn[s] = value
    # Criterion codes are defined once, with their text, in specs/trial/criteria.csv.
    values["IETESTCD"] = [r["IETESTCD"] for r in _read_csv(root / "trial" / "criteria.csv")]
    synonyms.setdefault("IETESTCD", {})
    return {n: RawCodelist(n, tuple(v), synonyms[n]) for n, v in values.items()}


def _bound(row: dict[str, str], column: str, where: str) -> float | None:
    text = (row.get(column) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {column} {text!r} is not a finite number")
    return value


def _condition(row: dict[str, str], where: str) -> Condition | None:
    text = (row.get("required_if") or "").strip()
    if not text:
        return None
    name, sep, values = text.partition("=")
    parts = tuple(v.strip() for v in values.split("|"))
    if not sep or not name.strip() or not all(parts):
        raise ValueError(f"{where}: required_if {text!r} is not FIELD=VALUE or FIELD=VALUE1|VALUE2")
    return Condition(name.strip(), parts)


def _check_rules(form: str, fields: list[RawField], codelists: dict[str, RawCodelist]) -> None:
    """The value rules of one form's fields make sense (bounds on numbers, conditions on its own code fields)."""
    by_name = {f.name: f for f in fields}
    for f in fields:
        where = f"specs/raw/dictionary.csv: {form}.{f.name}"
        if (f.min is not None or f.max is not None) and f.type not in NUMERIC_TYPES:
            raise ValueError(f"{where}: min/max apply to integer and float fields, not {f.type}")
        if f.min is not None and f.max is not None and f.min > f.max:
            raise ValueError(f"{where}: min {f.min:g} is greater than max {f.max:g}")
        c = f.required_if
        if c is None:
            continue
        if f.required:
            raise ValueError(f"{where}: required_if on a field that is always required")
        cond = by_name.get(c.field)
        if cond is None or cond is f:
            raise ValueError(f"{where}: required_if names {c.field!r}, which is not another field of form {form!r}")
        if cond.type != "code" or cond.identifier or cond.codelist is None:
            raise ValueError(f"{where}: required_if field {c.field} must be a code field (not an identifier)")
        unknown = [v for v in c.values if v not in codelists[cond.codelist].values]
        if unknown:
            raise ValueError(f"{where}: required_if value(s) {', '.join(unknown)} not in codelist {cond.codelist}")


@lru_cache(maxsize=4)
def load_raw_spec(root: Path = SPECS_DIR) -> RawSpec:
    """Load and cross-check the raw input contract under ``root``."""
    forms_doc = read_mapping(root / "raw" / "forms.yaml")
    sites_doc = read_mapping(root / "raw" / "sites.yaml")
    codelists = _load_codelists(root)

    by_form: dict[str, list[RawField]] = {}
    for row in _read_csv(root / "raw" / "dictionary.csv"):
        f = RawField(
            form=row["form"],
            name=row["field"],
            label=row["label"],
            type=row["type"],
            required=row["required"] == "Y",
            codelist=row["codelist"] or None,
            unit=row["unit"] or None,
            unit_field=row["unit_field"] or None,
            identifier=row["identifier"] == "Y",
            description=row["description"],
            min=_bound(row, "min", f"specs/raw/dictionary.csv: {row['form']}.{row['field']}"),
            max=_bound(row, "max", f"specs/raw/dictionary.csv: {row['form']}.{row['field']}"),
            required_if=_condition(row, f"specs/raw/dictionary.csv: {row['form']}.{row['field']}"),
        )
        if f.type not in FIELD_TYPES:
            raise ValueError(f"specs/raw/dictionary.csv: {f.form}.{f.name}: unknown type {f.type!r}")
        if (f.type == "code") != (f.codelist is not None):
            raise ValueError(f"specs/raw/dictionary.csv: {f.form}.{f.name}: a code field needs a codelist")
        if f.codelist and f.codelist not in codelists:
            raise ValueError(f"specs/raw/dictionary.csv: {f.form}.{f.name}: unknown codelist {f.codelist!r}")
        by_form.setdefault(f.form, []).append(f)

    forms: dict[str, Form] = {}
    for name, doc in forms_doc["forms"].items():
        fields = tuple(by_form.pop(name, []))
        if not fields:
            raise ValueError(f"specs/raw/forms.yaml: form {name!r} has no fields in dictionary.csv")
        _check_rules(name, list(fields), codelists)
        form = Form(name=name, label=doc["label"], keys=tuple(doc["keys"]), fields=fields)
        for k in form.keys:
            form.field(k)
        forms[name] = form
    if by_form:
        raise ValueError(f"specs/raw/dictionary.csv: fields for undeclared forms {sorted(by_form)}")

    sites = {}
    for s in sites_doc["sites"]:
        site = Site(**{k: str(v) for k, v in s.items()})
        if site.date_order not in DATE_ORDERS:
            raise ValueError(f"specs/raw/sites.yaml: site {site.siteid}: date_order {site.date_order!r}")
        sites[site.siteid] = site
    return RawSpec(study=str(sites_doc["study"]), forms=forms, sites=sites, codelists=codelists)
