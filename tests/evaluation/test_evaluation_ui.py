"""The MLflow UI, where researchers look: ``aesweep ui`` after a real sweep, driven in headless
Chromium (Debian's ``chromium`` through Playwright, no browser download). It lists the sweep's
parent run with its child runs, and shows a child's sample grid and the parent's plot."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep.sweeps.load import load_plan
from aesweep.sweeps.prepare import trial_name
from aesweep.tracking.schema import EXPERIMENT_KIND, TAG_EXPERIMENT_KIND, TAG_KIND, TAG_TRIAL_ID
from tests.conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 240  # MLflow's server takes long to import on a busy 2-core machine
UI_TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no browser at {CHROMIUM}: install Debian's 'chromium' "
        "(`make browser` does, as root with apt-get; `make test` calls it)",
    ),
]


def _listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses (hex, as /proc/net/tcp* writes them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(address)
    return found


@contextlib.contextmanager
def mlflow_ui(spec_path: Path, port: int, log: Path):  # type: ignore[no-untyped-def]
    """``aesweep ui SPEC --port PORT`` in its own process group, stopped (group) at exit;
    yields the runs page URL it printed."""
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    cmd = [sys.executable, "-m", "aesweep.sweeps.cli", "ui", str(spec_path)]
    cmd += ["--port", str(port), "--workers", "1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"aesweep ui exited: {log.read_text()[-2000:]}"
            health = f"http://127.0.0.1:{port}/health"
            with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=5) as r:
                if r.status == 200:
                    break
            assert time.monotonic() < deadline, f"no UI after {START_TIMEOUT_S}s: {log.read_text()}"
            time.sleep(1)
        printed = re.search(r"^runs of \S+: (http://\S+)", log.read_text(), re.MULTILINE)
        assert printed, f"aesweep ui printed no runs page URL: {log.read_text()}"
        yield printed.group(1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):  # children left after the leader ended
            os.killpg(proc.pid, signal.SIGKILL)


def _png_size(store, run_id: str, path: str, tmp: Path) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    from PIL import Image

    local = MlflowClient(tracking_uri=store.uri).download_artifacts(run_id, path, str(tmp))
    return Image.open(io.BytesIO(Path(local).read_bytes())).size


def _shows_image(page, folder: str, name: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """Open ``folder/name`` in the Artifacts tab; an <img> of the PNG's size must load."""
    page.get_by_text(folder, exact=True).first.click(timeout=UI_TIMEOUT_MS)
    page.get_by_text(name, exact=True).first.click(timeout=UI_TIMEOUT_MS)
    page.wait_for_function(
        "([w, h]) => [...document.images].some("
        "i => i.complete && i.naturalWidth === w && i.naturalHeight === h)",
        arg=list(size),
        timeout=UI_TIMEOUT_MS,
    )


def test_ui_lists_parent_children_and_shows_images(evaluated_sweep, tmp_path) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the Python package 'playwright' (test extras)"
    )
    store = evaluated_sweep.store
    _, trials = load_plan(evaluated_sweep.spec_path)
    names = {t.trial_id: trial_name(t) for t in trials}
    runs = MlflowClient(tracking_uri=store.uri).search_runs([store.experiment_id], max_results=100)
    parent = min(
        (r for r in runs if r.data.tags[TAG_KIND] == "sweep"), key=lambda r: r.info.start_time
    )
    children = [r for r in runs if r.data.tags[TAG_KIND] == "trial"]
    child = next(r for r in children if r.data.tags["aesweep.outcome"] == "finished")
    sample = _png_size(store, child.info.run_id, "samples/epoch_0002.png", tmp_path)
    plot = _png_size(store, parent.info.run_id, "plots/metrics_vs_lr.png", tmp_path)
    exp = store.experiment_id

    tags = MlflowClient(tracking_uri=store.uri).get_experiment(exp).tags
    assert tags[TAG_EXPERIMENT_KIND] == EXPERIMENT_KIND  # a model-training experiment

    port = free_port()
    with mlflow_ui(evaluated_sweep.spec_path, port, tmp_path / "ui.log") as runs_url:
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only
        base = f"http://127.0.0.1:{port}"
        assert runs_url.startswith(f"{base}/#/experiments/{exp}/runs")
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_default_timeout(UI_TIMEOUT_MS)
                # The URL that `aesweep ui` printed lands on the experiment's runs table (not
                # MLflow 3's GenAI overview): the parent, expanded to show its children.
                page.goto(runs_url)
                # The session's sweep may have been submitted twice: this run id's row (ag-grid
                # splits a row into pinned and scrolled parts; the name is in one of them).
                row = page.locator(
                    f'[role=row][row-id="{parent.info.run_id}"]', has_text=parent.info.run_name
                )
                row.wait_for()
                row.locator("button[data-component-id*=runnamecellrenderer]").click()
                for c in children:
                    page.get_by_text(names[c.data.tags[TAG_TRIAL_ID]], exact=True).wait_for()
                page.screenshot(path=str(tmp_path / "runs.png"))
                # A child run's Artifacts tab: its sample grid of the last epoch.
                page.goto(f"{base}/#/experiments/{exp}/runs/{child.info.run_id}/artifacts")
                _shows_image(page, "samples", "epoch_0002.png", sample)
                page.screenshot(path=str(tmp_path / "samples.png"))
                # The parent run's Artifacts tab: the sweep's plots.
                page.goto(f"{base}/#/experiments/{exp}/runs/{parent.info.run_id}/artifacts")
                _shows_image(page, "plots", "metrics_vs_lr.png", plot)
                page.screenshot(path=str(tmp_path / "plots.png"))
            finally:
                browser.close()
