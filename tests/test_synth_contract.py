"""pipeline.synth output honours the raw input contract (specs/raw) and shows each site's habits.

Expected values come from specs/raw and specs/terms, never from the generator's own tables.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import openpyxl
import pytest

from pipeline.specs.paths import SPECS_DIR
from pipeline.specs.raw import load_raw_spec
from pipeline.synth import generate_study

SPEC = load_raw_spec()
SEED = 20160901


def _read(path: Path, encoding: str) -> tuple[list[str], list[list]]:
    """Header and rows of one export file (xlsx cells keep their Python types)."""
    if path.suffix == ".xlsx":
        wb = openpyxl.load_workbook(path, read_only=True)
        assert wb.sheetnames == [path.stem]
        rows = [list(r) for r in wb[path.stem].iter_rows(values_only=True)]
        wb.close()
        return [str(h) for h in rows[0]], rows[1:]
    text = path.read_bytes().decode(encoding)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], rows[1:]


def _s(v) -> str:
    return "" if v is None else str(v)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    out = tmp_path_factory.mktemp("contract") / "raw"
    generate_study(154, SEED, out)
    data = {}
    for sid, site in SPEC.sites.items():
        ext = "xlsx" if site.file_format == "xlsx" else "csv"
        for form in SPEC.forms:
            data[sid, form] = _read(out / sid / f"{form}.{ext}", site.encoding)
    probs = list(csv.DictReader((out.parent / "raw_truth" / "injected_problems.csv").open(encoding="utf-8")))
    return out, data, probs


def _problem_cells(probs):
    return {(p["siteid"], p["subjid"], p["form"], p["field"], p["value"]) for p in probs}


def test_every_form_file_exists_with_dictionary_header(export):
    out, data, _ = export
    for sid, site in SPEC.sites.items():
        ext = "xlsx" if site.file_format == "xlsx" else "csv"
        assert sorted(p.name for p in (out / sid).iterdir()) == sorted(f"{f}.{ext}" for f in SPEC.forms)
        for form, spec in SPEC.forms.items():
            header, _ = data[sid, form]
            assert header == spec.field_names, (sid, form)


def test_coded_values_are_canonical_or_synonyms(export):
    _, data, probs = export
    bad_cells = _problem_cells(probs)
    seen = defaultdict(set)
    for (sid, form), (header, rows) in data.items():
        spec = SPEC.forms[form]
        for f in spec.fields:
            if f.type != "code":
                continue
            cl = SPEC.codelists[f.codelist]
            allowed = set(cl.values) | set(cl.synonyms)
            j = header.index(f.name)
            for r in rows:
                v = _s(r[j]).strip()
                if not v or (sid, _s(r[1]).strip(), form, f.name, _s(r[j])) in bad_cells:
                    continue
                assert v in allowed, (sid, form, f.name, v)
                seen[f.codelist].add(v)
    # Sites really use synonyms, not only canonical values.
    assert "是" in seen["NY"] and "否" in seen["NY"]
    assert {"III", "3级", "3"} <= seen["GRADE"] | {"3"} and "III" in seen["GRADE"]


def test_required_fields_filled_and_identifiers_present(export):
    _, data, _ = export
    for (sid, form), (header, rows) in data.items():
        for f in SPEC.forms[form].fields:
            if f.required and f.name not in ("RECURDAT", "DTHDAT"):
                j = header.index(f.name)
                empty = [r for r in rows if _s(r[j]).strip() == ""]
                # ETHNIC/RACE are optional; required fields are always filled.
                assert not empty, (sid, form, f.name)
    for sid in SPEC.sites:
        for form, fld in (("enrol", "SUBJINIT"), ("dm", "PTNAME"), ("dm", "BRTHDAT")):
            header, rows = data[sid, form]
            j = header.index(fld)
            assert all(_s(r[j]).strip() for r in rows), (sid, form, fld)


def test_subject_ids_follow_site_patterns(export):
    _, data, _ = export
    for sid, site in SPEC.sites.items():
        pat = re.compile(site.subject_id_pattern)
        for form in SPEC.forms:
            for r in data[sid, form][1]:
                assert _s(r[0]) == sid
                assert pat.match(_s(r[1])), (sid, form, r[1])


DATE_RE = {
    "101": r"^\d{4}(-\d{2}(-\d{2})?)?$",
    "102": r"^((\d{2}|UN)/)?(\d{2}|UN)/\d{4}$",
    "103": r"^\d{4}年(\d{1,2}月(\d{1,2}日)?)?$",
    "104": r"^(\d{2}|UN)-([A-Z]{3}|UNK)-\d{4}$",
}


def test_date_styles_per_site(export):
    _, data, _ = export
    kinds = Counter()
    for (sid, form), (header, rows) in data.items():
        for f in SPEC.forms[form].fields:
            if f.type != "date":
                continue
            j = header.index(f.name)
            for r in rows:
                v = r[j]
                if isinstance(v, dt.datetime):
                    assert sid == "103"
                    kinds[sid, "excel"] += 1
                    continue
                v = unicodedata.normalize("NFKC", _s(v))
                if not v:
                    continue
                assert re.match(DATE_RE[sid], v), (sid, form, f.name, v)
                if sid == "102" and _s(r[j]) != v:
                    kinds[sid, "fullwidth"] += 1
                if "UN" in v or len(v) < 8 or (sid == "103" and not v.endswith("日")):
                    kinds[sid, "partial"] += 1
    assert kinds["103", "excel"] > 100
    assert kinds["102", "fullwidth"] > 0
    for sid in SPEC.sites:
        assert kinds[sid, "partial"] > 0, sid


def test_encodings_bom_and_workbooks(export):
    out, _, _ = export
    raw101 = (out / "101" / "ae.csv").read_bytes()
    assert not raw101.startswith(b"\xef\xbb\xbf")
    raw101.decode("utf-8")
    raw102 = (out / "102" / "ae.csv").read_bytes()
    text = raw102.decode("gbk")
    assert re.search(r"[\u4e00-\u9fff]", text)
    with pytest.raises(UnicodeDecodeError):
        raw102.decode("utf-8")
    assert (out / "104" / "ae.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    for form in SPEC.forms:
        wb = openpyxl.load_workbook(out / "103" / f"{form}.xlsx")
        assert wb.sheetnames == [form]


def test_site_habits_visible(export):
    _, data, _ = export

    def col(sid, form, fld):
        header, rows = data[sid, form]
        j = header.index(fld)
        return [_s(r[j]).strip() for r in rows]

    assert set(col("104", "ae", "AETOXGR")) <= {"I", "II", "III", "IV", "V", "VI"}
    assert all(g.endswith("级") for g in col("102", "ae", "AETOXGR"))
    assert set(col("101", "ae", "AETOXGR")) <= {"1", "2", "3", "4", "5", "6"}
    assert any(re.search(r"[\u4e00-\u9fff]", t) for t in col("103", "ae", "AETERM"))
    units = {sid: Counter(zip(col(sid, "lb", "LBTESTCD"), col(sid, "lb", "LBORRESU"))) for sid in SPEC.sites}
    assert any(u == "mg/dL" for (_, u) in units["104"]) and any(u == "g/dL" for (_, u) in units["104"])
    assert any(u in ("umol/L", "μmol/L") for (_, u) in units["101"])
    assert any(
        v.endswith(" ")
        for sid in SPEC.sites
        for form in ("ae", "ta", "surg")
        for v in [_s(r[k]) for r in data[sid, form][1] for k in range(len(r))]
    )


def test_ie_one_row_per_criterion_all_met(export):
    _, data, _ = export
    crit = SPEC.codelists["IETESTCD"].values
    ny = SPEC.codelists["NY"]
    for sid in SPEC.sites:
        rows = data[sid, "ie"][1]
        per = Counter(_s(r[1]) for r in rows)
        assert set(per.values()) == {len(crit)}
        for r in rows:
            v = _s(r[3]).strip()
            assert ny.synonyms.get(v, v) == "Y"


def test_duplicates_are_exact_reexports_only(export):
    _, data, _ = export
    n_dup = 0
    for (sid, form), (header, rows) in data.items():
        keys = [header.index(k) for k in SPEC.forms[form].keys]
        groups = defaultdict(list)
        for r in rows:
            groups[tuple(unicodedata.normalize("NFKC", _s(r[k])).strip() for k in keys)].append(tuple(_s(x) for x in r))
        for g in groups.values():
            if len(g) > 1:
                assert len(set(g)) == 1, (sid, form, g)
                n_dup += len(g) - 1
    assert n_dup > 0


def test_ae_verbatims_are_in_the_dictionary_except_injected(export):
    _, data, probs = export
    vb = list(csv.DictReader((SPECS_DIR / "terms" / "ae_verbatim.csv").open(encoding="utf-8")))
    known = {r["verbatim"] for r in vb}
    terms = {r["ctcae_term"] for r in csv.DictReader((SPECS_DIR / "terms" / "ctcae_meddra.csv").open(encoding="utf-8"))}
    assert {r["ctcae_term"] for r in vb} <= terms
    assert all(r["language"] in ("en", "zh") and r["english_verbatim"] for r in vb)
    injected = {p["value"] for p in probs if p["kind"] == "unknown_verbatim"}
    assert injected and not (injected & known)
    for sid in SPEC.sites:
        header, rows = data[sid, "ae"]
        j = header.index("AETERM")
        for r in rows:
            v = _s(r[j]).strip()
            assert v in known or v in injected, (sid, v)


def test_injected_problems_are_rare_present_and_recorded(export):
    _, data, probs = export
    kinds = Counter(p["kind"] for p in probs)
    assert set(kinds) == {"impossible_date", "unknown_verbatim", "invalid_grade", "unknown_unit"}
    assert all(v >= 2 for v in kinds.values())
    total_records = sum(len(rows) for _, rows in data.values())
    assert len(probs) <= 0.01 * total_records
    for p in probs:
        header, rows = data[p["siteid"], p["form"]]
        j = header.index(p["field"])
        hits = [r for r in rows if _s(r[1]) == p["subjid"] and _s(r[j]) == p["value"]]
        assert len(hits) == 1, p
        if p["kind"] == "impossible_date":
            with pytest.raises(ValueError):
                _parse_any(p["value"])


def _parse_any(v: str) -> dt.date:
    v = unicodedata.normalize("NFKC", v)
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%Y年%m月%d日", "%d-%b-%Y"):
        try:
            return dt.datetime.strptime(v.title() if "-" in v and v[3:6].isalpha() else v, fmt).date()
        except ValueError:
            continue
    raise ValueError(v)


def _date101_104(v) -> dt.date | None:
    v = _s(v).strip()
    for fmt in ("%Y-%m-%d", "%d-%b-%Y"):
        try:
            return dt.datetime.strptime(v, fmt).date()
        except ValueError:
            pass
    return None


def test_truth_endpoints_agree_with_the_export(export):
    """For sites 101/104, derive RFS/TTR/OS dates from the raw files by hand and compare with raw_truth."""
    out, data, probs = export
    truth = list(csv.DictReader((out.parent / "raw_truth" / "subjects.csv").open(encoding="utf-8")))
    ny = SPEC.codelists["NY"].synonyms
    surv_syn = SPEC.codelists["SURVSTAT"].synonyms
    bad = {(p["siteid"], p["subjid"], p["form"]) for p in probs}
    checked = 0
    for sid in ("101", "104"):

        def rows(form, sid=sid):
            header, rs = data[sid, form]
            return [dict(zip(header, r)) for r in rs]

        ta, surv = rows("ta"), rows("surv")
        evid = defaultdict(list)  # dates proving the subject alive
        for form, fields in (
            ("ta", ["TADAT"]),
            ("ex", ["EXSTDAT", "EXENDAT"]),
            ("lb", ["LBDAT"]),
            ("enrol", ["ENRLDAT"]),
            ("ae", ["AESTDAT", "AEENDAT"]),
        ):
            for r in rows(form):
                for f in fields:
                    d = _date101_104(r[f])
                    if d:
                        evid[r["SUBJID"]].append(d)
        for r in surv:
            if surv_syn.get(r["SURVSTAT"].strip(), r["SURVSTAT"].strip()) == "ALIVE":
                evid[r["SUBJID"]].append(_date101_104(r["CONTDAT"]))
        for t in (t for t in truth if t["siteid"] == sid):
            s = t["subjid"]
            if (sid, s, "ae") in bad or (sid, s, "lb") in bad:
                continue
            st = [r for r in ta if r["SUBJID"] == s]
            rec = [_date101_104(r["TADAT"]) for r in st if ny.get(r["RECUR"].strip(), r["RECUR"].strip()) == "Y"]
            dead = [_date101_104(r["DTHDAT"]) for r in surv if r["SUBJID"] == s and r["DTHDAT"]]
            if rec:
                assert t["ttr_event"] == "1" and t["ttr_date"] == rec[0].isoformat()
                assert t["rfs_event"] == "1" and t["rfs_date"] == rec[0].isoformat()
            else:
                assert t["ttr_event"] == "0"
                last = max((_date101_104(r["TADAT"]) for r in st), default=None)
                assert t["ttr_date"] == (last.isoformat() if last else t["hepatectomy_date"])
            if dead:
                assert t["os_event"] == "1" and t["os_date"] == dead[0].isoformat()
            else:
                assert t["os_event"] == "0" and t["os_date"] == max(evid[s]).isoformat(), s
            checked += 1
    assert checked > 50
