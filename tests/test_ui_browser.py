"""The Dagster UI on a freshly built small study: GraphQL lineage and checks, then Chromium pages.

One module-scoped build: a 24-subject synthetic export is materialized in-process into a
temporary DAGSTER_HOME, then ``dagster-webserver -w workspace.yaml`` serves the same
definitions (PIPELINE_RAW_DIR / PIPELINE_OUT_DIR / PIPELINE_WORK_DIR point it at the same
folders). The GraphQL test needs no browser; the page test needs /usr/bin/chromium
(``.ci/install-browser.sh``) and the playwright package, and is skipped without them.

Screenshots go to the test's temporary folder, and to docs/img/ when a picture is missing
there or UPDATE_SCREENSHOTS=1 (so an ordinary test run leaves the working tree alone).
"""

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

from pipeline.transfers import prepare_run

# One worker under pytest-xdist: the study and the webserver (a free port) are started once.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("ui_browser")]

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
def study(tmp_path_factory) -> dict[str, Path]:
    """A small synthetic export built in-process into a temporary instance."""
    from pipeline.definitions import build_definitions
    from pipeline.synth import generate_study

    root = tmp_path_factory.mktemp("ui_study")
    dirs = {name: root / name for name in ("raw", "truth", "out", "work", "home")}
    dirs["home"].mkdir()
    (dirs["home"] / "dagster.yaml").write_text(INSTANCE_YAML)
    generate_study(n_subjects=24, seed=20160901, out_dir=dirs["raw"], truth_dir=dirs["truth"])
    dirs["history"] = root / "history"
    defs = build_definitions(
        raw_dir=str(dirs["raw"]), out_dir=str(dirs["out"]), work_dir=str(dirs["work"]), history_dir=str(dirs["history"])
    )
    # The webserver reads this instance's storage, so the UI shows this run's results.
    with dg.DagsterInstance.from_config(str(dirs["home"])) as instance:
        # The drop runs as its transfer partition (pipeline/transfers).
        tags = prepare_run(instance, dirs["raw"], dirs["history"], dt.date(2026, 1, 5))
        # Other layers may still be failing while they are being built: what did run is enough here.
        defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance, raise_on_error=False, tags=tags)
        record_later_transfers(dirs, instance)
        record_failed_ae_check(dirs["out"], instance)
    return dirs


def record_later_transfers(dirs: dict[str, Path], instance: dg.DagsterInstance) -> None:
    """Two more transfers, each a copy of the drop with records deleted, so the UI has transfer partitions
    and metrics to plot. Only the transfer assets run; the rest of the study is the first build's."""
    import shutil

    from pipeline.definitions import build_definitions
    from pipeline.transfers.assets import transfer_assets

    previous = dirs["raw"]
    for n, (day, files) in enumerate(
        ((dt.date(2026, 2, 5), ["101/ae.csv", "104/ae.csv"]), (dt.date(2026, 3, 5), ["101/cm.csv"])), 2
    ):
        raw = dirs["raw"].parent / f"raw_{n}"
        shutil.copytree(previous, raw)
        for rel in files:  # the site's last record is gone
            lines = (raw / rel).read_bytes().rstrip(b"\r\n").split(b"\n")
            (raw / rel).write_bytes(b"\n".join(lines[:-1]) + b"\n")
        defs = build_definitions(
            raw_dir=str(raw), out_dir=str(dirs["out"]), work_dir=str(dirs["work"]), history_dir=str(dirs["history"]), staged=False
        )
        tags = prepare_run(instance, raw, dirs["history"], day)
        keys = [k for a in transfer_assets for k in a.keys]
        defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance, tags=tags, asset_selection=keys)
        previous = raw


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
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run .ci/install-browser.sh (apt-get install chromium) to enable the browser test")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')"
    )

    evaluated = _evaluated_checks(graph)
    assert evaluated
    # Prefer DM's spec check (the one the README shows), then any SDTM check, then any other.
    asset, check, passed = sorted(evaluated, key=lambda e: (e[0] != "sdtm/dm", not e[0].startswith("sdtm/"), e[0], e[1]))[0]

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(30_000)

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
        finally:
            browser.close()
    assert (tmp_path / "ui-asset-groups.png").stat().st_size > 10_000


def test_ui_endpoints_and_failed_check(webserver, study, tmp_path):
    """The endpoints page with its table (display values) and a KM figure; a failed check by subject and raw row."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run .ci/install-browser.sh (apt-get install chromium) to enable the browser test")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')"
    )
    import pandas as pd

    shown = pd.read_csv(study["out"] / "analysis" / "endpoints.csv", dtype=str, keep_default_na=False)
    dose = shown.loc[shown["PARAMCD"].eq("TDOSE") & shown["STATISTIC"].eq("Median"), "estimate"].iloc[0]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(60_000)

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
        finally:
            browser.close()
    for name in ("ui-endpoints.png", "ui-endpoints-km.png", "ui-failed-check.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name


def test_ui_transfers(webserver, study, tmp_path):
    """The transfer partitions of transfers/delta, one per stored transfer."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run .ci/install-browser.sh (apt-get install chromium) to enable the browser test")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')"
    )
    from pipeline.transfers.snapshot import TransferStore

    transfers = TransferStore(study["history"]).transfers()
    assert len(transfers) == 3
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"{webserver}/assets/transfers/delta?view=partitions", wait_until="networkidle")
            page.get_by_text(transfers[-1]).first.wait_for(state="visible")
            page.wait_for_timeout(1000)
            _save(page.screenshot(), "ui-transfers.png", tmp_path)

        finally:
            browser.close()
    # (The metrics plot page of transfers/site_metrics is not shot yet: its tab was not found in 1.13.27.)
    assert (tmp_path / "ui-transfers.png").stat().st_size > 10_000
