"""The reviewer's guides: the clinical study data reviewer's guide (cSDRG) and the analysis data
reviewer's guide (ADRG), in the sections of the PHUSE templates.

Pure functions: the specs, the submitted trial-design and analysis data, the m5 tree's inventory,
the CORE conformance summary and the endpoint results in, a :class:`pipeline.submission.pdf.Doc`
out. Nothing is typed here that a spec, a dataset or a report already states: versions come
from TS and the specs, per-domain notes from the dataset ``comment``s, derivations from the
variables' ``derivation``s, findings and explanations from ``conformance_summary.json`` (or,
when the CORE engine did not run, from ``specs/conformance/explanations.yaml``), methods from
the endpoint results' METHOD column, software versions from ``constraints.txt``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline.specs.conformance import Explanations
from pipeline.submission.common import layer
from pipeline.submission.define import DEFINE_VERSION, STYLESHEET, _split_dictionary
from pipeline.submission.pdf import Doc

CSDRG_SECTIONS = (
    "1 Introduction",
    "1.1 Purpose",
    "1.2 Study Data Standards and Dictionary Inventory",
    "2 Protocol Description",
    "2.1 Protocol Number and Title",
    "2.2 Protocol Design in Relation to Trial Design Datasets",
    "2.3 Trial Design Datasets",
    "3 Subject Data Description",
    "3.1 Overview",
    "3.2 Annotated CRFs",
    "3.3 Datasets Not Submitted",
    "3.4 SDTM Subject Domains",
    "4 Data Conformance Summary",
    "4.1 Conformance Inputs",
    "4.2 Issues Summary",
    "4.3 Additional Conformance Details",
    "Appendix I: Inclusion/Exclusion Criteria",
)
ADRG_SECTIONS = (
    "1 Introduction",
    "1.1 Purpose",
    "1.2 Study Data Standards and Dictionary Inventory",
    "2 Protocol Description",
    "3 Analysis Considerations Related to Multiple Analysis Datasets",
    "3.1 Analysis Populations",
    "3.2 Treatment Variables",
    "3.3 Imputation and Derivation Methods",
    "3.4 Analysis Methods",
    "4 Analysis Data Creation and Processing Issues",
    "4.1 Data Dependencies",
    "4.2 Key Derivations",
    "5 Analysis Dataset Descriptions",
    "6 Data Conformance Summary",
    "7 Submission of Programs",
    "7.1 Program Inventory",
    "7.2 Software and Versions",
)


@dataclass
class Inventory:
    """What a layer's folder of the m5 tree holds: datasets with records, and those left out."""

    submitted: dict[str, int] = field(default_factory=dict)  # dataset -> records
    left_out: dict[str, str] = field(default_factory=dict)  # dataset -> reason


def _ts(ts: pd.DataFrame, parmcd: str) -> list[str]:
    """TSVAL of every TS record of a parameter, in TSSEQ order."""
    rows = ts[ts["TSPARMCD"] == parmcd]
    if "TSSEQ" in rows:
        rows = rows.sort_values("TSSEQ")
    return [str(v) for v in rows["TSVAL"].tolist() if isinstance(v, str) and v]


def _one(ts: pd.DataFrame, parmcd: str, default: str = "not in TS") -> str:
    v = _ts(ts, parmcd)
    return "; ".join(v) if v else default


def ct_versions(ts: pd.DataFrame) -> list[str]:
    """The CDISC CT versions TS records its coded values in (TSVCDVER where TSVCDREF = CDISC CT)."""
    rows = ts[ts["TSVCDREF"] == "CDISC CT"]
    return sorted({str(v) for v in rows["TSVCDVER"].dropna()})


def ts_dictionaries(ts: pd.DataFrame) -> list[list[str]]:
    """Dictionary versions TS states: each ``<X>DICTV`` parameter with the name in ``<X>DICT``
    (AEDICT/AEDICTV), and each code system other than CDISC CT that TS values cite with a version
    (TSVCDREF/TSVCDVER)."""
    rows = []
    for p in sorted(ts["TSPARMCD"].dropna().unique()):
        if p.endswith("DICTV"):
            rows.append([_one(ts, p[:-1], p[:-1]), _one(ts, p), f"TS.{p}"])
    if {"TSVCDREF", "TSVCDVER"} <= set(ts.columns):
        cited = ts[ts["TSVCDREF"].notna() & ts["TSVCDVER"].notna() & (ts["TSVCDREF"] != "CDISC CT")]
        for (ref, ver), g in cited.groupby(["TSVCDREF", "TSVCDVER"], sort=True):
            rows.append([str(ref), str(ver), "TS.TSVCDVER of " + ", ".join(dict.fromkeys(g["TSPARMCD"]))])
    return rows


def dictionaries(specs: Mapping[str, Any]) -> dict[str, list[str]]:
    """External dictionary (as the specs name it, with its version) -> the variables coded with it."""
    out: dict[str, list[str]] = {}
    for _name, spec in sorted(specs.items()):
        for v in spec.variables:
            if getattr(v, "dictionary", None):
                out.setdefault(v.dictionary, []).append(f"{spec.name}.{v.name}")
    return dict(sorted(out.items()))


def _standards_table(doc: Doc, ts: pd.DataFrame, specs: Mapping[str, Any], ig_rows: list[list[str]]) -> None:
    rows = list(ig_rows)
    rows += [
        ["CDISC Controlled Terminology", v, "TS.TSVCDVER of the coded TS values; define.xml CT standard"] for v in ct_versions(ts)
    ]
    rows.append(["Define-XML", DEFINE_VERSION, f"define.xml (stylesheet {STYLESHEET})"])
    rows += ts_dictionaries(ts)
    for d, used in dictionaries(specs).items():
        name, version = _split_dictionary(d)  # as define.xml's ExternalCodeList states it
        rows.append([name, version or "-", ", ".join(used[:8]) + (f" and {len(used) - 8} more" if len(used) > 8 else "")])
    doc.table(["Standard or dictionary", "Version", "Where it applies"], rows, widths=[2, 1, 4])


def _protocol(doc: Doc, ts: pd.DataFrame) -> None:
    """Protocol number, title, objectives and outcome measures, from TS."""
    doc.table(
        ["", ""],
        [
            ["Protocol number (TS.REGID)", _one(ts, "REGID")],
            ["Title (TS.TITLE)", _one(ts, "TITLE")],
            ["Sponsor (TS.SPONSOR)", _one(ts, "SPONSOR")],
            ["Phase (TS.TPHASE)", _one(ts, "TPHASE")],
            ["Primary objective (TS.OBJPRIM)", _one(ts, "OBJPRIM")],
            ["Secondary objectives (TS.OBJSEC)", "\n".join(_ts(ts, "OBJSEC"))],
            ["Primary outcome measure (TS.OUTMSPRI)", _one(ts, "OUTMSPRI")],
            ["Secondary outcome measures (TS.OUTMSSEC)", "\n".join(_ts(ts, "OUTMSSEC"))],
        ],
        widths=[2, 5],
    )


# --------------------------------------------------------------------------- cSDRG


def csdrg(
    studyid: str,
    specs: Mapping[str, Any],
    inventory: Inventory,
    ts: pd.DataFrame,
    ta: pd.DataFrame,
    te: pd.DataFrame,
    criteria: pd.DataFrame,
    forms: Mapping[str, Any],
    summary: Mapping[str, Any] | None,
    explanations: Explanations,
    core_status: str,
) -> Doc:
    """The cSDRG.

    ``specs``: SDTM dataset specs; ``inventory``: the tabulations folder; ``ts``/``ta``/``te``: the
    submitted trial-design datasets; ``criteria``: IETESTCD/IECAT/IETEST rows; ``forms``: raw form
    name -> Form; ``summary``: the parsed conformance_summary.json (None when CORE did not run this
    time); ``core_status``: one sentence on whether and how CORE ran.
    """
    sdtm = layer("sdtm")
    doc = Doc(
        f"{studyid} Clinical Study Data Reviewer's Guide",
        subject="Clinical study data reviewer's guide (PHUSE cSDRG template sections)",
    )
    doc.h(1, "1 Introduction")
    doc.h(2, "1.1 Purpose")
    doc.p(
        f"This guide accompanies the SDTM datasets of study {studyid} in tabulations/sdtm/: the transport files "
        f"(SAS XPORT version 5), define.xml (Define-XML {DEFINE_VERSION}) and the annotated CRF (acrf.pdf). It "
        "states the standards and dictionaries used, the trial design, a note per domain on the sponsor's "
        "choices, the datasets not submitted and the conformance findings with their explanations."
    )
    doc.h(2, "1.2 Study Data Standards and Dictionary Inventory")
    _standards_table(
        doc,
        ts,
        specs,
        [
            ["SDTM", _one(ts, "SDTMVER"), "TS.SDTMVER"],
            ["SDTMIG", _one(ts, "SDTIGVER"), f"TS.SDTIGVER; define.xml standard {sdtm.ig_name} {sdtm.ig_version}"],
        ],
    )

    doc.h(1, "2 Protocol Description")
    doc.h(2, "2.1 Protocol Number and Title")
    _protocol(doc, ts)
    doc.h(2, "2.2 Protocol Design in Relation to Trial Design Datasets")
    design = [
        "STYPE",
        "TTYPE",
        "INTMODEL",
        "INTTYPE",
        "RANDOM",
        "TBLIND",
        "TCNTRL",
        "NARMS",
        "PLANSUB",
        "ACTSUB",
        "TRT",
        "DOSE",
        "DOSU",
        "DOSFRQ",
        "ROUTE",
        "PTRTDUR",
        "SSTDTC",
        "DCUTDTC",
        "ONGOSIND",
    ]
    parm = dict(zip(ts["TSPARMCD"], ts["TSPARM"]))
    doc.table(
        ["TSPARMCD", "Parameter", "Value"],
        [[p, parm.get(p, ""), _one(ts, p)] for p in design if p in parm],
        widths=[1.2, 2.5, 3.3],
    )
    doc.p(
        "The arms and elements (TA, TE) are listed below; every subject's elements are in SE, and EPOCH in every "
        "domain is looked up in SE."
    )
    doc.table(
        ["ARMCD", "TAETORD", "ETCD", "EPOCH", "TABRANCH"],
        ta[["ARMCD", "TAETORD", "ETCD", "EPOCH", "TABRANCH"]]
        .astype(object)
        .where(ta[["ARMCD", "TAETORD", "ETCD", "EPOCH", "TABRANCH"]].notna(), "")
        .values.tolist(),
        widths=[1.2, 0.8, 0.8, 1.2, 4],
    )
    doc.table(
        ["ETCD", "ELEMENT", "TESTRL", "TEENRL"],
        te[["ETCD", "ELEMENT", "TESTRL", "TEENRL"]]
        .astype(object)
        .where(te[["ETCD", "ELEMENT", "TESTRL", "TEENRL"]].notna(), "")
        .values.tolist(),
        widths=[0.8, 1.2, 2.5, 3],
    )
    doc.h(2, "2.3 Trial Design Datasets")
    td = [n for n, s in sorted(specs.items()) if (s.cls or "").upper() == "TRIAL DESIGN"]
    doc.table(
        ["Dataset", "Label", "Records", "Submitted"],
        [
            [
                n,
                specs[n].label,
                inventory.submitted.get(n, 0),
                "yes" if n in inventory.submitted else "no: " + inventory.left_out.get(n, "not built"),
            ]
            for n in td
        ],
        widths=[1, 3, 1, 2],
    )
    for n in td:
        if specs[n].comment:
            doc.p(f"{n}: " + " ".join(specs[n].comment.split()))

    doc.h(1, "3 Subject Data Description")
    doc.h(2, "3.1 Overview")
    doc.p("Datasets submitted in tabulations/sdtm/ (one transport file each, named as the dataset in lower case):")
    doc.table(
        ["Dataset", "Label", "Class", "Structure", "Records"],
        [
            [n, specs[n].label, specs[n].cls, specs[n].structure, inventory.submitted[n]]
            for n in sorted(inventory.submitted)
            if n in specs
        ],
        widths=[0.9, 2.5, 1.5, 2.5, 0.8],
    )
    doc.h(2, "3.2 Annotated CRFs")
    doc.p(
        f"acrf.pdf shows the {len(forms)} CRF forms of the sites' EDC export, each field with the SDTM variable it is "
        "submitted in (or NOT SUBMITTED). The forms are the study's data-collection contract (specs/raw); the sites "
        "send them as files, one per form. define.xml points each collected variable to its aCRF pages."
    )
    doc.table(["Form", "Label", "Fields"], [[n, f.label, len(f.fields)] for n, f in forms.items()], widths=[1, 4, 1])
    doc.h(2, "3.3 Datasets Not Submitted")
    if inventory.left_out:
        doc.p("These datasets are specified but not in the package, because they hold no records:")
        doc.table(
            ["Dataset", "Label", "Reason"],
            [[n, specs[n].label if n in specs else "", r] for n, r in sorted(inventory.left_out.items())],
            widths=[1, 3, 3],
        )
    else:
        doc.p("Every specified dataset has records and is submitted.")
    doc.h(2, "3.4 SDTM Subject Domains")
    for n in sorted(inventory.submitted):
        s = specs.get(n)
        if s is None or (s.cls or "").upper() == "TRIAL DESIGN":
            continue
        doc.h(3, f"{n} ({s.label})")
        doc.p(" ".join((s.comment or "No sponsor note in the specification.").split()))

    _conformance(doc, summary, explanations, core_status)

    doc.h(1, "Appendix I: Inclusion/Exclusion Criteria")
    doc.table(
        ["IETESTCD", "Category", "Criterion"], criteria[["IETESTCD", "IECAT", "IETEST"]].values.tolist(), widths=[1, 1.2, 5]
    )
    return doc


def _conformance(doc: Doc, summary: Mapping[str, Any] | None, explanations: Explanations, core_status: str) -> None:
    doc.h(1, "4 Data Conformance Summary")
    doc.h(2, "4.1 Conformance Inputs")
    doc.p(core_status)
    passes = list((summary or {}).get("passes") or [])
    if passes:
        doc.table(
            ["Data format", "Engine", "Standard", "CT packages", "Findings explained", "Findings not explained"],
            [
                [
                    p.get("data_format", ""),
                    p.get("engine", ""),
                    p.get("standard", ""),
                    ", ".join(p.get("ct_packages") or []),
                    p.get("findings_explained", 0),
                    p.get("findings_unexplained", 0),
                ]
                for p in passes
            ],
            widths=[1, 1.5, 1.5, 2, 1, 1],
        )
    doc.h(2, "4.2 Issues Summary")
    if passes:
        for p in passes:
            rows = [
                [
                    r["rule"],
                    r["dataset"],
                    r["findings"],
                    r["message"],
                    r.get("kind", "NOT EXPLAINED"),
                    r.get("explanation", "No sponsor explanation yet: under review."),
                ]
                for r in [*p.get("explained", []), *p.get("unexplained", [])]
            ]
            rows.sort(key=lambda r: (r[0], r[1]))
            doc.p(
                f"Findings of the {p.get('data_format', '')} pass (rule, dataset, count, the rule's message, and the "
                "sponsor's explanation):"
            )
            if rows:
                doc.table(
                    ["Rule", "Dataset", "Count", "Message", "Kind", "Explanation"], rows, widths=[1.1, 0.8, 0.6, 2.2, 1, 3.3]
                )
            else:
                doc.p("No findings.")
    else:
        doc.p(
            f"No CORE report for this package. The sponsor's explanations of the findings expected by design "
            f"({explanations.source or 'no explanations file'}) are:"
        )
        doc.table(
            ["Rule", "Datasets", "Kind", "Explanation"],
            [[e.rule, ", ".join(e.datasets), e.kind, e.explanation] for e in explanations.findings],
            widths=[1.1, 0.9, 1.1, 5],
        )
    doc.h(2, "4.3 Additional Conformance Details")
    details = []
    for p in passes:
        for e in [*p.get("engine_errors_explained", []), *p.get("engine_errors_unexplained", [])]:
            details.append([p.get("data_format", ""), e["rule"], e["dataset"], e["message"], e.get("reason", "not explained")])
    if details:
        doc.p("Rules the engine could not execute:")
        doc.table(["Format", "Rule", "Dataset", "Engine message", "Reason"], details, widths=[0.7, 1.1, 0.8, 3, 2.4])
    stale = (summary or {}).get("stale_explanations") or []
    if stale:
        doc.p("Explanations no finding needed any more: " + ", ".join(f"{s['rule']} on {s['dataset']}" for s in stale) + ".")
    if not details and not stale:
        doc.p("No engine errors and no explanation left over." if passes else "None (CORE did not run).")


# --------------------------------------------------------------------------- ADRG


def _dependencies(spec: Any) -> list[str]:
    """Datasets a dataset reads, from its variables' sources (``DATASET.VAR``)."""
    deps = set()
    srcs = [s for v in spec.variables for s in (v.sources or ())] + [s for vl in spec.value_level for s in (vl.sources or ())]
    for s in srcs:
        ds = s.split(".")[0]
        if ds.isupper() and ds != spec.name:
            deps.add(ds)
    return sorted(deps)


def _var_rows(spec: Any, names: Sequence[str]) -> list[list[str]]:
    return [
        [f"{spec.name}.{n}", spec.variable(n).label, spec.variable(n).derivation or spec.variable(n).origin]
        for n in names
        if n in spec
    ]


def population_counts(adsl: pd.DataFrame) -> list[list[Any]]:
    """Subjects with FASFL = Y and SAFFL = Y per planned treatment (TRT01P)."""
    rows = []
    for trt, g in adsl.groupby("TRT01P", sort=True):
        rows.append([trt, len(g), int((g["FASFL"] == "Y").sum()), int((g["SAFFL"] == "Y").sum())])
    rows.append(["Total", len(adsl), int((adsl["FASFL"] == "Y").sum()), int((adsl["SAFFL"] == "Y").sum())])
    return rows


def adrg(
    studyid: str,
    specs: Mapping[str, Any],
    inventory: Inventory,
    ts: pd.DataFrame,
    adsl: pd.DataFrame,
    endpoints: pd.DataFrame,
    programs: Sequence[Any],
    versions: Mapping[str, str],
    direct: Sequence[str],
    python: str,
) -> Doc:
    """The ADRG.

    ``specs``: ADaM dataset specs; ``inventory``: the analysis datasets folder; ``ts``: the submitted
    TS; ``adsl``: ADSL (population counts); ``endpoints``: the results table (ENDPOINT, STATISTIC,
    METHOD); ``programs``: the program inventory (file, source, purpose); ``versions``: the pins of
    constraints.txt; ``direct``: the runtime dependencies; ``python``: the Python version.
    """
    adam = layer("adam")
    doc = Doc(
        f"{studyid} Analysis Data Reviewer's Guide", subject="Analysis data reviewer's guide (PHUSE ADRG template sections)"
    )
    doc.h(1, "1 Introduction")
    doc.h(2, "1.1 Purpose")
    doc.p(
        f"This guide accompanies the ADaM datasets of study {studyid} in analysis/adam/datasets/ (SAS XPORT version 5 "
        f"and define.xml) and the programs in analysis/adam/programs/. It describes the analysis populations, the "
        "key derivations in words, the analysis methods of the primary and secondary endpoints, the data "
        "dependencies and the software that produced the results."
    )
    doc.h(2, "1.2 Study Data Standards and Dictionary Inventory")
    _standards_table(
        doc,
        ts,
        specs,
        [
            [adam.ig_name, adam.ig_version, "define.xml standard of the analysis datasets"],
            ["SDTMIG (source data)", _one(ts, "SDTIGVER"), "TS.SDTIGVER"],
        ],
    )
    doc.h(1, "2 Protocol Description")
    _protocol(doc, ts)
    doc.p(
        f"Design (TS): {_one(ts, 'STYPE')}, {_one(ts, 'INTMODEL')}, randomized: {_one(ts, 'RANDOM')}, blinding: "
        f"{_one(ts, 'TBLIND')}, control: {_one(ts, 'TCNTRL')}; planned subjects {_one(ts, 'PLANSUB')}, actual {_one(ts, 'ACTSUB')}."
    )

    doc.h(1, "3 Analysis Considerations Related to Multiple Analysis Datasets")
    doc.h(2, "3.1 Analysis Populations")
    sl = specs.get("ADSL")
    if sl is not None:
        doc.table(["Variable", "Label", "Definition"], _var_rows(sl, ["FASFL", "SAFFL"]), widths=[1, 2, 4])
    doc.table(["Planned treatment (TRT01P)", "Subjects", "FASFL = Y", "SAFFL = Y"], population_counts(adsl), widths=[3, 1, 1, 1])
    doc.h(2, "3.2 Treatment Variables")
    if sl is not None:
        doc.table(
            ["Variable", "Label", "Definition"],
            _var_rows(sl, ["TRT01P", "TRT01A", "HEPDT", "TRTSDT", "TRTEDT"]),
            widths=[1, 2, 4],
        )
    doc.h(2, "3.3 Imputation and Derivation Methods")
    rows = []
    for name in sorted(specs):
        s = specs[name]
        rows += _var_rows(s, [v.name for v in s.variables if v.name.endswith(("DTF", "TMF")) or v.name in ("ADTF",)])
    doc.table(["Variable", "Label", "Rule"], rows, widths=[1.2, 2, 4])
    doc.h(2, "3.4 Analysis Methods")
    if len(endpoints):
        m = endpoints.groupby(["ENDPOINT", "METHOD"], sort=False)["STATISTIC"].agg(lambda s: "; ".join(dict.fromkeys(s)))
        doc.table(["Endpoint", "Statistics", "Method"], [[e, st, meth] for (e, meth), st in m.items()], widths=[1.6, 2.2, 3.2])

    doc.h(1, "4 Analysis Data Creation and Processing Issues")
    doc.h(2, "4.1 Data Dependencies")
    doc.table(["Dataset", "Reads"], [[n, ", ".join(_dependencies(specs[n]))] for n in sorted(specs)], widths=[1, 5])
    doc.h(2, "4.2 Key Derivations")
    for name, key in (
        ("ADTTE", ["PARAMCD", "STARTDT", "ADT", "AVAL", "CNSR", "EVNTDESC", "CNSDTDSC"]),
        ("ADAE", ["ASTDT", "AENDT", "TRTEMFL", "ASTDY"]),
        ("ADEX", ["PARAMCD", "AVAL"]),
    ):
        s = specs.get(name)
        if s is None:
            continue
        doc.h(3, f"{name} ({s.label})")
        doc.p(" ".join((s.comment or "").split()))
        doc.table(["Variable", "Label", "Derivation"], _var_rows(s, key), widths=[1.2, 2, 4])

    doc.h(1, "5 Analysis Dataset Descriptions")
    doc.table(
        ["Dataset", "Label", "Class", "Structure", "Records"],
        [[n, specs[n].label, specs[n].cls, specs[n].structure, inventory.submitted.get(n, 0)] for n in sorted(specs)],
        widths=[0.9, 2.5, 2, 2.5, 0.8],
    )
    for n in sorted(specs):
        if specs[n].comment and n not in ("ADTTE", "ADAE", "ADEX"):
            doc.h(3, f"{n} ({specs[n].label})")
            doc.p(" ".join(specs[n].comment.split()))
    if inventory.left_out:
        doc.p("Not submitted (no records): " + ", ".join(sorted(inventory.left_out)) + ".")

    doc.h(1, "6 Data Conformance Summary")
    doc.p(
        "Every analysis dataset passed the pipeline's blocking checks before it was written: its pandera schema "
        "generated from the specification, the SAS XPORT version 5 rules (names, labels, lengths, ASCII) and the "
        "Define-XML 2.1 schema. The CDISC CORE engine was run on the SDTM datasets only (see the cSDRG); no ADaM "
        "conformance rules were run."
    )

    doc.h(1, "7 Submission of Programs")
    doc.h(2, "7.1 Program Inventory")
    doc.p("The programs are in analysis/adam/programs/ as ASCII text (.txt); readme.txt there says how to re-run them.")
    doc.table(["File", "Source module", "Purpose"], [[p.file, p.source, p.purpose] for p in programs], widths=[1.6, 2, 3.4])
    doc.h(2, "7.2 Software and Versions")
    doc.table(["Software", "Version"], [["Python", python]] + [[d, versions[d]] for d in direct if d in versions], widths=[3, 2])
    doc.p(f"All {len(versions)} packages are pinned in constraints.txt (analysis/adam/programs/constraints.txt).")
    return doc
