"""One layer's package: study-wide character lengths agree across XPT, Dataset-JSON and
define.xml; a dataset failing an XPT rule is left out entirely."""

from __future__ import annotations

import json

import pandas as pd
import pyreadstat
from lxml import etree
from test_submission_common import CUTOFF, sdtm_frame, sdtm_spec, toy_ct, var

from pipeline.specs.datasets import DatasetSpec
from pipeline.submission import package
from pipeline.submission.package import write_package
from pipeline.submission.xpt import read_xpt

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}


def _specs():
    ds = DatasetSpec(
        name="DS",
        label="Disposition",
        cls="EVENTS",
        structure="One record per disposition status per subject",
        keys=("STUDYID", "USUBJID", "DSTERM"),
        sort=("STUDYID", "USUBJID"),
        comment=None,
        layer="sdtm",
        variables=(
            var("STUDYID", "Study Identifier", origin="Protocol", sources=()),
            var("USUBJID", "Unique Subject Identifier", length=40, origin="Protocol", sources=()),
            var("DSTERM", "Reported Term for the Disposition Event", length=100, role="Topic"),
        ),
    )
    supp = DatasetSpec(
        name="SUPPAE",
        label="Supplemental Qualifiers for AE",
        cls="RELATIONSHIP",
        structure="One record per supplemental qualifier per related parent domain record",
        keys=("STUDYID", "USUBJID", "QNAM"),
        sort=("STUDYID", "USUBJID"),
        comment=None,
        layer="sdtm",
        variables=(
            var("STUDYID", "Study Identifier", origin="Protocol", sources=()),
            var("USUBJID", "Unique Subject Identifier", length=40, origin="Protocol", sources=()),
            var("QNAM", "Qualifier Variable Name", length=8, origin="Assigned", sources=()),
        ),
    )
    return {"AE": sdtm_spec(), "DS": ds, "SUPPAE": supp}


def _frames():
    ae = sdtm_frame()
    ds = {"STUDYID": ["TOY01"], "USUBJID": ["TOY01-101-0000001"], "DSTERM": ["COMPLETED"]}  # longer USUBJID than AE's
    supp = {"STUDYID": ["TOY01"], "USUBJID": ["TOY01-1"], "QNAM": ["AETRTEM"]}
    return {"AE": ae, "DS": pd.DataFrame(ds), "SUPPAE": pd.DataFrame(supp)}


def test_one_length_per_variable_across_the_package(tmp_path):
    res = write_package("sdtm", _frames(), _specs(), tmp_path, ct=toy_ct(), data_cutoff=CUTOFF)
    assert res.xpt_problems == [] and res.define_problems == []
    longest = len("TOY01-101-0000001")
    widths = {
        n: pyreadstat.read_xport(str(tmp_path / f"{n}.xpt"), metadataonly=True)[1].variable_storage_width
        for n in ("ae", "ds", "suppae")
    }
    assert widths["ae"]["USUBJID"] == widths["ds"]["USUBJID"] == longest  # TCG: across the study's datasets
    assert widths["suppae"]["USUBJID"] == len("TOY01-1")  # a SUPP-- dataset keeps its own maximum
    ae, _ = read_xpt(tmp_path / "ae.xpt")
    assert ae["USUBJID"].tolist() == _frames()["AE"]["USUBJID"].tolist()  # the padding blanks are not data
    define = etree.parse(str(tmp_path / "define.xml"))
    assert define.find(".//odm:ItemDef[@OID='IT.AE.USUBJID']", NS).get("Length") == str(longest)
    assert define.find(".//odm:ItemDef[@OID='IT.SUPPAE.USUBJID']", NS).get("Length") == "7"
    js = json.loads((tmp_path / "ae.json").read_text())
    assert next(c for c in js["columns"] if c["name"] == "USUBJID")["length"] == longest
    assert sorted(res.files) == [
        "ae.json",
        "ae.xpt",
        "define.html",
        "define.xml",
        "define2-1.xsl",
        "ds.json",
        "ds.xpt",
        "suppae.json",
        "suppae.xpt",
    ]
    assert res.rows == {"AE": 3, "DS": 1, "SUPPAE": 1}


def test_a_failing_dataset_is_left_out_and_its_old_files_removed(tmp_path):
    write_package("sdtm", _frames(), _specs(), tmp_path, ct=toy_ct(), data_cutoff=CUTOFF)
    frames = _frames()
    frames["DS"].loc[0, "DSTERM"] = "TERMINÉ"
    res = write_package("sdtm", frames, _specs(), tmp_path, ct=toy_ct(), data_cutoff=CUTOFF)
    assert [str(p) for p in res.xpt_problems] == [
        (
            "DS.DSTERM row 1: [non-ascii] value 'TERMINÉ' has non-ASCII character 'É' (U+00C9) at position 7; "
            "XPT v5 records no encoding: transliterate it in the mapping"
        )
    ]
    assert not (tmp_path / "ds.xpt").exists() and not (tmp_path / "ds.json").exists()
    define = etree.parse(str(tmp_path / "define.xml"))
    assert [ig.get("Name") for ig in define.iterfind(".//odm:ItemGroupDef", NS)] == ["AE", "SUPPAE"]
    # AE's USUBJID keeps its own width, not DS's: the package is what was delivered.
    assert pyreadstat.read_xport(str(tmp_path / "ae.xpt"), metadataonly=True)[1].variable_storage_width["USUBJID"] == len(
        "TOY01-102-007"
    )


def test_package_is_byte_identical_on_a_second_run(tmp_path):
    write_package("sdtm", _frames(), _specs(), tmp_path / "a", ct=toy_ct(), data_cutoff=CUTOFF)
    write_package("sdtm", _frames(), _specs(), tmp_path / "b", ct=toy_ct(), data_cutoff=CUTOFF)
    for f in sorted(p.name for p in (tmp_path / "a").iterdir()):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_value_longer_than_its_spec_length_is_refused(tmp_path):
    frames = _frames()
    frames["AE"].loc[0, "DOMAIN"] = "AEX"
    res = write_package("sdtm", frames, _specs(), tmp_path, ct=toy_ct(), data_cutoff=CUTOFF)
    assert [(p.dataset, p.variable, p.rule) for p in res.xpt_problems] == [("AE", "DOMAIN", "spec-length")]


def test_threaded_writing_gives_the_bytes_of_one_dataset_at_a_time(tmp_path, monkeypatch):
    # Large packages write two datasets at once; the files must not depend on it.
    monkeypatch.setattr(package, "WRITER_THREADS", 1)
    one = write_package("sdtm", _frames(), _specs(), tmp_path / "one", ct=toy_ct(), data_cutoff=CUTOFF)
    monkeypatch.setattr(package, "WRITER_THREADS", 2)
    monkeypatch.setattr(package, "THREADED_ROWS", 0)
    two = write_package("sdtm", _frames(), _specs(), tmp_path / "two", ct=toy_ct(), data_cutoff=CUTOFF)
    assert one.files == two.files and one.rows == two.rows and len(one.files) > 3
    for name in one.files:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_a_dataset_without_records_is_not_submitted(tmp_path):
    # First with a DS record, then DS has none (IE when every subject met every criterion).
    write_package("sdtm", _frames(), _specs(), tmp_path, ct=toy_ct(), data_cutoff=CUTOFF)
    frames = _frames()
    frames["DS"] = frames["DS"].iloc[:0]
    res = write_package("sdtm", frames, _specs(), tmp_path, ct=toy_ct(), data_cutoff=CUTOFF)
    assert res.not_submitted == ["DS"] and res.xpt_problems == []
    assert not (tmp_path / "ds.xpt").exists() and not (tmp_path / "ds.json").exists()
    assert "ds.xpt" not in res.files and "DS" not in res.rows
    define = etree.parse(str(tmp_path / "define.xml"))
    assert [ig.get("Name") for ig in define.iterfind(".//odm:ItemGroupDef", NS)] == ["AE", "SUPPAE"]
    assert define.find(".//odm:ItemDef[@OID='IT.DS.DSTERM']", NS) is None


def test_supp_dataset_domain_is_its_parent(tmp_path):
    write_package("sdtm", _frames(), _specs(), tmp_path, ct=toy_ct(), data_cutoff=CUTOFF)
    define = etree.parse(str(tmp_path / "define.xml"))
    # Define-XML 2.1: the Domain of SUPPAE is AE (the engine looks up name SUPPAE, domain AE).
    assert {ig.get("Name"): ig.get("Domain") for ig in define.iterfind(".//odm:ItemGroupDef", NS)} == {
        "AE": "AE",
        "DS": "DS",
        "SUPPAE": "AE",
    }
