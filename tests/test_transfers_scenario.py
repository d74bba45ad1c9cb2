"""Issue #17: a generated 4-transfer story, each transfer's delta and register compared with the generator's truth.

The pure version runs the raw layer's checks, the delta and the register transfer by transfer (the queries
of a generated study are all raw-layer ones). The end-to-end version (marked slow) runs
``python -m pipeline run`` per transfer with a transfer store and compares the stored registers.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.ops import queries as q
from pipeline.raw.extract import extract_form
from pipeline.raw.reader import form_path, read_form_file
from pipeline.sdtm.ae import code_verbatim
from pipeline.sdtm.common import make_queries
from pipeline.specs.raw import load_raw_spec
from pipeline.synth.transfers import REGISTER_KEY, TRUTH_FILE, generate_transfers
from pipeline.transfers.register import update_register
from pipeline.transfers.responses import parse_responses

delta_mod = pytest.importorskip(
    "pipeline.transfers.delta", reason="pipeline/transfers/delta.py (helper transfers) not merged yet"
)

K, SUBJECTS, SEED = 4, 24, 7


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("transfers") / "drops"
    doc = generate_transfers(SUBJECTS, SEED, out, K)
    return out, doc


def _frames(raw: Path, spec) -> dict[tuple[str, str], pd.DataFrame]:
    out = {}
    for siteid, site in sorted(spec.sites.items()):
        for name, form in spec.forms.items():
            path = form_path(raw, site, form)
            if path.is_file():
                out[(siteid, name)] = read_form_file(path, site, form)
    return out


def _listing(raw: Path, spec) -> pd.DataFrame:
    """The raw layer's queries and AE coding's AE_TERM_UNKNOWN (the SDTM rule a generated study meets)."""
    parts = []
    sdtm = []
    for name in spec.forms:
        ex = extract_form(raw, name, spec)
        parts += [ex.quarantine, ex.drops]
        if name == "ae":
            unknown = ~code_verbatim(ex.data["AETERM"])["in_dictionary"]
            recs = ex.data[unknown.to_numpy()]
            sdtm.append(make_queries(recs, "ae", "AETERM", recs["AETERM"], "AE_TERM_UNKNOWN", "not in the AE dictionary"))
    return q.build_listing(parts, sdtm, [], spec)


def _register_view(register: pd.DataFrame) -> dict[tuple, tuple[str, str]]:
    return {tuple(r[c] for c in REGISTER_KEY): (r["status"], r["close_reason"]) for r in register.to_dict("records")}


def _match(truth_rows: list[dict], register: pd.DataFrame) -> None:
    """Every expected query in the register with its status and close reason, and nothing else in it."""
    got = register.to_dict("records")
    used: set[int] = set()
    for t in truth_rows:
        cols = REGISTER_KEY if t["match"] == "exact" else t["match"].split(",")
        hits = [i for i, r in enumerate(got) if all(str(r[c]) == str(t[c]) for c in cols)]
        assert len(hits) == 1, f"expected one register row for {t}, found {[got[i]['query_id'] for i in hits]}"
        r = got[hits[0]]
        assert (r["status"], r["close_reason"]) == (t["status"], t["close_reason"]), (t, r)
        used.add(hits[0])
    extra = [got[i] for i in range(len(got)) if i not in used]
    assert not extra, f"queries the script does not expect: {[(r['query_id'], r['rule'], r['status']) for r in extra]}"


def _delta_view(delta: pd.DataFrame, names: dict[str, str]) -> list[tuple]:
    cols = ["siteid", "subjid", "form", "key", "change", "field", "old_value", "new_value"]
    return sorted(
        (names.get(r["transfer"], r["transfer"]), names.get(r["previous"], r["previous"]), *(str(r[c]).strip() for c in cols))
        for r in delta.to_dict("records")
    )


@pytest.mark.slow
def test_four_transfers_match_the_truth(story):
    out, doc = story
    assert json.loads((out.parent / "drops_truth" / TRUTH_FILE).read_text(encoding="utf-8")) == doc
    spec = load_raw_spec()
    keys = {name: list(f.keys) for name, f in spec.forms.items()}
    fields = {name: f.field_names for name, f in spec.forms.items()}
    prev_frames: dict = {}
    register = None
    registers = []
    for t in doc["transfers"]:
        raw = out / t["transfer"]
        tid, previous = t["transfer"], (registers and doc["transfers"][len(registers) - 1]["transfer"]) or ""
        frames = _frames(raw, spec)
        # The first transfer has nothing to compare with: no delta (not every record NEW).
        delta = (
            delta_mod.record_delta(prev_frames, frames, keys, fields, tid, previous, q.identifier_fields(spec))
            if prev_frames
            else delta_mod.record_delta({}, {}, keys, fields, tid, "")
        )
        deletions = delta_mod.deletion_queries(delta, prev_frames, frames) if prev_frames else q.drop_queries([])
        listing = _listing(raw, spec)
        fired = pd.concat([listing, q.build_listing([deletions], [], [], spec)], ignore_index=True).drop_duplicates("query_id")
        got = (
            parse_responses(out / t["responses"], register["query_id"] if register is not None else [])
            if t["responses"]
            else None
        )
        if got is not None:
            assert got.problems.empty, got.problems.to_dict("records")
        register = update_register(
            register, fired, tid, dt.date.fromisoformat(t["received"]), got.frame if got is not None else None, delta
        )
        expected_delta = sorted(
            (d["transfer"], d["previous"], d["siteid"], d["subjid"], d["form"], d["key"], d["change"], d["field"])
            + (d["old_value"].strip(), d["new_value"].strip())
            for d in t["delta"]
        )
        assert _delta_view(delta, {}) == expected_delta, t["transfer"]
        _match(t["register"], register)
        registers.append(register)
        prev_frames = frames
    # Every query ever raised is still in the last register.
    ever = set().union(*(set(r["query_id"]) for r in registers))
    assert ever == set(registers[-1]["query_id"])
    # The story passes through every status of the lifecycle.
    assert set().union(*(set(r["status"]) for r in registers)) == {"OPEN", "ANSWERED", "CLOSED", "REOPENED", "CANCELLED"}


def test_generation_is_deterministic(tmp_path: Path, story):
    out, doc = story
    again = generate_transfers(SUBJECTS, SEED, tmp_path / "drops", K)
    assert again == doc
    for p in sorted(out.rglob("*")):
        if p.is_file():
            assert (tmp_path / "drops" / p.relative_to(out)).read_bytes() == p.read_bytes(), p


def _delta_csvs(folder: Path) -> pd.DataFrame:
    """The transfer's per-site delta files (<site>.csv; metrics.csv and queries/ are not delta)."""
    sites = sorted(load_raw_spec().sites)
    parts = [pd.read_csv(folder / f"{s}.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig") for s in sites]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=delta_mod.DELTA_COLS)


@pytest.mark.slow
def test_four_transfers_end_to_end(story, tmp_path: Path):
    """`run` per transfer with a store: every stored register and written delta as the truth says, and the
    last transfer rebuilt later from the store alone gives the same package, byte for byte."""
    from pipeline import cli
    from pipeline.runner import run_study
    from pipeline.transfers import TransferOptions
    from pipeline.transfers.snapshot import TransferStore

    out, doc = story
    hist, pub, work = tmp_path / "hist", tmp_path / "out", tmp_path / "work"
    names: dict[str, str] = {}
    store = TransferStore(hist)
    for t in doc["transfers"]:
        responses = out / t["responses"] if t["responses"] else tmp_path / "no-responses"
        options = TransferOptions(history=hist, received=dt.date.fromisoformat(t["received"]), responses=responses)
        report = run_study(out / t["transfer"], pub, work, transfer=options)
        assert report.success, (t["transfer"], report.failures)
        tid = store.latest()
        names[tid] = t["transfer"]
        register = pd.read_parquet(store.register_path(tid))
        _match(t["register"], register)
        expected_delta = sorted(
            (d["transfer"], d["previous"], d["siteid"], d["subjid"], d["form"], d["key"], d["change"], d["field"])
            + (d["old_value"].strip(), d["new_value"].strip())
            for d in t["delta"]
        )
        assert _delta_view(_delta_csvs(pub / "transfers" / tid), names) == expected_delta, t["transfer"]
    # Rebuilt later from the store alone, into a fresh folder: the whole package byte for byte, but for
    # manifest.json (it also lists the earlier transfers' folders, which only the original folder holds).
    last = store.latest()
    out2 = tmp_path / "out2"
    assert cli.main(["run", "--transfer", last, "--history", str(hist), "--out", str(out2), "--work", str(tmp_path / "w2")]) == 0
    earlier = [Path("transfers") / t for t in names if t != last]

    def files(root: Path) -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "manifest.json" and not any(p.relative_to(root).is_relative_to(e) for e in earlier)
        }

    fa, fb = files(pub), files(out2)
    assert any(k.startswith(f"transfers/{last}/") for k in fa) and any(k.startswith("sdtm/") for k in fa)
    assert sorted(fa) == sorted(fb) and [k for k in fa if fa[k] != fb[k]] == []


def test_cli_generate_transfers_writes_the_script(tmp_path: Path, capsys):
    from pipeline import cli

    assert cli.main(["generate", "--subjects", "24", "--seed", "7", "--out", str(tmp_path / "d"), "--transfers", "2"]) == 0
    assert "transfer_2  received 2023-02-06, 3 delta row(s)" in capsys.readouterr().out
    doc = json.loads((tmp_path / "d_truth" / TRUTH_FILE).read_text(encoding="utf-8"))
    assert [t["transfer"] for t in doc["transfers"]] == ["transfer_1", "transfer_2"]
    # Seed 7's planted problems, sorted: the invalid grade of 101-002 and the unknown unit of 101-006 are
    # corrected, a clean grade-1 AE of 101-001 becomes grade 3.
    assert [(d["subjid"], d["key"], d["field"], d["old_value"], d["new_value"]) for d in doc["transfers"][1]["delta"]] == [
        ("101-001", "AESPID=1", "AETOXGR", "1", "3"),
        ("101-002", "AESPID=4", "AETOXGR", "6", "2"),
        ("101-006", "LBTESTCD=BILI", "LBORRESU", "mg/L", "umol/L"),
    ]
    status = {(r["subjid"], r["field"]): r["status"] for r in doc["transfers"][1]["register"]}
    assert status[("101-002", "AETOXGR")] == "CLOSED" and status[("101-006", "AETERM")] == "CANCELLED"
    assert status[("GZ3-4", "AESTDAT")] == "ANSWERED" and status[("101-008", "AETERM")] == "OPEN"
    assert sorted(p.name for p in (tmp_path / "d" / "responses_2").iterdir()) == ["101.xlsx", "103.xlsx"]
    # The default generate is not affected: transfer_1 is its export.
    assert (tmp_path / "d" / "transfer_1" / "101" / "ae.csv").is_file()
