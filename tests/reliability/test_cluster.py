"""Cluster paths on one machine: trials logging to a real MLflow tracking server over HTTP,
and a sweep submitted to a real Ray head started with ``ray start --head`` (127.0.0.1 only).
A multi-node cluster cannot exist here; the head is the same code path a cluster uses."""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep.sweeps.cli import main
from aesweep.tracking.store import SweepStore
from tests.conftest import tiny_spec

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {timeout} s")


@pytest.fixture
def mlflow_server(tmp_path: Path):
    port = free_port()
    cmd = [
        str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
        "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", 90)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


@pytest.mark.ray
def test_sweep_through_ray_logs_to_an_mlflow_server(
    write_spec, tmp_path, mlflow_server, ray_session
):
    path = write_spec(tiny_spec(mlflow_server, tmp_path / "ray"))
    assert main(["run", str(path)]) == 0
    store = SweepStore(mlflow_server, "tiny")
    records = store.trial_records()
    assert len(records) == 2
    for rec in records:
        assert rec.status == "FINISHED"
        assert all(math.isfinite(rec.metrics[k]) for k in ("rec_error", "cw_distance", "cost"))
    parent = MlflowClient(tracking_uri=store.uri).search_runs(
        [store.experiment_id], filter_string="tags.`aesweep.kind` = 'sweep'"
    )
    assert len(parent) == 1
    local = MlflowClient(tracking_uri=store.uri).download_artifacts(
        parent[0].info.run_id, "spec.yaml", str(tmp_path)
    )
    assert "name: tiny" in Path(local).read_text()


@pytest.mark.ray
def test_sweep_submitted_to_a_ray_head_with_address(write_spec, mlflow_uri, tmp_path):
    port = free_port()
    ray_bin = str(BIN / "ray")
    head = subprocess.Popen(
        [
            ray_bin, "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
            "--port", str(port), "--num-cpus", "1", "--include-dashboard", "false",
            "--disable-usage-stats",
        ],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        path = write_spec(tiny_spec(mlflow_uri, tmp_path / "ray"))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        cmd = [str(BIN / "aesweep"), "run", str(path), "--address", f"127.0.0.1:{port}"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        joined = [ln for ln in done.stdout.splitlines() if ln.startswith("joined the Ray cluster")]
        assert joined and f":{port}: 1 CPUs" in joined[0], done.stdout[:500]  # not a new Ray
        records = SweepStore(mlflow_uri, "tiny").trial_records()
        assert len(records) == 2 and all(r.status == "FINISHED" for r in records)
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(60)
        shutil.rmtree(tmp_path / "ray", ignore_errors=True)
