"""Successive transfers of one simulated study, with a scripted story and its expected outcome (issue #17).

``generate_transfers(n, seed, out_dir, k)`` writes ``<out>/transfer_1 .. transfer_K`` (each a full
raw folder), ``<out>/responses_<k>`` (the listings the sites and the data manager return before
transfer k, as ``<site>.xlsx``), and ``<truth>/transfers.json``: per transfer its received date,
the expected delta rows and the expected query register, all derived here from the script below,
never by running the pipeline. Transfer 1 is the export ``generate_study`` writes for the same
seed (its ground truth too). The roles are given to the planted problems in their sorted order:

==========  ===========================================================================
transfer 1  the export; every planted problem is a new query (OPEN)
transfer 2  FIX_REBREAK (an invalid grade) and FIX (an unknown unit) corrected (CLOSED, record
            changed); an AE grade 1 -> 3 on a clean record (a CHANGED delta row, no query);
            responses_2: the site answers ANSWER_FIX (ANSWERED), the data manager CANCELs
            CANCEL (an unknown verbatim: CANCELLED, though it still fires)
transfer 3  ANSWER_FIX corrected (CLOSED); FIX_REBREAK broken again with its old value (REOPENED);
            the subject of DELETED_SUBJECT removed from every form (its query CLOSED, record
            deleted; SUBJECT_DELETED raised); every AE of one clean subject deleted
            (RECORD_DELETED per AE); responses_3: the site answers ANSWER_OPEN (ANSWERED)
transfer 4  a new invalid grade on a clean AE (OPEN); responses_4: the site answers the
            reopened FIX_REBREAK (ANSWERED)
later       re-exports without a change
==========  ===========================================================================

Query ids of the returned listings follow the documented formula of pipeline/ops/queries.py
(site, subject, form, field, rule, value and occurrence 1, sha256), computed here.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.synth import Export, build_export, write_truth
from pipeline.synth.messiness import LAB_UNITS, ROMAN, SiteStyle
from pipeline.synth.writers import write_atomic, write_site

TRUTH_FILE = "transfers.json"
FIRST_RECEIVED = dt.date(2023, 1, 9)  # nine days after the data cut-off (2022-12-31), then every 4 weeks
INTERVAL_DAYS = 28
RULE_OF_KIND = {
    "impossible_date": "DATE_INVALID",
    "unknown_verbatim": "AE_TERM_UNKNOWN",
    "invalid_grade": "CODE_UNKNOWN",
    "unknown_unit": "CODE_UNKNOWN",
}
INVALID_GRADE = {"101": "6", "102": "6级", "103": "6级", "104": ROMAN["6"]}
REGISTER_KEY = ["siteid", "subjid", "form", "field", "rule", "value"]
# A deletion query's form/field follow the delta's conventions; the test matches these on site, subject, rule.
LOOSE_RULES = ("SUBJECT_DELETED",)


def received_date(k: int) -> dt.date:
    """The received date of transfer ``k`` (1-based)."""
    return FIRST_RECEIVED + dt.timedelta(days=INTERVAL_DAYS * (k - 1))


def query_id(siteid: str, subjid: str, form: str, field: str, rule: str, value: str, n: int = 1) -> str:
    """The stable query id of a problem (the formula documented in pipeline/ops/queries.py)."""
    text = "\x1f".join([siteid, subjid, form, field, rule, value, str(n)])
    return f"Q{siteid or 'X'}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:10].upper()}"


def _norm(v: object) -> str:
    """A cell as the raw layer compares it: the text as read (xlsx dates ISO, whole floats as integers), NFKC, spaces collapsed."""
    if v is None:
        return ""
    if isinstance(v, dt.date):
        s = v.isoformat()
    elif isinstance(v, float):
        s = str(int(v)) if v.is_integer() else repr(v)
    else:
        s = str(v)
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", s)).strip()


def _as_read(v: object) -> str:
    """A cell as text, before normalisation (what a delta shows)."""
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return "" if v is None else str(v)


def _natural(s: str) -> str:
    return re.sub(r"\d+", lambda m: m.group().zfill(12), s)


@dataclass
class _Problem:
    siteid: str
    subjid: str
    form: str
    field: str
    value: str
    kind: str
    key_field: str
    key_value: str

    @property
    def rule(self) -> str:
        return RULE_OF_KIND[self.kind]

    @property
    def qid(self) -> str:
        return query_id(self.siteid, self.subjid, self.form, self.field, self.rule, self.value)

    def reg_key(self, value: str | None = None) -> dict:
        return dict(
            zip(
                REGISTER_KEY, [self.siteid, self.subjid, self.form, self.field, self.rule, self.value if value is None else value]
            )
        )


class _Story:
    """The forms of the latest transfer, edited transfer by transfer, with the delta rows the edits make."""

    def __init__(self, export: Export, seed: int):
        self.export = export
        self.spec = export.spec
        self.forms = copy.deepcopy(export.forms)
        self.delta: list[dict] = []
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(2,))))
        mcal = export.cal["messiness"]
        self.style = {s: SiteStyle(s, self.spec.codelists, mcal, rng) for s in self.spec.sites}

    def rows(self, site: str, form: str, subjid: str, key_field: str | None = None, key_value: str | None = None) -> np.ndarray:
        df = self.forms[site][form]
        hit = df["SUBJID"].map(_norm).to_numpy() == _norm(subjid)
        if key_field is not None:
            hit &= df[key_field].map(_norm).to_numpy() == _norm(key_value)
        return np.nonzero(hit)[0]

    def key_text(self, form: str, cells: dict) -> str:
        keys = [k for k in self.spec.forms[form].keys if k != "SUBJID"]
        if not keys:
            return f"SUBJID={_norm(cells['SUBJID'])}"
        return "; ".join(f"{k}={_norm(cells[k])}" for k in keys)

    def set_value(
        self, site: str, form: str, subjid: str, key_field: str, key_value: str, field: str, value: object
    ) -> tuple[str, str]:
        """Change one record's field (and its exact re-export copies); record the CHANGED delta row."""
        idx = self.rows(site, form, subjid, key_field, key_value)
        if not len(idx):
            raise AssertionError(f"script: no {form} record {key_field}={key_value} of {site}/{subjid}")
        df = self.forms[site][form]
        old = df.iat[idx[0], df.columns.get_loc(field)]
        col = df[field].astype(object).copy()
        col.iloc[idx] = value
        df[field] = col
        self.delta.append(
            {
                "siteid": site,
                "subjid": _norm(subjid),
                "form": form,
                "key": f"{key_field}={_norm(key_value)}",
                "change": "CHANGED",
                "field": field,
                "old_value": _as_read(old),
                "new_value": _as_read(value),
            }
        )
        return _as_read(old), _as_read(value)

    def delete(self, site: str, form: str, idx: np.ndarray) -> list[str]:
        """Delete rows; record one DELETED delta row per distinct record (exact re-exports are one). Returns the keys."""
        df = self.forms[site][form]
        gone = df.iloc[idx]
        seen: dict[tuple, str] = {}
        for r in gone.to_dict("records"):
            whole = tuple(_norm(r[c]) for c in df.columns)
            if whole not in seen:
                seen[whole] = self.key_text(form, r)
        keys = list(seen.values())
        for key in keys:
            suffix = " (key not unique)" if keys.count(key) > 1 else ""
            self.delta.append(
                {
                    "siteid": site,
                    "subjid": _norm(gone["SUBJID"].iloc[0]),
                    "form": form,
                    "key": key + suffix,
                    "change": "DELETED",
                    "field": "",
                    "old_value": "",
                    "new_value": "",
                }
            )
        self.forms[site][form] = df.drop(index=df.index[idx]).reset_index(drop=True)
        return keys

    def take_delta(self) -> list[dict]:
        out, self.delta = self.delta, []
        order = {"DELETED": 0, "CHANGED": 1, "NEW": 2}
        return sorted(
            out, key=lambda d: (d["siteid"], d["form"], _natural(d["subjid"]), _natural(d["key"]), order[d["change"]], d["field"])
        )


def _problems(export: Export) -> list[_Problem]:
    out = []
    for r in export.problems.to_dict("records"):
        kf, kv = str(r["record_key"]).split("=", 1)
        out.append(_Problem(r["siteid"], r["subjid"], r["form"], r["field"], str(r["value"]), r["kind"], kf, kv))
    return sorted(out, key=lambda p: (p.siteid, _natural(p.subjid), p.form, p.field, p.key_value))


def _pick(pool: list[_Problem], kinds: tuple[str, ...], taken: set[int]) -> _Problem | None:
    for kind in kinds:
        for i, p in enumerate(pool):
            if i not in taken and p.kind == kind:
                taken.add(i)
                return p
    return None


def _cohort_row(export: Export, p_site: str, subjid: str) -> int:
    ids = export.subjids
    hit = [int(i) for i, v in ids.items() if v == subjid and export.study.cohort["siteid"].iat[int(i)] == p_site]
    return hit[0]


def _correct_value(story: _Story, p: _Problem) -> object:
    """The value the site enters when it corrects a planted problem: the true one, in its style."""
    ex, style = story.export, story.style[p.siteid]
    subj = _cohort_row(ex, p.siteid, p.subjid)
    if p.kind == "invalid_grade":
        ae = ex.study.ae
        g = ae[(ae["subj"] == subj) & (ae["aespid"] == int(p.key_value))]["grade"].iat[0]
        return style.codes(np.array([str(int(g))], dtype=object), "GRADE")[0]
    if p.kind == "unknown_unit":
        cl = story.spec.codelists["LBTEST"]
        test = p.key_value if p.key_value in cl.values else cl.synonyms[p.key_value]
        return LAB_UNITS[p.siteid][test][0]
    if p.kind == "impossible_date":
        if p.form == "lb":
            day = int(ex.study.cohort["lbdat"].iat[subj])
        elif p.form == "ae":
            ae = ex.study.ae
            rec = ae[(ae["subj"] == subj) & (ae["aespid"] == int(p.key_value))]
            day = int(rec["start"].iat[0] if p.field == "AESTDAT" else rec["aeendat"].iat[0])
        else:
            cm = ex.study.cm
            day = int(cm[(cm["subj"] == subj) & (cm["cmspid"] == int(p.key_value))]["start"].iat[0])
        return style.dates(np.array([day], dtype="int64"))[0]
    raise AssertionError(f"script: no correction for {p.kind}")


def _returned_listing(answers: list[tuple[_Problem | dict, str, str]]) -> dict[str, bytes]:
    """{<site>.xlsx: bytes} of the listings returned with these (problem, site_response, dm_decision) rows."""
    from pipeline.ops.queries import LISTING_COLS, listing_xlsx_bytes

    by_site: dict[str, list[dict]] = {}
    for p, answer, decision in answers:
        key = p.reg_key() if isinstance(p, _Problem) else p
        row: dict[str, object] = dict.fromkeys(LISTING_COLS, "")
        row.update(key)
        row.update(query_id=query_id(*(key[c] for c in REGISTER_KEY)), status="OPEN", site_response=answer, dm_decision=decision)
        row["row"] = None
        by_site.setdefault(key["siteid"], []).append(row)
    return {f"{s}.xlsx": listing_xlsx_bytes(pd.DataFrame(rows, columns=LISTING_COLS)) for s, rows in sorted(by_site.items())}


def _clean_ae(
    story: _Story, problems: list[_Problem], avoid_subjects: set[tuple[str, str]], grade: str | None
) -> tuple[str, str, str] | None:
    """(site, subjid, AESPID) of the first AE (site, natural subject, AESPID order) without a planted problem,
    of a subject outside ``avoid_subjects`` and with no invalid grade, whose grade is ``grade`` (any if None)."""
    bad = {(p.siteid, _norm(p.subjid), p.key_value) for p in problems if p.form == "ae"}
    graded = {(p.siteid, _norm(p.subjid)) for p in problems if p.kind == "invalid_grade"}
    for site in story.spec.sites:
        df = story.forms[site]["ae"]
        cands = []
        for r in df.to_dict("records"):
            subj, spid = _norm(r["SUBJID"]), _norm(r["AESPID"])
            if (site, subj, spid) in bad or (site, subj) in avoid_subjects or (site, subj) in graded:
                continue
            g = _norm(r["AETOXGR"])
            canon = g if g in story.spec.codelists["GRADE"].values else story.spec.codelists["GRADE"].synonyms.get(g)
            if grade is None or canon == grade:
                cands.append((_natural(subj), int(spid), subj, spid))
        if cands:
            _, _, subj, spid = min(cands)
            return site, subj, spid
    return None


def generate_transfers(n_subjects: int, seed: int, out_dir: Path, k: int, truth_dir: Path | None = None) -> dict:
    """Write ``k`` successive transfers of one study (see the module docstring); return the truth document."""
    if k < 1:
        raise ValueError("--transfers must be >= 1")
    out_dir = Path(out_dir)
    truth_dir = Path(truth_dir) if truth_dir is not None else out_dir.parent / (out_dir.name + "_truth")
    export = build_export(n_subjects, seed)
    story = _Story(export, seed)
    problems = _problems(export)
    taken: set[int] = set()
    fix_rebreak = _pick(problems, ("invalid_grade", "impossible_date", "unknown_unit"), taken)
    fix = _pick(problems, ("unknown_unit", "impossible_date", "invalid_grade"), taken)
    answer_fix = _pick(problems, ("impossible_date", "unknown_unit", "invalid_grade"), taken)
    cancel = _pick(problems, ("unknown_verbatim",), taken)
    role_subjects = {(p.siteid, p.subjid) for p in (fix_rebreak, fix, answer_fix, cancel) if p is not None}
    rest = [p for i, p in enumerate(problems) if i not in taken]
    deleted_p = next((p for p in rest if (p.siteid, p.subjid) not in role_subjects), None)
    answer_open = next(
        (p for p in rest if p is not deleted_p and (p.siteid, p.subjid) != (deleted_p and (deleted_p.siteid, deleted_p.subjid))),
        None,
    )

    # Register expectation: (key tuple) -> {"status", "close_reason", "match"}.
    expected: dict[tuple, dict[str, str]] = {}

    def expect(key: dict, status: str, reason: str = "", match: str = "exact") -> None:
        expected[tuple(key[c] for c in REGISTER_KEY)] = {**key, "status": status, "close_reason": reason, "match": match}

    script: list[list[str]] = []
    transfers = []
    for t in range(1, k + 1):
        did: list[str] = []
        answers: list[tuple] = []
        if t == 1:
            for p in problems:
                expect(p.reg_key(), "OPEN")
            did.append(f"the export of {n_subjects} subjects (seed {seed}) with {len(problems)} planted problems")
        elif t == 2:
            for fp in (fix_rebreak, fix):
                if fp is None:
                    continue
                old, new = story.set_value(
                    fp.siteid, fp.form, fp.subjid, fp.key_field, fp.key_value, fp.field, _correct_value(story, fp)
                )
                expect(fp.reg_key(), "CLOSED", f"record changed: {fp.field} {old!r} -> {new!r}")
                did.append(
                    f"corrected {fp.siteid}/{fp.subjid} {fp.form} {fp.key_field}={fp.key_value} {fp.field} {old!r} -> {new!r}"
                )
            avoid = {(p.siteid, _norm(p.subjid)) for p in problems}
            ae = _clean_ae(story, problems, avoid, "1")
            if ae is not None:
                site, subj, spid = ae
                new_grade = story.style[site].codes(np.array(["3"], dtype=object), "GRADE")[0]
                old, new = story.set_value(site, "ae", subj, "AESPID", spid, "AETOXGR", new_grade)
                did.append(f"changed {site}/{subj} ae AESPID={spid} AETOXGR {old!r} -> {new!r} (grade 1 -> 3, no query)")
            if answer_fix is not None:
                answers.append((answer_fix, "Checked against the source document; will be corrected in the next export", ""))
                expect(answer_fix.reg_key(), "ANSWERED")
                did.append(f"responses_2: site answers {answer_fix.qid}")
            if cancel is not None:
                answers.append((cancel, "The term is as the investigator wrote it", "CANCEL"))
                expect(cancel.reg_key(), "CANCELLED")
                did.append(f"responses_2: data manager cancels {cancel.qid}")
        elif t == 3:
            if answer_fix is not None:
                p = answer_fix
                old, new = story.set_value(
                    p.siteid, p.form, p.subjid, p.key_field, p.key_value, p.field, _correct_value(story, p)
                )
                expect(p.reg_key(), "CLOSED", f"record changed: {p.field} {old!r} -> {new!r}")
                did.append(f"corrected {p.siteid}/{p.subjid} {p.form} {p.key_field}={p.key_value} {p.field} {old!r} -> {new!r}")
            if fix_rebreak is not None:
                p = fix_rebreak
                old, new = story.set_value(p.siteid, p.form, p.subjid, p.key_field, p.key_value, p.field, p.value)
                expect(p.reg_key(), "REOPENED")
                did.append(f"broke again {p.siteid}/{p.subjid} {p.form} {p.key_field}={p.key_value} {p.field} {old!r} -> {new!r}")
            gone: set[tuple[str, str]] = set()
            if deleted_p is not None:
                site, subj = deleted_p.siteid, deleted_p.subjid
                forms = []
                for form in story.spec.forms:
                    idx = story.rows(site, form, subj)
                    if len(idx):
                        story.delete(site, form, idx)
                        forms.append(form)
                for p in problems:
                    if (p.siteid, p.subjid) == (site, subj) and expected[tuple(p.reg_key().values())]["status"] != "CANCELLED":
                        expect(p.reg_key(), "CLOSED", "record deleted")
                expect(
                    {
                        "siteid": site,
                        "subjid": _norm(subj),
                        "form": "",
                        "field": "SUBJID",
                        "rule": "SUBJECT_DELETED",
                        "value": _norm(subj),
                    },
                    "OPEN",
                    match="siteid,subjid,rule",
                )
                gone.add((site, _norm(subj)))
                did.append(f"deleted subject {site}/{subj} from every form ({', '.join(forms)})")
            avoid = {(p.siteid, _norm(p.subjid)) for p in problems} | gone
            ae = _clean_ae(story, problems, avoid, None)
            if ae is not None:
                site, subj, _ = ae
                keys = story.delete(site, "ae", story.rows(site, "ae", subj))
                for key in keys:
                    kf, kv = key.split("=", 1)
                    expect(
                        {"siteid": site, "subjid": subj, "form": "ae", "field": kf, "rule": "RECORD_DELETED", "value": kv}, "OPEN"
                    )
                gone.add((site, subj))
                did.append(f"deleted every AE of {site}/{subj} ({len(keys)} record(s))")
            if answer_open is not None:
                answers.append((answer_open, "Source checked: the value is as recorded, will confirm with the investigator", ""))
                expect(answer_open.reg_key(), "ANSWERED")
                did.append(f"responses_3: site answers {answer_open.qid}")
            story.gone = gone  # type: ignore[attr-defined]
        elif t == 4:
            avoid = {(p.siteid, _norm(p.subjid)) for p in problems} | getattr(story, "gone", set())
            ae = _clean_ae(story, problems, avoid, None)
            if ae is not None:
                site, subj, spid = ae
                bad = INVALID_GRADE[site]
                old, new = story.set_value(site, "ae", subj, "AESPID", spid, "AETOXGR", bad)
                expect(
                    {"siteid": site, "subjid": subj, "form": "ae", "field": "AETOXGR", "rule": "CODE_UNKNOWN", "value": bad},
                    "OPEN",
                )
                did.append(f"new problem {site}/{subj} ae AESPID={spid} AETOXGR {old!r} -> {new!r}")
            if fix_rebreak is not None:
                answers.append((fix_rebreak, "Grade re-entered from the source; the EDC shows the corrected value", ""))
                expect(fix_rebreak.reg_key(), "ANSWERED")
                did.append(f"responses_4: site answers the reopened {fix_rebreak.qid}")
        else:
            did.append("a re-export without a change")
        raw = out_dir / f"transfer_{t}"
        for siteid, site_spec in story.spec.sites.items():
            write_site(story.forms[siteid], site_spec, raw, export.stamp)
        if answers:
            for name, data in _returned_listing(answers).items():
                write_atomic(out_dir / f"responses_{t}" / name, data)
        delta = story.take_delta() if t > 1 else []
        for d in delta:
            d["transfer"], d["previous"] = f"transfer_{t}", f"transfer_{t - 1}"
        transfers.append(
            {
                "transfer": f"transfer_{t}",
                "received": received_date(t).isoformat(),
                "responses": f"responses_{t}" if answers else "",
                "script": did,
                "delta": delta,
                "register": sorted(
                    (dict(v) for v in expected.values()),
                    key=lambda r: (r["siteid"], _natural(r["subjid"]), r["form"], r["field"], r["rule"], r["value"]),  # type: ignore[index]
                ),
            }
        )
        script.append(did)
    write_truth(export, seed, n_subjects, truth_dir)
    doc = {
        "n_subjects": n_subjects,
        "seed": seed,
        "transfers": transfers,
        "roles": {
            name: (p.reg_key() | {"query_id": p.qid}) if p is not None else None
            for name, p in [
                ("FIX_REBREAK", fix_rebreak),
                ("FIX", fix),
                ("ANSWER_FIX", answer_fix),
                ("CANCEL", cancel),
                ("DELETED_SUBJECT", deleted_p),
                ("ANSWER_OPEN", answer_open),
            ]
        },
    }
    write_atomic(truth_dir / TRUTH_FILE, (json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    return doc
