"""The raw input contract: forms, fields, site conventions and raw codelists.

Reads ``specs/raw/forms.yaml``, ``specs/raw/dictionary.csv``, ``specs/raw/sites.yaml``,
``specs/raw/codelists.csv`` and ``specs/trial/criteria.csv``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from pipeline.specs.paths import SPECS_DIR

FIELD_TYPES = ("text", "integer", "float", "date", "code")
DATE_ORDERS = ("YMD", "DMY", "MDY")


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


@lru_cache(maxsize=4)
def load_raw_spec(root: Path = SPECS_DIR) -> RawSpec:
    """Load and cross-check the raw input contract under ``root``."""
    forms_doc = yaml.safe_load((root / "raw" / "forms.yaml").read_text(encoding="utf-8"))
    sites_doc = yaml.safe_load((root / "raw" / "sites.yaml").read_text(encoding="utf-8"))
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
