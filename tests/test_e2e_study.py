"""End to end on the committed 154-subject study: every asset, privacy, determinism, a kill mid-run.

The tests read the session's in-process build of raw/ (``embedded_build``, tests/conftest.py); the
kill test makes its own command-line runs in subprocesses, as a nightly run would, and its last,
complete run must write the in-process build's bytes (determinism across processes).
"""

import csv
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import EMBEDDED_RECEIVED, PINNED_ENV

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "raw"


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def cli_run(out: Path, work: Path) -> subprocess.Popen:
    """``python -m pipeline run`` of raw/ as a nightly run would start it, received on the shared build's day
    (into the test's own transfer store, PIPELINE_HISTORY), with the shared build's pinned commit and time."""
    env = {**os.environ, **PINNED_ENV}
    env.pop("DAGSTER_HOME", None)
    received = EMBEDDED_RECEIVED.isoformat()
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--raw",
            str(RAW),
            "--out",
            str(out),
            "--work",
            str(work),
            "--received",
            received,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def run(embedded_build) -> Path:
    """The published package of the shared build (read-only)."""
    return embedded_build.out


def raw_identifiers() -> pd.DataFrame:
    """Per subject the direct identifiers the raw export carries (initials, name, birth date as ISO and as sent)."""
    from pipeline.raw.extract import extract_form
    from pipeline.raw.reader import form_path, read_form_file
    from pipeline.specs.raw import load_raw_spec

    spec = load_raw_spec()
    rows = []
    for site in spec.sites.values():
        for form, fields in (("enrol", ["SUBJINIT"]), ("dm", ["PTNAME", "BRTHDAT"])):
            f = spec.forms[form]
            raw = read_form_file(form_path(RAW, site, f), site, f)
            for field in fields:
                rows += [(site.siteid, s, v.strip()) for s, v in zip(raw["SUBJID"], raw[field]) if v and v.strip()]
    dm = extract_form(RAW, "dm", spec).data
    rows += [(s, sub, iso) for s, sub, iso in zip(dm["SITEID"], dm["SUBJID"], dm["BRTHDAT"]) if iso]
    return pd.DataFrame(rows, columns=["siteid", "subjid", "value"]).drop_duplicates()


def test_every_layer_is_written(run):
    for path in [
        "sdtm/dm.parquet",
        "sdtm/ae.parquet",
        "sdtm/rs.parquet",
        "sdtm/ts.parquet",
        "adam/adsl.parquet",
        "adam/adtte.parquet",
        "analysis/endpoints.csv",
        "analysis/km_rfs.png",
    ]:
        assert (run / path).is_file(), path


def test_every_enrolled_subject_reaches_dm(run):
    dm = pd.read_parquet(run / "sdtm" / "dm.parquet")
    truth = pd.read_csv(ROOT / "raw_truth" / "subjects.csv", dtype=str)
    assert sorted(dm["USUBJID"]) == sorted(truth["usubjid"])


def test_no_direct_identifier_in_any_output(run):
    ids = raw_identifiers()
    assert len(ids) > 300
    names_and_dates = set(ids.loc[ids["value"].str.len() >= 5, "value"])
    leaks = []
    for p in sorted(run.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix == ".parquet":
            df = pd.read_parquet(p)
            cells = set(df.astype(str).to_numpy().ravel())
            # Initials are short: check them only against the subject's own records.
            if "USUBJID" in df.columns:
                # Code columns (DOMAIN, --TESTCD, ...) hold CDISC codes that two-letter initials can equal by chance.
                cols = [c for c in df.columns if c not in ("DOMAIN", "RDOMAIN", "USUBJID") and not c.endswith("CD")]
                # USUBJID = STUDYID-SITEID-SUBJID (SUBJID may itself hold a dash): each cell against its own subject
                subj = df["USUBJID"].fillna("").str.split("-", n=2).str[2]
                long = df[cols].astype(str).assign(subjid=subj.fillna("").astype(str).to_numpy())
                long = long.melt(id_vars="subjid", value_name="value")
                hits = long.merge(ids.astype(str), on=["subjid", "value"])
                leaks += [(p.name, s, "cell") for s in sorted(set(hits["subjid"]))]
            leaks += [(p.name, v, "cell") for v in names_and_dates & cells]
        elif p.suffix in (".csv", ".json", ".xml", ".html", ".md", ".rtf", ".txt", ".pdf"):
            if p.suffix == ".pdf":
                from pypdf import PdfReader

                text = "\n".join(page.extract_text() or "" for page in PdfReader(p).pages)
            else:
                text = p.read_text(encoding="utf-8-sig")
            leaks += [(p.name, v, "text") for v in names_and_dates if v in text]
            if p.parent.name == "queries":
                with p.open(encoding="utf-8-sig") as fh:
                    for q in csv.DictReader(fh):
                        own = ids[ids["subjid"].eq(q.get("subjid", ""))]
                        if q.get("value") in set(own["value"]):
                            leaks.append((p.name, q["subjid"], "query value"))
    assert not leaks, leaks[:20]


def test_a_run_killed_midway_leaves_only_complete_files(run, tmp_path):
    """Command-line runs killed at three moments leave only complete files of the package; the next
    complete command-line run writes exactly the in-process build's files, byte for byte."""
    out = tmp_path / "out"
    # Last night's package: the in-process build, copied rather than built once more.
    shutil.copytree(run, out)
    before = tree_digest(out)
    after = tree_digest(run)  # what a complete run writes
    # Change nothing in the input: a killed re-run may only ever show old or new versions.
    # Kill at several moments of the second run.
    for delay in (2.0, 4.5, 7.0):
        proc = cli_run(out, tmp_path / f"work{delay}")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = tree_digest(out)
        for name, digest in now.items():
            if Path(name).name.startswith(".") and name.endswith(".tmp"):
                continue  # a killed write's temporary file: never an output name, swept by the next run
            assert digest in (before.get(name), after.get(name)), name
    final = cli_run(out, tmp_path / "work_final")
    log = final.communicate(timeout=600)[0]
    assert final.returncode == 0, log[-2000:]
    assert not list(out.rglob(".*.tmp"))
    assert tree_digest(out) == after


def truth() -> pd.DataFrame:
    return pd.read_csv(ROOT / "raw_truth" / "subjects.csv", dtype=str).set_index("usubjid")


@pytest.mark.parametrize("paramcd", ["RFS", "TTR", "OS"])
def test_adtte_recovers_the_generators_truth_for_every_subject(run, paramcd):
    """Event flag and date of every subject equal the ground truth the pipeline never reads."""
    t = truth()
    a = pd.read_parquet(run / "adam" / "adtte.parquet")
    a = a[a["PARAMCD"].eq(paramcd)].set_index("USUBJID").sort_index()
    p = paramcd.lower()
    assert list(a.index) == sorted(t.index)
    assert (a["CNSR"].eq(0).astype(int).astype(str) == t.loc[a.index, f"{p}_event"]).all()
    assert (pd.to_datetime(a["ADT"]) == pd.to_datetime(t.loc[a.index, f"{p}_date"])).all()
    assert (a["AVAL"] == t.loc[a.index, f"{p}_days"].astype(int) + 1).all()


def test_adex_total_dose_and_modification_match_the_truth(run):
    t = truth()
    a = pd.read_parquet(run / "adam" / "adex.parquet")
    tdose = a[a["PARAMCD"].eq("TDOSE")].set_index("USUBJID")["AVAL"]
    assert len(tdose) == t["arm"].eq("SORAFENIB").sum()
    assert (tdose == t.loc[tdose.index, "total_dose_mg"].astype(float)).all()
    mod = a[a["PARAMCD"].eq("DOSMODAE")].set_index("USUBJID")["AVAL"]
    assert (mod == t.loc[mod.index, "ae_dose_modification"].astype(float)).all()


def test_injected_problems_are_exactly_the_queries_of_the_listing(run):
    """Every problem the generator injected is in the site's query listing, and no other query is."""
    injected = pd.read_csv(ROOT / "raw_truth" / "injected_problems.csv", dtype=str)
    listed = pd.concat([pd.read_csv(p, dtype=str, encoding="utf-8-sig") for p in sorted((run / "queries").glob("*.csv"))])
    got = sorted(map(tuple, listed[["siteid", "subjid", "field", "value"]].fillna("").values.tolist()))
    want = sorted(map(tuple, injected[["siteid", "subjid", "field", "value"]].values.tolist()))
    assert got == want


def test_report_displays_ard_ars_and_analysis_results_metadata(run):
    """Every display is written as RTF and PDF; the ARS event and the ADaM define's ARM validate."""
    import json

    from lxml import etree

    from pipeline.specs.analysis import load_displays
    from pipeline.submission.define_arm import validate_arm
    from pipeline.tlf import ars

    for d in load_displays():
        for ext in ("rtf", "pdf"):
            assert (run / "tlf" / f"{d.id}.{ext}").is_file(), (d.id, ext)
    ard = pd.read_parquet(run / "analysis" / "ard.parquet")
    assert ard["ANALYSIS_ID"].nunique() > 40
    event = json.loads((run / "analysis" / "ars" / "reporting_event.json").read_text(encoding="utf-8"))
    assert ars.schema_errors(event) == [] and ars.reference_errors(event) == []
    # the primary endpoint as printed: KM RFS at 2 years, sorafenib arm
    assert "{\\f0 47.9 (36.3, 58.6)}\\cell" in (run / "tlf" / "t14_2_1_rfs.rtf").read_text(encoding="utf-8")
    xml = (run / "adam" / "define.xml").read_bytes()
    assert validate_arm(xml) == []
    doc = etree.fromstring(xml)
    ns = {
        "arm": "http://www.cdisc.org/ns/arm/v1.0",
        "def": "http://www.cdisc.org/ns/def/v2.1",
        "xlink": "http://www.w3.org/1999/xlink",
    }
    results = doc.xpath("//arm:ResultDisplay[@OID='RD.T14_2_1_RFS']/arm:AnalysisResult/@OID", namespaces=ns)
    assert "AR.AN_RFS_KM" in results and "AR.AN_RFS_HR" in results
    for leaf_id in doc.xpath("//arm:ResultDisplay/def:DocumentRef/@leafID", namespaces=ns):
        (href,) = doc.xpath(f"//def:leaf[@ID='{leaf_id}']/@xlink:href", namespaces=ns)
        assert (run / "adam" / href).resolve().is_file(), href
