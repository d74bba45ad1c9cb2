"""The Dagster UI on a freshly built small study: GraphQL lineage and checks, then Chromium pages.

One module-scoped build: a 24-subject synthetic study of three successive transfers (the
generator's scripted corrections, deletions and returned listings) is built transfer by transfer
in-process into a temporary DAGSTER_HOME, then ``dagster-webserver -w workspace.yaml`` serves the
same definitions (PIPELINE_RAW_DIR / PIPELINE_OUT_DIR / PIPELINE_WORK_DIR / PIPELINE_HISTORY /
PIPELINE_RESPONSES_DIR point it at the same folders). The GraphQL test needs no browser; the page test needs /usr/bin/chromium
(``.ci/install-browser.sh``) and the playwright package, and is skipped without them.

Screenshots go to the test's temporary folder, and to docs/img/ when a picture is missing
there or UPDATE_SCREENSHOTS=1 (so an ordinary test run leaves the working tree alone).
"""

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# Headless Chromium in a container: no sandbox (no user namespaces), no GPU, /dev/shm is small.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-extensions",
]
IMG_DIR = REPO / "docs" / "img"
STARTUP_TIMEOUT_S = 90
# The generated study: transfer 1 is generate_study(SUBJECTS, SEED)'s export; 2 and 3 its scripted successors.
SUBJECTS, SEED, TRANSFERS = 24, 20160901, 3
INSTANCE_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"

ASSET_GRAPH_QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    dependencyKeys { path }
    assetChecksOrError {
      ... on AssetChecks {
        checks { name blocking executionForLatestMaterialization { status evaluation { success } } }
      }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(url: str, query: str) -> dict:
    req = urllib.request.Request(
        f"{url}/graphql", data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        body = json.loads(r.read())
    assert "errors" not in body, body["errors"]
    return body["data"]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    """A small generated study of TRANSFERS successive drops (``python -m pipeline generate --transfers``),
    each built with ``run_study`` as its transfer partition into a temporary instance (DAGSTER_HOME),
    the last with a hostile returned listing beside the generated ones."""
    import shutil

    from pipeline.runner import run_study
    from pipeline.synth.transfers import generate_transfers
    from pipeline.transfers import TransferOptions
    from pipeline.transfers.snapshot import TransferStore

    root = tmp_path_factory.mktemp("ui_study")
    dirs: dict = {name: root / name for name in ("drops", "out", "work", "home", "history", "responses")}
    dirs["home"].mkdir()
    (dirs["home"] / "dagster.yaml").write_text(INSTANCE_YAML)
    doc = generate_transfers(SUBJECTS, SEED, dirs["drops"], TRANSFERS)
    dirs["story"] = doc["transfers"]
    store = TransferStore(dirs["history"])
    reports = []
    # The webserver reads this instance's storage, so the UI shows these runs' results.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(dirs["home"]))
        for n, t in enumerate(doc["transfers"], 1):
            if t["responses"]:  # the folder as the data manager keeps it: this transfer's returned listings
                shutil.rmtree(dirs["responses"], ignore_errors=True)
                shutil.copytree(dirs["drops"] / t["responses"], dirs["responses"])
            if n == len(doc["transfers"]):
                write_hostile_listings(dirs["responses"], store)
            options = TransferOptions(
                history=dirs["history"], received=dt.date.fromisoformat(t["received"]), responses=dirs["responses"]
            )
            report = run_study(dirs["drops"] / t["transfer"], dirs["out"], dirs["work"], transfer=options)
            assert report.success, (t["transfer"], report.failures)
            reports.append(report)
        dirs["raw"] = dirs["drops"] / doc["transfers"][-1]["transfer"]
        with dg.DagsterInstance.from_config(str(dirs["home"])) as instance:
            record_failed_ae_check(dirs["out"], instance)
    dirs["reports"] = reports
    return dirs


def write_hostile_listings(folder: Path, store) -> None:
    """Two returned files the pipeline must read without stopping and report: a CSV whose row 2 has a
    decision that is none (on a real query of the last stored register) and whose row 3 answers a query
    this study never raised, and a workbook cut short in transfer."""
    import pandas as pd

    qid = sorted(pd.read_parquet(store.register_path(store.latest()))["query_id"])[0]
    folder.mkdir(parents=True, exist_ok=True)
    text = f"query_id,site_response,dm_decision\r\n{qid},,DELETE\r\nQ999-NOTAQUERY,checked,\r\n"
    (folder / "zz-hostile.csv").write_bytes(text.encode("utf-8"))
    (folder / "zz-broken.xlsx").write_bytes(b"PK\x03\x04 cut short")


def record_failed_ae_check(out: Path, instance: dg.DagsterInstance) -> None:
    """Materialize sdtm/ae once more with one grade off its codelist, so the UI has a failed schema
    check to show (by subject, AESEQ, raw file and row). Nothing is written: the check fails."""
    import pandas as pd

    from pipeline.dataset_assets import dataset_asset
    from pipeline.resources import StudyPaths
    from pipeline.sdtm.common import DomainResult
    from pipeline.specs.datasets import load_dataset_spec

    data = pd.read_parquet(out / "sdtm" / "ae.parquet")
    lineage = pd.read_parquet(out / "sdtm" / "lineage" / "ae.parquet")
    data.loc[0, "AETOXGR"] = "6"
    bad = DomainResult("AE", data, lineage, pd.DataFrame())
    asset = dataset_asset(load_dataset_spec("sdtm", "ae"), {}, lambda: bad, lambda r: r.data, lambda r, p: None, lambda r: {})
    dg.materialize([asset], instance=instance, resources={"paths": StudyPaths(out_dir=str(out / "unused"))}, raise_on_error=False)


@pytest.fixture(scope="module")
def webserver(study):
    """``dagster-webserver -w workspace.yaml`` on a free port; yields its base URL once GraphQL answers."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(study["home"]),
        "PIPELINE_RAW_DIR": str(study["raw"]),
        "PIPELINE_OUT_DIR": str(study["out"]),
        "PIPELINE_WORK_DIR": str(study["work"]),
        "PIPELINE_HISTORY": str(study["history"]),
        "PIPELINE_RESPONSES_DIR": str(study["responses"]),
    }
    log_path = study["home"] / "webserver.log"
    exe = Path(sys.executable).parent / "dagster-webserver"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(exe), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the code server it spawns stops with it
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dagster-webserver exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                if _graphql(url, "{ assetNodes { id } }")["assetNodes"]:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError, AssertionError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no GraphQL answer within {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def graph(webserver) -> list[dict]:
    return _graphql(webserver, ASSET_GRAPH_QUERY)["assetNodes"]


def _evaluated_checks(nodes: list[dict]) -> list[tuple[str, str, bool]]:
    """(asset path, check name, passed) for every check with an evaluation of the latest materialization."""
    out = []
    for n in nodes:
        for c in (n.get("assetChecksOrError") or {}).get("checks", []):
            ex = c.get("executionForLatestMaterialization") or {}
            if ex.get("evaluation"):
                out.append(("/".join(n["assetKey"]["path"]), c["name"], ex["evaluation"]["success"]))
    return out


def test_graphql_layer_lineage(graph):
    group_of = {tuple(n["assetKey"]["path"]): n["groupName"] for n in graph}
    groups = set(group_of.values())
    edges = {(group_of.get(tuple(d["path"])), group_of[tuple(n["assetKey"]["path"])]) for n in graph for d in n["dependencyKeys"]}
    assert {"raw", "sdtm"} <= groups, groups
    assert ("raw", "sdtm") in edges, edges
    # Later layers are asserted once they exist, each fed by the layer before it.
    if "adam" in groups:
        assert ("sdtm", "adam") in edges, edges
        assert ("raw", "adam") not in edges, "ADaM must derive from SDTM, not from raw exports"
    if "analysis" in groups:
        assert ("adam", "analysis") in edges, edges
    if "ops" in groups:
        assert ("raw", "ops") in edges, edges
    # DM, the subject-level domain, is read from the raw forms (trial-design domains such as
    # TA and TS come from specs/trial and may have no upstream asset).
    dm = next((n for n in graph if n["assetKey"]["path"] == ["sdtm", "dm"]), None)
    if dm is not None:
        assert any(group_of.get(tuple(d["path"])) == "raw" for d in dm["dependencyKeys"])


def test_graphql_checks_evaluated(graph):
    evaluated = _evaluated_checks(graph)
    assert evaluated, "no asset check has an evaluation for the latest materialization"
    assert any(a.startswith("raw/") for a, _, _ in evaluated)


def _save(png: bytes, name: str, tmp: Path) -> None:
    from pipeline import io

    (tmp / name).write_bytes(png)
    target = IMG_DIR / name
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" or not target.exists():
        io.write_bytes(target, png)
        target.chmod(0o644)  # a docs image, readable like any checked-out file


def test_ui_pages(webserver, graph, tmp_path):
    evaluated = _evaluated_checks(graph)
    assert evaluated
    # Prefer DM's spec check (the one the README shows), then any SDTM check, then any other.
    asset, check, passed = sorted(evaluated, key=lambda e: (e[0] != "sdtm/dm", not e[0].startswith("sdtm/"), e[0], e[1]))[0]

    with _page(1440, 900, 30_000) as page:
        page.goto(f"{webserver}/asset-groups", wait_until="networkidle")
        page.get_by_text("Global asset lineage").first.wait_for()
        for group in ("raw", "sdtm"):
            page.get_by_text(group, exact=True).first.wait_for(state="visible")
        page.wait_for_timeout(1000)  # let the graph finish its layout animation
        _save(page.screenshot(), "ui-asset-groups.png", tmp_path)

        page.goto(f"{webserver}/assets/{asset}?view=checks", wait_until="networkidle")
        page.get_by_text(check, exact=True).first.wait_for(state="visible")
        page.get_by_text("Passed" if passed else "Failed", exact=True).first.wait_for(state="visible")
        page.wait_for_timeout(500)
        _save(page.screenshot(), "ui-asset-checks.png", tmp_path)
    assert (tmp_path / "ui-asset-groups.png").stat().st_size > 10_000


def test_ui_endpoints_and_failed_check(webserver, study, tmp_path):
    """The endpoints page with its table (display values) and a KM figure; a failed check by subject and raw row."""
    import pandas as pd

    shown = pd.read_csv(study["out"] / "analysis" / "endpoints.csv", dtype=str, keep_default_na=False)
    dose = shown.loc[shown["PARAMCD"].eq("TDOSE") & shown["STATISTIC"].eq("Median"), "estimate"].iloc[0]
    with _page() as page:
        page.goto(f"{webserver}/assets/analysis/endpoints?view=events", wait_until="networkidle")
        page.get_by_text("N analysed", exact=True).first.wait_for(state="visible")
        page.get_by_text(dose, exact=True).first.wait_for(state="visible")  # e.g. 110,800, not 111000
        page.wait_for_timeout(500)
        _save(page.screenshot(), "ui-endpoints.png", tmp_path)
        # A figure is markdown longer than the UI shows inline: one click opens it.
        page.locator("tr", has_text="Kaplan-Meier RFS").get_by_text("[Show Markdown]").first.click()
        page.locator("[role=dialog] img, .bp5-dialog img, .bp4-dialog img").first.wait_for(state="visible")
        page.wait_for_timeout(500)
        _save(page.screenshot(), "ui-endpoints-km.png", tmp_path)

        page.goto(f"{webserver}/assets/sdtm/ae?view=checks", wait_until="networkidle")
        page.get_by_text("schema", exact=True).first.click()
        page.get_by_text("raw row", exact=True).first.wait_for(state="visible")
        page.get_by_text("must be a term of codelist AETOXGR: 1, 2, 3, 4, 5").first.wait_for(state="visible")
        page.wait_for_timeout(500)
        _save(page.screenshot(), "ui-failed-check.png", tmp_path)
    for name in ("ui-endpoints.png", "ui-endpoints-km.png", "ui-failed-check.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name


@contextlib.contextmanager
def _page(width: int = 1600, height: int = 1000, timeout_ms: int = 60_000):
    """A headless Chromium page of that size and default timeout, closed afterwards; skips the test
    without /usr/bin/chromium or the playwright package."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run .ci/install-browser.sh (apt-get install chromium) to enable the browser test")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')"
    )
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


def test_ui_transfers(webserver, study, tmp_path):
    """The transfer partitions of transfers/delta, one per stored transfer."""
    from pipeline.transfers.snapshot import TransferStore

    transfers = TransferStore(study["history"]).transfers()
    assert len(transfers) == TRANSFERS
    with _page() as page:
        page.goto(f"{webserver}/assets/transfers/delta?view=partitions", wait_until="networkidle")
        page.get_by_text(transfers[-1]).first.wait_for(state="visible")
        page.wait_for_timeout(1000)
        _save(page.screenshot(), "ui-transfers.png", tmp_path)
    assert (tmp_path / "ui-transfers.png").stat().st_size > 10_000


METRICS_QUERY = """
{
  assetOrError(assetKey: {path: ["transfers", "site_metrics"]}) {
    ... on Asset {
      assetMaterializations(limit: 20) {
        partition
        metadataEntries {
          label
          __typename
          ... on IntMetadataEntry { intValue }
          ... on FloatMetadataEntry { floatValue }
        }
      }
    }
  }
}
"""


def test_graphql_site_metrics_are_numbers_per_transfer(webserver, study):
    """What the UI plots (Int and Float metadata entries, one point per partition): the register's status
    counts of each transfer are the generator's script's, never computed by the pipeline."""
    from collections import Counter

    from pipeline.transfers.snapshot import TransferStore

    mats = _graphql(webserver, METRICS_QUERY)["assetOrError"]["assetMaterializations"]
    by_partition = {m["partition"]: {e["label"]: e for e in m["metadataEntries"]} for m in mats}
    transfers = TransferStore(study["history"]).transfers()  # sorted by received date, as the story
    assert sorted(by_partition) == transfers
    for tid, t in zip(transfers, study["story"], strict=True):
        entries = by_partition[tid]
        expected = Counter(r["status"] for r in t["register"])
        for status in ("OPEN", "ANSWERED", "CLOSED", "REOPENED", "CANCELLED"):
            e = entries[status.lower()]
            assert (e["__typename"], e["intValue"]) == ("IntMetadataEntry", expected[status]), (tid, status)
        assert entries["aes_per_subject_month"]["__typename"] == "FloatMetadataEntry"
        assert entries["site 101 open"]["__typename"] == "IntMetadataEntry"
    # The script: transfer 2 answers one query and cancels one, transfer 3 reopens one.
    counts = [(by_partition[t]["answered"]["intValue"], by_partition[t]["reopened"]["intValue"]) for t in transfers]
    assert counts == [(0, 0), (1, 0), (1, 1)]


def test_ui_transfer_metrics_plot(webserver, study, tmp_path):
    """The asset page of transfers/site_metrics, Metadata section, Plots: one chart per numeric entry with
    the transfers (partitions) on the x axis."""
    with _page() as page:
        page.goto(f"{webserver}/assets/transfers/site_metrics", wait_until="networkidle")
        page.get_by_text("Metadata", exact=True).first.wait_for(state="visible")
        page.get_by_role("button", name="Plots").first.click()
        # By partition (the default for a partitioned asset), not by materialization time.
        page.get_by_text("When graphing values by partition").first.wait_for(state="visible")
        page.get_by_role("button", name="Partitions").first.wait_for(state="visible")
        for label in ("answered", "aes_per_subject_month", "open"):
            page.get_by_text(label, exact=True).first.wait_for(state="visible")
        assert page.locator("canvas").count() >= 10  # one chart per metric, sites included
        page.get_by_text("answered", exact=True).first.scroll_into_view_if_needed()
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(1500)  # the charts' drawing animation
        _save(page.screenshot(), "ui-transfer-metrics.png", tmp_path)
    assert (tmp_path / "ui-transfer-metrics.png").stat().st_size > 10_000


def test_run_summary_names_the_returned_listing_problems(study):
    """The last transfer's run: the hostile returned listings are a WARN check, each problem by file and row."""
    from pipeline.report import problems

    (p,) = [p for p in problems(study["reports"][-1].events) if "returned_listings_read" in p.where]
    assert p.what.startswith("the check failed: 3 problem(s) in the returned listings of ")
    assert p.details[0].startswith("zz-broken.xlsx: not a readable Excel workbook")
    assert p.details[1] == "zz-hostile.csv row 2: dm_decision 'DELETE' is not CANCEL or CLOSE; the decision is ignored"
    assert p.details[2].startswith("zz-hostile.csv row 3: query_id 'Q999-NOTAQUERY' is not a query of this study's register")
    # The transfer's register read the same folder (stored with its snapshot) and lists the same problems.
    reg = [
        ev.event_specific_data.materialization
        for ev in study["reports"][-1].events
        if ev.is_step_materialization and ev.event_specific_data.materialization.asset_key.path == ["transfers", "register"]
    ]
    assert reg[0].metadata["response problems"].value == 3


def test_ui_returned_listing_problems(webserver, study, tmp_path):
    """The failed check of transfers/returned_listings in the UI: the file, row, field and value of each problem."""
    with _page() as page:
        page.goto(f"{webserver}/assets/transfers/returned_listings?view=checks", wait_until="networkidle")
        page.get_by_text("returned_listings_read", exact=True).first.click()
        page.get_by_text("Failed", exact=True).first.wait_for(state="visible")
        page.get_by_text("Q999-NOTAQUERY", exact=True).first.wait_for(state="visible")
        page.get_by_text("zz-hostile.csv row 2: dm_decision 'DELETE' is not CANCEL or CLOSE", exact=False).first.wait_for(
            state="visible"
        )
        page.wait_for_timeout(500)
        _save(page.screenshot(), "ui-returned-listings.png", tmp_path)
    assert (tmp_path / "ui-returned-listings.png").stat().st_size > 10_000
