"""The annotated CRF (``acrf.pdf``): every raw form and field with the SDTM variables it feeds.

Built from the raw input contract (``specs/raw``: forms, fields, prompts, types, codelists, units)
and the SDTM specs' ``sources`` (``specs/sdtm/*.yaml``: a variable, or a value-level case of one,
lists the raw ``form.FIELD`` it comes from). A field is annotated with each target as
``DOMAIN.VARIABLE`` (value-level cases as ``LB.LBORRES [LBTESTCD = WBC]``, the text define.xml
names the item by), marked *collected* when the target's origin is Collected and *derived from*
otherwise; a field no SDTM variable reads is ``NOT SUBMITTED``, with the reason when the spec
gives one (direct identifiers). One section per form, each starting a new page.

:func:`page_map` gives the physical pages on which each Collected target is annotated: define.xml
writes them as ``def:PDFPageRef`` of the Collected origins, from the same rendering as the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.specs.datasets import load_layer
from pipeline.specs.paths import SPECS_DIR
from pipeline.specs.raw import load_raw_spec
from pipeline.specs.study import load_study
from pipeline.submission.pdf import Doc, render_pdf

FILE = "acrf.pdf"
NOT_SUBMITTED = "NOT SUBMITTED"


@dataclass(frozen=True)
class Target:
    """One SDTM variable (or value-level case) that a raw field feeds."""

    item: str  # "DM.RFICDTC" or "LB.LBORRES [LBTESTCD = WBC]" (define.xml's item naming)
    collected: bool  # origin Collected: define.xml's page reference points here

    @property
    def text(self) -> str:
        return self.item if self.collected else f"{self.item} (derived from)"


def targets(root: Path = SPECS_DIR) -> dict[tuple[str, str], list[Target]]:
    """``(form, FIELD) -> [Target]`` from every SDTM variable's and value-level case's raw sources,
    in dataset and variable order of the specs."""
    out: dict[tuple[str, str], list[Target]] = {}
    for _name, spec in sorted(load_layer("sdtm", root).items()):
        cases = [(f"{spec.name}.{v.name}", v.origin, v.sources) for v in spec.variables]
        cases += [
            (f"{spec.name}.{vl.variable} [{' and '.join(f'{k} = {val}' for k, val in vl.where)}]", vl.origin, vl.sources)
            for vl in spec.value_level
        ]
        for item, origin, sources in cases:
            for src in sources or ():
                form, _, fld = src.partition(".")
                if not form.islower() or not fld:
                    continue  # an SDTM variable, not a raw field
                t = Target(item, (origin or "").strip().lower() in ("collected", "crf", "edt"))
                lst = out.setdefault((form, fld), [])
                if t not in lst:
                    lst.append(t)
    return out


def _field_cell(f, codelists) -> str:
    parts = [f.label, f"Field: {f.name} ({f.type}{', required' if f.required else ''})"]
    if f.codelist and f.codelist in codelists:
        parts.append("Values: " + "; ".join(codelists[f.codelist].values))
    if f.unit:
        parts.append(f"Unit: {f.unit}")
    if f.unit_field:
        parts.append(f"Unit in field {f.unit_field}")
    return "\n".join(parts)


def build_acrf(root: Path = SPECS_DIR) -> Doc:
    """The aCRF document: a contents page, then one section per raw form (each on a new page)."""
    raw = load_raw_spec(root)
    study = load_study(root)
    tg = targets(root)
    doc = Doc(
        f"{study.studyid} Annotated Case Report Form",
        subject="Raw CRF forms of the EDC export annotated with their SDTM (SDTMIG 3.4) variables",
    )
    doc.h(1, "How to read this document")
    doc.p(
        "One section per CRF form of the sites' EDC export (specs/raw/forms.yaml), one row per field "
        "(specs/raw/dictionary.csv) with its prompt, field name, type and permitted values. The right column "
        "names the SDTM variable the field is submitted in, as DOMAIN.VARIABLE (a value-level case as "
        "DOMAIN.VARIABLE [condition]); 'derived from' marks an SDTM variable derived from the field rather "
        "than collected in it; NOT SUBMITTED marks a field no SDTM variable holds. define.xml links each "
        "collected variable to the pages where it is annotated."
    )
    doc.table(
        ["Form", "Label", "Fields", "Record keys"],
        [[name, form.label, len(form.fields), ", ".join(form.keys)] for name, form in raw.forms.items()],
        widths=[1, 3, 0.7, 2],
    )
    for name, form in raw.forms.items():
        doc.page_break()
        doc.h(1, f"Form {name}: {form.label}")
        rows, marks = [], []
        for f in form.fields:
            ts = tg.get((name, f.name), [])
            if ts:
                note = "\n".join(t.text for t in ts)
            elif f.identifier:
                note = f"{NOT_SUBMITTED} (direct identifier)"
            else:
                note = NOT_SUBMITTED
            if f.identifier and ts:
                note = f"{NOT_SUBMITTED} (direct identifier)\n" + note
            rows.append([_field_cell(f, raw.codelists), note])
            marks.append([t.item for t in ts if t.collected])
        doc.table(["CRF field", "SDTM annotation"], rows, widths=[3, 2], marks=marks)
    return doc


@dataclass(frozen=True)
class Rendered:
    """The aCRF document, its PDF bytes and the pages of each collected item."""

    doc: Doc
    pdf: bytes
    pages: dict[str, tuple[int, ...]]


def render(root: Path = SPECS_DIR) -> Rendered:
    """Render the aCRF from the specs under ``root``.

    Not cached: a cache keyed on the folder would keep a rendering made from other specs or another CT
    (a test's monkeypatched loaders) and hand it to a later run in the same process.
    """
    doc = build_acrf(root)
    pdf, marks = render_pdf(doc, load_study(root).data_cutoff)
    return Rendered(doc, pdf, {k: tuple(v) for k, v in marks.items()})


def acrf_pdf(root: Path = SPECS_DIR) -> bytes:
    """The aCRF as PDF bytes (the same bytes for the same specs)."""
    return render(root).pdf


def page_map(root: Path = SPECS_DIR) -> dict[str, tuple[int, ...]]:
    """Collected item (``"DM.RFICDTC"``, ``"LB.LBORRES [LBTESTCD = WBC]"``) -> aCRF pages (1-based)."""
    return render(root).pages
