"""Cluster paths on one machine (127.0.0.1 only): trials logging to a real MLflow tracking
server over HTTP, a sweep submitted to a real Ray head started with ``ray start --head``, and a
real two-node cluster (a head with its Ray client server and a second node joined with
``ray start --address``) that a sweep reaches through ``ray://``."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep.sweeps.cli import main
from aesweep.tracking.store import SweepStore
from tests.conftest import free_port, tiny_spec

BIN = Path(sys.executable).parent


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
        # The SQLite store and the storage are on this disk: the one node was checked to see them.
        assert "every node (1) sees tracking.uri and tracking.storage" in done.stdout
        records = SweepStore(mlflow_uri, "tiny").trial_records()
        assert len(records) == 2 and all(r.status == "FINISHED" for r in records)
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(60)
        shutil.rmtree(tmp_path / "ray", ignore_errors=True)


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextlib.contextmanager
def ray_nodes(*nodes: list[str], prefixes: dict[int, list[str]] | None = None):
    """``ray start --block`` processes (the first a head), each in its own process group and
    stopped by it (never ``ray stop``, which would stop every Ray on the machine), each node
    with 1 CPU and the extra arguments given; ``prefixes``: node index -> a command that
    runs that node's ``ray start`` (e.g. in a mount namespace of its own). Yields the
    processes, in the order given (a node's whole process group is ``os.killpg(p.pid)``)."""
    procs = []
    try:
        for k, extra in enumerate(nodes):
            cmd = [
                *(prefixes or {}).get(k, []), str(BIN / "ray"), "start", "--block",
                "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats",
                *extra,
            ]  # fmt: skip
            procs.append(
                subprocess.Popen(
                    cmd,
                    start_new_session=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            port = next((extra[i + 1] for i, a in enumerate(extra) if a == "--port"), None)
            if port:
                wait_port(int(port), 90)
        yield procs
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def alive_nodes(gcs: str, want: int, timeout: float = 90) -> dict[str, dict[str, float]]:
    """Node id -> resources of the cluster's alive nodes, once ``want`` of them are up (read
    in a process of its own: this one may hold the session's Ray)."""
    code = (
        "import json, ray\n"
        f"ray.init(address={gcs!r}, logging_level='ERROR')\n"
        "print(json.dumps({n['NodeID']: n['Resources'] for n in ray.nodes() if n['Alive']}))\n"
    )
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        nodes = json.loads(done.stdout.strip().splitlines()[-1])
        if len(nodes) >= want or time.monotonic() > deadline:
            return nodes
        time.sleep(2)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_node_cluster_through_ray_client_logs_to_one_mlflow_server(
    write_spec, tmp_path, mlflow_server
):
    """A head (resource ``head_node``) with a Ray client server, a second node (resource
    ``second_node``) joined with ``ray start --address``; a 4-trial sweep submitted through
    ray:// runs trials on both nodes, each tagging the node that ran it, all in one MLflow
    server; storage is a path both nodes see. A trial larger than any node is refused first."""
    gcs_port, client_port = free_port(), free_port()
    temp = tempfile.mkdtemp(prefix="aesweep-ray-", dir="/tmp")  # short: Ray's socket paths
    head = [
        "--head", "--port", str(gcs_port), "--ray-client-server-port", str(client_port),
        "--include-dashboard", "false", "--temp-dir", temp, "--resources", '{"head_node": 1}',
    ]  # fmt: skip
    second = ["--address", f"127.0.0.1:{gcs_port}", "--resources", '{"second_node": 1}']
    storage = tmp_path / "shared-storage"
    # Unpacked: four trials to spread over the two nodes. Each trial lasts longer than a
    # worker takes to start on a loaded machine: Tune reuses a free actor for a pending trial,
    # so a head whose trials ended before the second node's worker came up would take them all.
    spec = tiny_spec(
        mlflow_server,
        storage,
        data={"dataset": "digits", "train_size": 1024, "test_size": 128},
        epochs=2,
        optimizer={"name": "adam", "lr": [1e-3, 5e-4, 2e-4, 1e-4]},
        compute={"pack": "off"},
    )
    path = write_spec(spec)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    address = f"ray://127.0.0.1:{client_port}"
    try:
        with ray_nodes(head, second):
            wait_port(client_port, 90)
            nodes = alive_nodes(f"127.0.0.1:{gcs_port}", want=2)
            assert len(nodes) == 2, nodes
            where = {nid: "head" if "head_node" in res else "second" for nid, res in nodes.items()}
            assert sorted(where.values()) == ["head", "second"]

            # Larger than any node (1 CPU each): one line, exit 2, nothing in MLflow.
            too_big = [
                str(BIN / "aesweep"), "run", str(path), "--address", address,
                "--set", "resources.cpus_per_trial=2",
            ]  # fmt: skip
            done = subprocess.run(too_big, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
            # One line of ours (Ray's client may log lines of its own on stderr), no traceback.
            err = done.stderr.strip().splitlines()
            ours = [ln for ln in err if "resources.cpus_per_trial" in ln]
            assert len(ours) == 1, done.stderr[-3000:]
            (line,) = ours
            assert "Traceback" not in done.stderr, done.stderr[-2000:]
            assert "resources.cpus_per_trial: 2 per trial" in line and "has 1 CPUs" in line
            assert SweepStore(mlflow_server, "tiny").experiment_id is None

            cmd = [str(BIN / "aesweep"), "run", str(path), "--address", address]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            assert "2 CPUs, 0 GPUs, 2 nodes" in done.stdout, done.stdout[:1000]
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    records = SweepStore(mlflow_server, "tiny").trial_records()
    assert len(records) == 4 and all(r.status == "FINISHED" for r in records), records
    ran_on = [where[r.tags["aesweep.node"]] for r in records]
    assert set(ran_on) == {"head", "second"}, ran_on
    assert all(math.isfinite(r.metrics["cost"]) for r in records)
    assert any(storage.rglob("checkpoint_*")), "no checkpoint in the shared storage"
