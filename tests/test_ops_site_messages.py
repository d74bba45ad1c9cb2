"""Query messages for the sites: value, why, what is allowed, the record's context; English and Chinese."""

from pathlib import Path

import pandas as pd

from pipeline.ops import queries as q
from pipeline.ops import site_messages as sm
from pipeline.specs.raw import load_raw_spec

SPEC = load_raw_spec()


def _row(**kw) -> tuple:
    base = {
        "siteid": "101",
        "subjid": "101-009",
        "form": "ae",
        "file": "101/ae.csv",
        "row": 3,
        "field": "AETOXGR",
        "value": "6",
        "rule": "CODE_UNKNOWN",
        "message": "CTCAE v4.0 grade (AETOXGR): the term is not one of the agreed values of codelist GRADE (specs/raw/codelists.csv)",
    }
    base.update(kw)
    return tuple(base[c] for c in q.QUERY_COLS)


def _listing(rows: list[tuple], raw_dir: Path | None = None) -> pd.DataFrame:
    return q.build_listing([pd.DataFrame(rows, columns=q.QUERY_COLS)], [], [], SPEC, raw_dir=raw_dir)


def test_code_unknown_names_value_and_allowed_values_not_a_spec_file():
    r = _listing([_row()]).iloc[0]
    assert (
        r["site_message"]
        == "CTCAE v4.0 grade (AETOXGR) is “6”, which is not one of the agreed values. It should be one of: 1, 2, 3, 4, 5. Please correct it."
    )
    assert r["allowed"] == "one of: 1, 2, 3, 4, 5"
    assert "specs/" not in r["site_message"] and "specs/" not in r["site_message_zh"]
    assert r["message"].endswith("(specs/raw/codelists.csv)")  # the detecting layer's text, kept as it was
    assert (
        r["site_message_zh"]
        == "CTCAE v4.0 grade（AETOXGR）填写为“6”，不在约定的取值范围内。应为以下之一：1、2、3、4、5。请更正。"
    )


def test_date_format_follows_the_site_date_order():
    ymd = _listing(
        [
            _row(
                field="AESTDAT",
                value="2019-02-30",
                rule="DATE_INVALID",
                message="Start date (AESTDAT) is not a valid date: day does not exist in that month",
            )
        ]
    ).iloc[0]
    dmy = _listing(
        [
            _row(
                siteid="102",
                subjid="S102035",
                file="102/ae.csv",
                field="AESTDAT",
                value="31/09/2019",
                rule="DATE_INVALID",
                message="Start date (AESTDAT) is not a valid date: day does not exist in that month",
            )
        ]
    ).iloc[0]
    assert "(day does not exist in that month)" in ymd["site_message"] and "e.g. 2019-03-05" in ymd["allowed"]
    assert "day/month/year, e.g. 05/03/2019" in dmy["allowed"] and "日/月/年" in dmy["site_message_zh"]


def test_range_from_the_dictionary():
    f = next(f for form in SPEC.forms.values() for f in form.fields if f.min is not None and f.max is not None)
    en, zh = sm.allowed_text(SPEC, f.form, f.name, "OUT_OF_RANGE", "101")
    assert en.endswith(f"from {f.min:g} to {f.max:g}" + (f" {f.unit}" if f.unit else ""))
    assert f"{f.min:g}–{f.max:g}" in zh


def test_ae_term_unknown_suggests_nearest_dictionary_terms():
    r = _listing(
        [
            _row(
                field="AETERM",
                value="Hand foot syndrom e",
                rule="AE_TERM_UNKNOWN",
                message="Verbatim term not in the AE dictionary",
            )
        ]
    ).iloc[0]
    assert r["allowed"].startswith("a term of the study's AE dictionary") and "nearest: " in r["allowed"]
    assert "Hand foot syndrom" in r["allowed"]


def test_unknown_rule_keeps_upstream_text_and_asks_to_check():
    r = _listing(
        [_row(field="DSDECOD", value="X", rule="SOMETHING_NEW", message="Disposition contradicts survival status")]
    ).iloc[0]
    assert r["site_message"] == "Disposition contradicts survival status. Please check the record and correct it."
    assert "SOMETHING_NEW" in r["site_message_zh"] and "请核实" in r["site_message_zh"]


def test_no_chinese_for_a_site_outside_chinese_speaking_countries(monkeypatch):
    import dataclasses

    spec = dataclasses.replace(SPEC, sites={**SPEC.sites, "101": dataclasses.replace(SPEC.sites["101"], country="FRA")})
    assert not sm.is_chinese_site(spec, "101") and sm.is_chinese_site(spec, "102")
    listing = q.build_listing([pd.DataFrame([_row()], columns=q.QUERY_COLS)], [], [], spec)
    assert listing.iloc[0]["site_message_zh"] == "" and listing.iloc[0]["site_message"]


def test_context_from_the_raw_row(tmp_path):
    raw = tmp_path / "raw"
    (raw / "101").mkdir(parents=True)
    header = [f.name for f in SPEC.forms["ae"].fields]
    rec = {
        "SITEID": "101",
        "SUBJID": "101-009",
        "AESPID": "2",
        "AETERM": "Rash",
        "AESTDAT": "2017-07-16",
        "AEENDAT": "2017-09-17",
        "AEONGO": "N",
        "AETOXGR": "6",
        "AESER": "N",
        "AEREL": "RELATED",
        "AEACN": "DOSE NOT CHANGED",
        "AEOUT": "RECOVERED/RESOLVED",
    }
    lines = [",".join(header), ",".join("" for _ in header), ",".join(rec.get(h, "") for h in header)]
    (raw / "101" / "ae.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    listing = _listing([_row(row=3)], raw_dir=raw)
    ctx = listing.iloc[0]["context"]
    assert ctx == (
        "AE number on the CRF (AESPID): 2; Adverse event (verbatim) (AETERM): Rash; "
        "Start date (AESTDAT): 2017-07-16; End date (AEENDAT): 2017-09-17"
    )
    assert "AETOXGR" not in ctx  # the queried field is the query's value, not its context
    # A row the file does not have, or a file that is missing: no context, no error.
    assert _listing([_row(row=99)], raw_dir=raw).iloc[0]["context"] == ""
    assert _listing([_row(file="101/cm.csv")], raw_dir=raw).iloc[0]["context"] == ""
