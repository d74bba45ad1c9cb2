"""The dataset specifications and controlled terminology under specs/ are complete and consistent."""

from __future__ import annotations

import csv
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from pipeline.specs.ct import (
    CT_COLUMNS,
    CTError,
    load_ct,
    load_lb_tests,
    load_lb_units,
    load_raw_to_sdtm,
    malformed_rows,
    paired_value,
    to_submission,
)
from pipeline.specs.datasets import (
    SpecError,
    clear_caches,
    load_dataset_spec,
    load_layer,
    source_asset_key,
)
from pipeline.specs.paths import SPECS_DIR
from pipeline.specs.raw import load_raw_spec
from pipeline.specs.study import load_study

SDTM_FILES = sorted((SPECS_DIR / "sdtm").glob("*.yaml"))
ALL_FILES = [(p.parent.name, p.stem) for layer in ("sdtm", "adam") for p in sorted((SPECS_DIR / layer).glob("*.yaml"))]
# The NCI-EVS publication of CDISC SDTM CT 2025-03-28 (not in the repository): set CDISC_CT_TARBALL to its path.
TARBALL = Path(os.environ.get("CDISC_CT_TARBALL") or "/nonexistent")

# Datasets the issue asks for; every one must have a spec.
REQUIRED_SDTM = {"DM", "SE", "EX", "AE", "DS", "CM", "MH", "PR", "LB", "TU", "TR", "RS", "IE", "TS", "TA", "TE", "TI"}
# Raw fields no SDTM variable draws on, and why (anything else missing is collected data lost).
NOT_SUBMITTED = {
    "enrol.IEYN": "summary of the ie form; cross-checked, not submitted (IE comment)",
}


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def sdtm():
    return load_layer("sdtm")


@pytest.fixture(scope="module")
def ct():
    return load_ct()


# --------------------------------------------------------------------------------------------
# every spec loads and follows the conventions


@pytest.mark.parametrize("layer,name", ALL_FILES, ids=[f"{a}/{b}" for a, b in ALL_FILES])
def test_every_spec_loads(layer, name):
    spec = load_dataset_spec(layer, name)
    assert spec.name.lower() == name
    assert spec.variables


def test_required_sdtm_datasets_have_specs(sdtm):
    assert set(sdtm) >= REQUIRED_SDTM


def test_labels_are_at_most_40_ascii(sdtm):
    for spec in sdtm.values():
        labels = [("dataset", spec.label)] + [(v.name, v.label) for v in spec.variables]
        labels += [(f"{vl.variable} {vl.where_text}", vl.label) for vl in spec.value_level if vl.label]
        for where, label in labels:
            assert len(label) <= 40, f"{spec.name} {where}: {label!r}"
            assert label.isascii(), f"{spec.name} {where}: {label!r}"


def test_every_referenced_codelist_exists(sdtm, ct):
    for spec in sdtm.values():
        for v in spec.variables:
            for cl in v.codelists:
                assert cl in ct, f"{spec.name}.{v.name}: {cl}"
        for vl in spec.value_level:
            for cl in vl.codelists:
                assert cl in ct, f"{spec.name}.{vl.variable} ({vl.where_text}): {cl}"


def test_every_source_field_exists_in_the_raw_dictionary(sdtm):
    fields = {f"{r['form']}.{r['field']}" for r in _csv(SPECS_DIR / "raw" / "dictionary.csv")}
    for spec in sdtm.values():
        sources = [(v.name, s) for v in spec.variables for s in v.sources]
        sources += [(vl.variable, s) for vl in spec.value_level for s in vl.sources]
        for var, s in sources:
            if re.match(r"^[a-z]", s):
                assert s in fields, f"{spec.name}.{var}: {s} not in specs/raw/dictionary.csv"
            else:
                ds, col = s.split(".")
                assert ds in sdtm and col in sdtm[ds], f"{spec.name}.{var}: {s} is not an SDTM variable"


def test_every_collected_raw_field_reaches_sdtm(sdtm):
    used = {s for spec in sdtm.values() for v in spec.variables for s in v.sources}
    used |= {s for spec in sdtm.values() for vl in spec.value_level for s in vl.sources}
    raw = load_raw_spec()
    lost = [
        f"{form.name}.{f.name}"
        for form in raw.forms.values()
        for f in form.fields
        if not f.identifier and f.name not in ("SITEID", "SUBJID") and f"{form.name}.{f.name}" not in used
    ]
    assert sorted(set(lost) - set(NOT_SUBMITTED)) == []


def test_direct_identifiers_are_never_copied(sdtm):
    raw = load_raw_spec()
    idents = {f"{form.name}.{f.name}" for form in raw.forms.values() for f in form.fields if f.identifier}
    for spec in sdtm.values():
        for v in spec.variables:
            if idents & set(v.sources):
                assert v.origin == "Derived", f"{spec.name}.{v.name}"
        assert "BRTHDTC" not in spec and "SUBJINIT" not in spec


def test_sdtm_identifier_order_and_domain(sdtm, ct):
    for spec in sdtm.values():
        names = spec.variable_names
        assert names[0] == "STUDYID", spec.name
        if "DOMAIN" in spec:
            assert names[1] == "DOMAIN", spec.name
            assert spec.name in ct["DOMAIN"], f"{spec.name} is not a CDISC domain abbreviation"
            assert spec.variable("DOMAIN").derivation == spec.name
        if "USUBJID" in spec and spec.cls not in ("RELATIONSHIP",):
            assert names[2] == "USUBJID", spec.name
        seq = spec.seq_variable
        if seq:
            assert seq == f"{spec.name}SEQ", spec.name
            assert names[names.index("USUBJID") + 1 if "USUBJID" in spec else 2] == seq, spec.name
        for v in spec.variables:
            if v.is_date:
                assert (v.type == "Char" and v.role == "Timing") or v.name.startswith("RF") or v.name == "DTHDTC", (
                    f"{spec.name}.{v.name}"
                )
            if (
                spec.cls in ("EVENTS", "INTERVENTIONS", "FINDINGS")
                and len(v.name) > 2
                and v.name[:2] not in (spec.name, "VI", "EP")
            ):
                assert v.name in ("STUDYID", "DOMAIN", "USUBJID", "VISIT", "EPOCH", "VISITNUM"), (
                    f"{spec.name}.{v.name} lacks the domain prefix"
                )


def test_sdtm_keys_start_with_study_and_subject(sdtm):
    for spec in sdtm.values():
        assert spec.keys[0] == "STUDYID", spec.name
        if "USUBJID" in spec and spec.cls != "RELATIONSHIP":
            assert spec.keys[1] == "USUBJID", spec.name


def test_epoch_and_study_day_derivations_use_se_and_dm(sdtm):
    for spec in sdtm.values():
        if "EPOCH" in spec and spec.cls not in ("TRIAL DESIGN", "SPECIAL PURPOSE"):
            assert "SE.EPOCH" in spec.variable("EPOCH").sources, spec.name
        for v in spec.variables:
            # VISITDY is the protocol's planned day (TV), not a study day counted from RFSTDTC.
            if v.name.endswith("DY") and v.name != "VISITDY" and v.type == "Num" and v.role == "Timing":
                assert "DM.RFSTDTC" in v.sources, f"{spec.name}.{v.name}"


def test_dataset_comments_state_the_sponsor_choices(sdtm):
    for spec in sdtm.values():
        assert spec.comment and len(spec.comment) > 80, spec.name
    dm = sdtm["DM"].comment
    for fact in ("RFSTDTC", "hepatectomy", "RFXSTDTC", "ARMNRS", "USUBJID", "--DY", "EPOCH"):
        assert fact in dm


def test_source_asset_keys():
    assert source_asset_key("ae.AETERM") == (["raw", "ae"], "AETERM")
    assert source_asset_key("DM.RFSTDTC") == (["sdtm", "dm"], "RFSTDTC")


# --------------------------------------------------------------------------------------------
# controlled terminology


def test_ct_files_are_well_formed():
    for path in sorted((SPECS_DIR / "ct").glob("*.csv")):
        assert malformed_rows(path) == [], f"{path}: rows with an unquoted comma"


def test_cdisc_codelists_carry_nci_codes(ct):
    cdisc = [c for c in ct.values() if c.origin == "CDISC"]
    assert len(cdisc) > 50
    for cl in cdisc:
        assert re.match(r"^C\d+$", cl.code or ""), cl.name
        for t in cl.terms:
            if not t.sponsor:
                assert re.match(r"^C\d+$", t.code or ""), f"{cl.name}.{t.value}"
            else:
                assert t.code is None and cl.extensible, f"{cl.name}.{t.value}"


def test_sdtm_ct_rows_come_from_cdisc(ct):
    for r in _csv(SPECS_DIR / "ct" / "sdtm_ct.csv"):
        assert r["codelist_code"], r
        if r["submission_value"]:
            assert r["term_code"], r


def test_sponsor_ct_has_no_nci_term_codes():
    rows = _csv(SPECS_DIR / "ct" / "sponsor_ct.csv")
    assert rows and all(not r["term_code"] for r in rows)
    assert {"AEREL", "AETOXGR"} <= {r["codelist"] for r in rows}
    assert [r["submission_value"] for r in rows if r["codelist"] == "AEREL"] == [
        "RELATED",
        "POSSIBLY RELATED",
        "UNLIKELY RELATED",
        "NOT RELATED",
        "NOT APPLICABLE",
    ]


def test_small_codelists_are_complete(ct):
    assert set(ct["NY"].values) == {"N", "NA", "U", "Y"}
    assert set(ct["SEX"].values) >= {"M", "F", "U"}
    assert "NOT HISPANIC OR LATINO" in ct["ETHNIC"]
    assert len(ct["TSPARMCD"].terms) > 100 and len(ct["TSPARM"].terms) == len(ct["TSPARMCD"].terms)
    assert not ct["NY"].extensible and ct["UNIT"].extensible


def test_raw_canonical_values_map_to_submission_values(ct):
    """Every raw code field an SDTM variable copies has CT-valid values after raw_to_sdtm."""
    raw = load_raw_spec()
    load_raw_to_sdtm()  # validates the map itself
    pairs = {  # raw codelist -> SDTM codelist of the variable it lands in
        "NY": "NY",
        "SEX": "SEX",
        "RACE": "RACE",
        "ETHNIC": "ETHNIC",
        "TRTGRP": "ARMCD",
        "ACN": "ACN",
        "OUT": "OUT",
        "AEREL": "AEREL",
        "GRADE": "AETOXGR",
        "DSREAS": "NCOMPLT",
        "DSCAT": "DSSCAT",
        "FREQ": "FREQ",
        "UNIT": "UNIT",
        "LBTEST": "LBTESTCD",
        "METHOD": "METHOD",
        "LOC": "LOC",
        "LIVSEG": "LOC",
        "LESSITE": "TUIDRS",
        "DIAGBAS": "DIAGBAS",
        "DTHCAUS": "DTHCAUS",
        "SURVSTAT": "SSTATRS",
        "POSNEG": "POSNEG",
        "EDMGRD": "EDMGRD",
        "BCLC": "BCLCSTG",
        "TNMT": "AJCCT7",
        "TNMN": "AJCCN7",
        "TNMM": "AJCCM7",
        "RESECT": "AJCCR",
        "DOSADJ": "EXADJ",
    }
    for rc, sc in pairs.items():
        for value in raw.codelists[rc].values:
            sub = to_submission(rc, value, sc)
            assert sub in ct[sc], f"raw {rc}.{value} -> {sub!r} not in {sc}"
    assert to_submission("NY", "Y", "PRESABS") == "PRESENT"


def test_lb_category_and_specimen_are_one_table(spec_tree):
    tests = load_lb_tests()
    assert {t: (v.category, v.specimen) for t, v in tests.items() if t in ("PLAT", "ALB", "AFP")} == {
        "PLAT": ("HEMATOLOGY", "BLOOD"),
        "ALB": ("CHEMISTRY", "SERUM"),
        "AFP": ("TUMOR MARKERS", "SERUM"),
    }
    # The LBCAT derivation text of specs/sdtm/lb.yaml (define.xml) says what the table says.
    derivation = next(v.derivation for v in load_dataset_spec("sdtm", "lb").variables if v.name == "LBCAT")
    for cat in {v.category for v in tests.values()}:
        codes = ", ".join(t for t, v in tests.items() if v.category == cat)
        assert f"{cat} ({codes})" in derivation
    # A test of lb_units.csv without a row, and a category outside LBCAT, are refused.
    path = spec_tree / "ct" / "lb_tests.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(line for line in lines if not line.startswith("AFP,")) + "\n", encoding="utf-8")
    with pytest.raises(CTError, match="AFP of ct/lb_units.csv have no category"):
        load_lb_tests(spec_tree)
    path.write_text("\n".join([*lines, "AFP,URINALYSIS,SERUM,x"]) + "\n", encoding="utf-8")
    with pytest.raises(CTError, match="LBCAT 'URINALYSIS' is not in codelist LBCAT"):
        load_lb_tests(spec_tree)


def test_arm_roles_come_from_study_yaml(tmp_path):
    study = load_study()
    assert (study.treated_armcd, study.control_armcd) == ("SORAFENIB", "CONTROL")
    doc = yaml.safe_load((SPECS_DIR / "trial" / "study.yaml").read_text(encoding="utf-8"))
    doc["arms"] = [{**a, "armcd": a["armcd"][:4]} for a in doc["arms"]]
    (tmp_path / "trial").mkdir()
    (tmp_path / "trial" / "study.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    other = load_study(tmp_path)
    assert (other.treated_armcd, other.control_armcd) == ("SORA", "CONT")
    # No module types an arm code: each reads them from study.yaml (the generator writes raw data, not outputs).
    pipeline_dir = Path(__file__).resolve().parent.parent / "pipeline"
    typed = [
        f"{p.relative_to(pipeline_dir)}:{n}"
        for p in sorted(pipeline_dir.rglob("*.py"))
        if "synth" not in p.parts
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"[\"'](SORAFENIB|CONTROL)[\"']", line)
    ]
    assert typed == []


def test_lb_units_cover_every_raw_unit_of_every_test(ct):
    units = load_lb_units()
    assert units[("BILI", "mg/dL")].factor == pytest.approx(17.1)
    assert units[("CREAT", "mg/dL")].factor == pytest.approx(88.4)
    assert units[("HGB", "g/dL")].factor == pytest.approx(10)
    assert units[("AFP", "IU/mL")].factor == pytest.approx(1.21)
    tests = {to_submission("LBTEST", t, "LBTESTCD") for t in load_raw_spec().codelists["LBTEST"].values} | {"AFP"}
    for t in tests:
        assert any(k[0] == t for k in units), t
        std = {u.standard_unit for k, u in units.items() if k[0] == t}
        assert len(std) == 1 and std <= set(ct["UNIT"].values)


def test_test_codes_pair_with_test_names(ct):
    assert paired_value(ct, "LBTESTCD", "LBTEST", "PLAT") == "Platelets"
    assert paired_value(ct, "ECOG1TC", "ECOG1TN", "ECOG101") == "ECOG1-Performance Status"
    assert paired_value(ct, "BCLC1TC", "BCLC1TN", "BCLC101") == "BCLC1-Stage"
    assert paired_value(ct, "MITSCD", "MITS", "TUMNUM") == "Number of Tumors"
    for cd, nm in [
        ("TUTESTCD", "TUTEST"),
        ("ONCRTSCD", "ONCRTS"),
        ("AJCC1TC", "AJCC1TN"),
        ("CPS01TC", "CPS01TN"),
        ("TSPARMCD", "TSPARM"),
        ("SSTESTCD", "SSTEST"),
        ("DTHDXCD", "DTHDX"),
    ]:
        for v in ct[cd].values:
            assert paired_value(ct, cd, nm, v), f"{cd}.{v} has no {nm}"


def test_trial_codelists_come_from_specs_trial(ct):
    crit = _csv(SPECS_DIR / "trial" / "criteria.csv")
    assert ct["IETESTCD"].values == tuple(r["IETESTCD"] for r in crit)
    assert set(ct["ARMCD"].values) == {a.armcd for a in load_study().arms}
    assert set(ct["ETCD"].values) == {"SCRN", "SORA", "FU"}


@pytest.mark.skipif(not TARBALL.is_file(), reason="CDISC_CT_TARBALL (the NCI-EVS CT tarball) not set")
def test_extract_ct_reproduces_sdtm_ct(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "sdtm_ct.csv"
    subprocess.run(
        [sys.executable, str(SPECS_DIR.parent / "tools" / "extract_ct.py"), str(TARBALL), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes() == (SPECS_DIR / "ct" / "sdtm_ct.csv").read_bytes()


# --------------------------------------------------------------------------------------------
# trial design data


def test_ts_parameters_are_valid(ct):
    rows = _csv(SPECS_DIR / "trial" / "ts.csv")
    study = load_study()
    dm = load_dataset_spec("sdtm", "dm")
    params = [r["TSPARMCD"] for r in rows]
    # FDA technical rejection criterion 1734 and the parameters FDA expects in every TS
    for required in (
        "SSTDTC",
        "TITLE",
        "TPHASE",
        "TTYPE",
        "PLANSUB",
        "ACTSUB",
        "RANDOM",
        "TBLIND",
        "TCNTRL",
        "INDIC",
        "TRT",
        "REGID",
        "SEXPOP",
        "AGEMIN",
        "AGEMAX",
        "STYPE",
        "INTMODEL",
        "INTTYPE",
        "NARMS",
        "SDTIGVER",
        "SDTMVER",
        "DCUTDTC",
        "FCNTRY",
        "HLTSUBJI",
        "ADDON",
        "SENDTC",
        "TDIGRP",
        "NCOHORT",
        "ONGOSIND",
    ):
        assert required in params, required
    for r in rows:
        assert r["TSPARMCD"] in ct["TSPARMCD"], r["TSPARMCD"]
        assert paired_value(ct, "TSPARMCD", "TSPARM", r["TSPARMCD"]) == r["TSPARM"], r["TSPARMCD"]
        assert bool(r["TSVAL"]) != bool(r["derivation"]), f"{r['TSPARMCD']}: TSVAL or derivation, not both"
        assert len(r["TSVAL"]) <= 200
        if r["codelist"]:
            assert r["TSVCDREF"] == "CDISC CT" and not r["TSVALCD"], r["TSPARMCD"]
            if r["TSVAL"]:
                assert r["TSVAL"] in ct[r["codelist"]], r
        if r["TSVCDREF"]:
            assert r["TSVCDREF"] in ct["DICTNAM"], r["TSVCDREF"]
        d = r["derivation"]
        if d.startswith("study:"):
            key = d.split(":")[1]
            assert hasattr(study, key), d
        elif d == "meddra:version":  # the MedDRA version AE coding used
            assert r["TSPARMCD"] == "AEDICTV", r
        elif d.startswith("nullflavor:"):
            assert d.removeprefix("nullflavor:") in (
                "NI",
                "NA",
                "UNK",
                "ASKU",
                "NAV",
                "NASK",
                "OTH",
                "PINF",
                "NINF",
                "MSK",
                "TRC",
                "QS",
                "INV",
                "DER",
                "UNC",
                "NP",
            ), d
        elif d:
            var, agg = d.split(":")
            ds, col = var.split(".")
            assert ds == "DM" and col in dm and agg in ("min", "count"), d
        if r["TSVCDREF"] == "ISO 8601" and r["TSVAL"]:
            assert re.match(r"^P\d+[YMD]$", r["TSVAL"]), r
    assert {r["TSPARMCD"]: r["derivation"] for r in rows}["SSTDTC"] == "DM.RFICDTC:min"
    assert str(study.phase) in ct["TPHASE"]


def test_ta_and_te_are_consistent(ct):
    ta = _csv(SPECS_DIR / "trial" / "ta.csv")
    te = {r["ETCD"]: r for r in _csv(SPECS_DIR / "trial" / "te.csv")}
    arms = {a.armcd for a in load_study().arms}
    assert {r["ARMCD"] for r in ta} == arms
    for arm in arms:
        orders = [int(r["TAETORD"]) for r in ta if r["ARMCD"] == arm]
        assert orders == list(range(1, len(orders) + 1)), arm
    for r in ta:
        assert r["ETCD"] in te and r["EPOCH"] in ct["EPOCH"]
    for r in te.values():
        assert len(r["ELEMENT"]) <= 40 and r["TESTRL"]
    assert {r["ETCD"] for r in ta} == set(te)


# --------------------------------------------------------------------------------------------
# the loader is strict and names the file and the variable


@pytest.fixture()
def spec_tree(tmp_path):
    root = tmp_path / "specs"
    shutil.copytree(SPECS_DIR, root)
    clear_caches()
    yield root
    clear_caches()


def _edit(root: Path, name: str, fn) -> None:
    p = root / "sdtm" / f"{name}.yaml"
    doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    fn(doc)
    p.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _var(doc, name):
    return next(v for v in doc["variables"] if v["name"] == name)


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: _var(d, "AETERM").update(label="A label that is much longer than forty characters"), "AETERM: label"),
        (lambda d: _var(d, "AETERM").update(label="Réported term"), "not ASCII"),
        (lambda d: _var(d, "AETERM").update(label="Investigator's Term"), "unbalanced quotes, apostrophes"),
        (lambda d: _var(d, "AETERM").update(type="Text"), "AETERM: type"),
        (lambda d: _var(d, "AESER").update(codelist="NOSUCHCL"), "AESER: codelist 'NOSUCHCL'"),
        (lambda d: _var(d, "AETERM").update(sources=["ae.NOSUCH"]), "AETERM: source 'ae.NOSUCH'"),
        (lambda d: _var(d, "AESTDY").update(sources=["DM.NOSUCH"]), "AESTDY: source 'DM.NOSUCH'"),
        (lambda d: _var(d, "AETERM").update(name="AETERMLONG"), "AETERMLONG"),
        (lambda d: _var(d, "AETERM").update(length=201), "AETERM: length 201"),
        (lambda d: d.update(keys=["STUDYID", "USUBJID", "NOSUCH"]), "keys names 'NOSUCH'"),
        (lambda d: d.update(label="Adverse Events " * 4), "dataset label"),
        (lambda d: _var(d, "AETERM").update(sources=[]), "AETERM: a Collected variable"),
        (lambda d: _var(d, "AETERM").update(extra=1), "AETERM: unknown fields"),
    ],
)
def test_loader_rejects_bad_specs(spec_tree, change, message):
    _edit(spec_tree, "ae", change)
    with pytest.raises(SpecError) as exc:
        load_dataset_spec("sdtm", "ae", root=spec_tree)
    assert message in str(exc.value)
    assert "ae.yaml" in str(exc.value)


def test_label_rule_is_one_rule_at_its_edges():
    # The spec loader and the XPT check both apply label_problems (pipeline/specs/datasets.py).
    from pipeline.specs.datasets import label_problems
    from pipeline.submission.xpt import _label_problems

    assert label_problems("x" * 40) == [] and label_problems("x" * 41) == ["has 41 characters (max 40)"]
    assert label_problems("Investigators' and Sponsor's Term") == []  # two apostrophes pair up
    assert label_problems("Parkinson's Disease") == ["has unbalanced quotes, apostrophes or brackets"]
    assert label_problems("Dose (mg") == ["has unbalanced quotes, apostrophes or brackets"]
    assert label_problems("") == ["is missing"]
    assert [p.message for p in _label_problems("AE", "AETERM", "Parkinson's Disease", "variable")] == [
        'variable label has unbalanced quotes, apostrophes or brackets: "Parkinson\'s Disease"'
    ]


def test_loader_rejects_copied_identifier(spec_tree):
    _edit(spec_tree, "dm", lambda d: _var(d, "SUBJID").update(sources=["dm.PTNAME"]))
    with pytest.raises(SpecError, match="SUBJID: source 'dm.PTNAME' is a direct identifier"):
        load_dataset_spec("sdtm", "dm", root=spec_tree)


def test_ct_loader_rejects_extension_of_closed_codelist(spec_tree):
    with (spec_tree / "ct" / "sponsor_ct.csv").open("a", encoding="utf-8") as fh:
        fh.write("NY,C66742,No Yes Response,No,MAYBE,,Maybe\n")
    with pytest.raises(CTError, match="NY .* is not extensible"):
        load_ct(spec_tree)


def test_ct_loader_rejects_cdisc_term_without_code(spec_tree):
    with (spec_tree / "ct" / "sdtm_ct.csv").open("a", encoding="utf-8") as fh:
        fh.write("ZZTEST,C1,Test,No,X,C2,x\nZZTEST,C1,Test,No,Y,,y\n")
    with pytest.raises(CTError, match="ZZTEST"):
        load_ct(spec_tree)


def test_ct_columns_are_the_documented_ones():
    with (SPECS_DIR / "ct" / "sdtm_ct.csv").open(encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == CT_COLUMNS
