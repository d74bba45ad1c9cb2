"""The reviewer's guides read back from their PDFs: every PHUSE section (text and bookmark), every
submitted dataset, every CORE finding of a hand-made conformance summary with its explanation,
the datasets left out, the criteria, populations and methods; byte-identical on a second build."""

from __future__ import annotations

import io as _io
import re

import pandas as pd
import pypdf
import pytest

from pipeline.specs.conformance import parse_explanations
from pipeline.specs.datasets import load_layer
from pipeline.specs.raw import load_raw_spec
from pipeline.submission import guides, programs
from pipeline.submission.pdf import render_pdf, to_markdown

CUTOFF = "2022-12-31"

TS = pd.DataFrame(
    [
        # TSPARMCD, TSPARM, TSVAL, TSVCDREF, TSVCDVER
        ("SDTMVER", "SDTM Version", "2.0", None, None),
        ("SDTIGVER", "SDTM IG Version", "3.4", None, None),
        ("TITLE", "Trial Title", "A toy adjuvant trial", None, None),
        ("REGID", "Registry Identifier", "NCT02867280", "CLINICALTRIALS.GOV", None),
        ("RANDOM", "Trial is Randomized", "N", "CDISC CT", "2099-01-01"),
        ("TBLIND", "Trial Blinding Schema", "OPEN LABEL", "CDISC CT", "2099-01-01"),
        ("OBJSEC", "Trial Secondary Objective", "Second objective A", None, None),
        ("OBJSEC", "Trial Secondary Objective", "Second objective B", None, None),
        ("AEDICT", "Adverse Event Dictionary", "MedDRA", None, None),
        ("AEDICTV", "Adverse Event Dictionary Version", "26.1", None, None),
        ("PCLAS", "Pharmacologic Class", "Kinase Inhibitor", "MED-RT", "2099-02"),
    ],
    columns=["TSPARMCD", "TSPARM", "TSVAL", "TSVCDREF", "TSVCDVER"],
)
TA = pd.DataFrame(
    {
        "ARMCD": ["SORAFENIB", "CONTROL"],
        "TAETORD": [1, 1],
        "ETCD": ["SCRN", "SCRN"],
        "EPOCH": ["SCREENING", "SCREENING"],
        "TABRANCH": ["Chosen at enrollment", None],
    }
)
TE = pd.DataFrame({"ETCD": ["SCRN"], "ELEMENT": ["Screening"], "TESTRL": ["Hepatectomy"], "TEENRL": ["First dose"]})
CRITERIA = pd.DataFrame(
    {
        "IETESTCD": ["IN01", "EX01"],
        "IECAT": ["INCLUSION", "EXCLUSION"],
        "IETEST": ["Age 18 to 75 years", "Prior anti-tumour therapy"],
    }
)

EXPLANATIONS = parse_explanations(
    {
        "findings": [
            {
                "rule": "CORE-000713",
                "datasets": ["DM"],
                "kind": "sponsor choice",
                "explanation": "RFSTDTC is the hepatectomy: consent follows it by design.",
            },
            {
                "rule": "CORE-000484",
                "datasets": ["RELREC"],
                "kind": "engine false positive",
                "explanation": "A dataset-level relationship has no USUBJID.",
            },
        ],
        "engine_errors": [],
    }
)
SUMMARY = {
    "format": "conformance-summary/1",
    "explanations_file": "explanations.yaml",
    "passes": [
        {
            "data_format": "xpt",
            "engine": "cdisc-rules-engine 0.17.1",
            "standard": "SDTMIG 3.4",
            "ct_packages": ["sdtmct-2025-03-28"],
            "summary": {"findings": 160},
            "findings_explained": 155,
            "findings_unexplained": 5,
            "explained": [
                {
                    "rule": "CORE-000713",
                    "cdisc_ids": "",
                    "dataset": "DM",
                    "findings": 154,
                    "message": "RFICDTC after RFSTDTC",
                    "kind": "sponsor choice",
                    "explanation": "RFSTDTC is the hepatectomy: consent follows it by design.",
                },
                {
                    "rule": "CORE-000484",
                    "cdisc_ids": "",
                    "dataset": "RELREC",
                    "findings": 1,
                    "message": "RELID on one record",
                    "kind": "engine false positive",
                    "explanation": "A dataset-level relationship has no USUBJID.",
                },
            ],
            "unexplained": [
                {
                    "rule": "CORE-000026",
                    "cdisc_ids": "",
                    "dataset": "LB",
                    "findings": 5,
                    "message": "TPTNUM missing when TPT exists",
                }
            ],
            "engine_errors_explained": [],
            "engine_errors_unexplained": [{"rule": "CORE-000999", "dataset": "TS", "message": "column not found"}],
        }
    ],
    "stale_explanations": [{"rule": "CORE-000741", "dataset": "TS"}],
}
INVENTORY = guides.Inventory({"DM": 154, "AE": 216, "TS": 53, "TA": 5, "TE": 3, "LB": 2582, "RELREC": 2}, {"IE": "no records"})


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _read(pdf: bytes) -> tuple[str, list[str]]:
    r = pypdf.PdfReader(_io.BytesIO(pdf))
    text = "\n".join(p.extract_text() for p in r.pages)

    def titles(items):
        for o in items:
            yield from (titles(o) if isinstance(o, list) else [o.title])

    return text, list(titles(r.outline))


@pytest.fixture(scope="module")
def sdtm_specs():
    return load_layer("sdtm")


def _csdrg(sdtm_specs, summary=SUMMARY, status="CORE ran on the XPT files."):
    return guides.csdrg(
        "NCT02867280", sdtm_specs, INVENTORY, TS, TA, TE, CRITERIA, load_raw_spec().forms, summary, EXPLANATIONS, status
    )


def test_csdrg_sections_datasets_findings_and_criteria(sdtm_specs):
    doc = _csdrg(sdtm_specs)
    pdf, _ = render_pdf(doc, CUTOFF)
    text, outline = _read(pdf)
    flat = _squash(text)
    for s in guides.CSDRG_SECTIONS:
        assert s in outline, s
        assert _squash(s) in flat, s
    # inventory: from the TS fixture and the specs' dictionaries, not typed in the guide
    assert _squash("SDTMIG 3.4") in flat and "2099-01-01" in flat
    # the specs name MedDRA without a version for AE (the version actually used is TS.AEDICTV, next line)
    assert _squash("MedDRA - AE.AELLT") in flat
    assert _squash("MedDRA 26.1 TS.AEDICTV") in flat and _squash("MED-RT 2099-02 TS.TSVCDVER of PCLAS") in flat
    for name in INVENTORY.submitted:
        assert _squash(sdtm_specs[name].label) in flat, name
    # one note per submitted subject domain, from its spec comment
    for name in ("DM", "AE", "LB", "RELREC"):
        assert f"{name} ({sdtm_specs[name].label})" in outline
        assert _squash(" ".join(sdtm_specs[name].comment.split())[:120]) in flat, name
    # every finding with its count and explanation; the unexplained one says so
    for r in SUMMARY["passes"][0]["explained"]:
        assert _squash(f"{r['rule']}{r['dataset']}{r['findings']}") in flat
        assert _squash(r["explanation"]) in flat
    assert _squash("CORE-000026LB5") in flat and _squash("NOT EXPLAINED") in flat
    assert _squash("CORE-000999") in flat and _squash("column not found") in flat
    assert _squash("CORE-000741 on TS") in flat
    # left out because empty; criteria appendix
    assert _squash(f"IE{sdtm_specs['IE'].label}no records") in flat
    for row in CRITERIA.itertuples():
        assert _squash(f"{row.IETESTCD}{row.IECAT}{row.IETEST}") in flat
    assert _squash("Second objective A") in flat and _squash("Second objective B") in flat


def test_csdrg_without_core_lists_the_explanations(sdtm_specs):
    status = "The CDISC CORE rules engine is not set up on the machine that built this package."
    pdf, _ = render_pdf(_csdrg(sdtm_specs, None, status), CUTOFF)
    flat = _squash(_read(pdf)[0])
    assert _squash(status) in flat
    for e in EXPLANATIONS.findings:
        assert _squash(f"{e.rule}{','.join(e.datasets)}{e.kind}") in flat
        assert _squash(e.explanation) in flat
    assert "CORE-000026" not in flat


def test_csdrg_says_core_was_not_run_with_the_reason(sdtm_specs):
    from pipeline.submission.conformance import csdrg_inputs
    from pipeline.submission.core import conformance_value

    summary, status = csdrg_inputs(conformance_value("not run", "switched off (PIPELINE_CORE=0)"))
    pdf, _ = render_pdf(_csdrg(sdtm_specs, summary, status), CUTOFF)
    flat = _squash(_read(pdf)[0])
    assert _squash("was not run on this package (not run: switched off (PIPELINE_CORE=0))") in flat
    assert _squash(EXPLANATIONS.findings[0].explanation) in flat


ADSL = pd.DataFrame(
    {
        "TRT01P": ["CONTROL", "CONTROL", "SORAFENIB", "SORAFENIB", "SORAFENIB"],
        "FASFL": ["Y", "Y", "Y", "Y", "N"],
        "SAFFL": ["Y", "N", "Y", "N", "N"],
    }
)
ENDPOINTS = pd.DataFrame(
    {
        "ENDPOINT": [
            "Recurrence-free survival",
            "Recurrence-free survival",
            "2-year recurrence rate",
            "Recurrence-free survival",
        ],
        "STATISTIC": ["KM rate", "KM rate", "Cumulative incidence", "Hazard ratio (unadjusted)"],
        "METHOD": [
            "Kaplan-Meier, log(-log) CI",
            "Kaplan-Meier, log(-log) CI",
            "Aalen-Johansen, death competing",
            "Cox (Efron ties)",
        ],
    }
)


def _adrg():
    return guides.adrg(
        "NCT02867280",
        load_layer("adam"),
        guides.Inventory({"ADSL": 5, "ADTTE": 15, "ADAE": 4, "ADEX": 9}, {}),
        TS,
        ADSL,
        ENDPOINTS,
        programs.inventory(),
        {"reportlab": "5.1.0", "dagster": "1.13.27", "x": "1"},
        ["dagster", "reportlab"],
        "3.11",
    )


def test_population_counts_known_answer():
    assert guides.population_counts(ADSL) == [["CONTROL", 2, 2, 1], ["SORAFENIB", 3, 2, 1], ["Total", 5, 4, 2]]


def test_adrg_sections_populations_derivations_methods_programs():
    doc = _adrg()
    pdf, _ = render_pdf(doc, CUTOFF)
    text, outline = _read(pdf)
    flat = _squash(text)
    for s in guides.ADRG_SECTIONS:
        assert s in outline and _squash(s) in flat, s
    adam = load_layer("adam")
    for name, spec in adam.items():
        assert _squash(spec.label) in flat, name
    for var in ("FASFL", "SAFFL"):
        assert _squash(adam["ADSL"].variable(var).derivation) in flat
    assert _squash("CONTROL221") in flat and _squash("SORAFENIB321") in flat and _squash("Total542") in flat
    # derivations in words, from the ADaM specs' comments and derivations
    assert _squash(" ".join(adam["ADTTE"].comment.split())[:200]) in flat
    assert _squash(adam["ADTTE"].variable("CNSR").derivation) in flat
    assert _squash(adam["ADAE"].variable("TRTEMFL").derivation) in flat
    # methods from the results table: each method once, its statistics listed
    for m in ENDPOINTS["METHOD"].unique():
        assert flat.count(_squash(m)) == 1, m
    for p in programs.inventory():
        assert _squash(p.file) in flat
    assert _squash("reportlab5.1.0") in flat and _squash("dagster1.13.27") in flat
    # ADaM dependencies from the specs' sources (ADT reads RS.RSDTC, SUPPRS.QVAL, DM.DTHDTC, ADSL.LSTALVDT)
    deps = guides._dependencies(adam["ADTTE"])
    assert {"ADSL", "DM", "RS", "SUPPRS"} <= set(deps) and "ADTTE" not in deps
    assert _squash("ADTTE" + ", ".join(deps)) in flat


def test_guides_are_byte_identical_and_dated_by_the_cutoff(sdtm_specs):
    a, _ = render_pdf(_csdrg(sdtm_specs), CUTOFF)
    b, _ = render_pdf(_csdrg(sdtm_specs), CUTOFF)
    assert a == b
    c, _ = render_pdf(_adrg(), CUTOFF)
    assert c == render_pdf(_adrg(), CUTOFF)[0]
    meta = pypdf.PdfReader(_io.BytesIO(c)).metadata
    assert meta["/CreationDate"] == "D:20221231000000Z" and meta["/Title"] == "NCT02867280 Analysis Data Reviewer's Guide"


def test_markdown_preview_has_the_sections_and_tables(sdtm_specs):
    md = to_markdown(_csdrg(sdtm_specs))
    assert md.startswith("# NCT02867280 Clinical Study Data Reviewer's Guide")
    assert "## 4 Data Conformance Summary" in md and "| CORE-000713 | DM | 154 |" in md
