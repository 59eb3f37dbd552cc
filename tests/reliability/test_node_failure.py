"""A worker node lost mid-trial: a real three-node Ray cluster on 127.0.0.1 (a head that runs
no trial and two one-CPU workers); every process of the node running the trial (``ray start``
and all it started: raylet, the trial's worker) is SIGKILLed after the trial checkpointed, and
the trial resumes on the other node from its last checkpoint, in the same MLflow run, every
epoch logged once; the sweep exits 0."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil
import pytest

from aesweep.tracking.store import SweepStore
from tests.conftest import at_epoch, free_port, tiny_spec
from tests.reliability.test_cluster import alive_nodes, ray_nodes

EPOCHS = 10


@pytest.mark.ray
@pytest.mark.kill
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_trial_on_a_lost_node_resumes_on_another_from_its_checkpoint(
    write_spec, tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # every node is on this machine: shared
    spec = tiny_spec(
        uri,
        tmp_path / "storage",
        data={"dataset": "digits", "train_size": 256, "test_size": 64},
        optimizer={"name": "adam", "lr": [0.001]},
        epochs=EPOCHS,
        evaluation={"every": 1, "latent_samples": 64, "images": False},
        checkpoint={"every": 1, "keep": 2},
        failure={"max_retries": 2},
    )
    spec["tracking"]["system_metrics"] = False
    path = write_spec(spec)
    store = SweepStore(uri, "tiny")
    store.ensure_experiment()
    port = free_port()
    temp = tempfile.mkdtemp(prefix="aesweep-ray-", dir="/tmp")  # short: Ray's socket paths
    head = ["--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", temp]
    head += ["--num-cpus", "0"]  # the trial runs on a worker node
    workers = [
        ["--address", f"127.0.0.1:{port}", "--resources", f'{{"worker_{k}": 1}}'] for k in "ab"
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "aesweep.sweeps.cli", "run", str(path)]
    cmd += ["--address", f"127.0.0.1:{port}"]
    try:
        with contextlib.ExitStack() as nodes_up:
            # One node after another, each joining once the last is up: raylets that start
            # at the same moment on one machine can race for the same ports.
            procs = []
            for k, node in enumerate([head, *workers]):
                procs += nodes_up.enter_context(ray_nodes(node))
                nodes = alive_nodes(f"127.0.0.1:{port}", want=k + 1, timeout=120)
                assert len(nodes) == k + 1, nodes
            proc_of = {
                nid: procs[1 if "worker_a" in res else 2]
                for nid, res in nodes.items()
                if "worker_a" in res or "worker_b" in res
            }

            def lose_node(rec: Any) -> dict[str, Any]:
                """SIGKILL every process of the trial's node: its ``ray start`` and all it
                started (raylet, workers: Ray puts workers in sessions of their own)."""
                node = rec.tags["aesweep.node"]
                top = psutil.Process(proc_of[node].pid)
                for p in [*top.children(recursive=True), top]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        p.send_signal(signal.SIGKILL)
                return {"node": node, "pid": int(rec.tags["aesweep.worker_pid"])}

            with at_epoch(store, 3, lose_node, timeout=400, poll=0.1) as lost:
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=500)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    assert lost, "the trial finished before its node could be lost: " + done.stderr[-2000:]
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    with pytest.raises(ProcessLookupError):  # the trial's worker died with its node
        os.kill(lost["pid"], 0)
    (rec,) = store.trial_records()  # one run: the retry logged into the same one
    assert rec.run_id == lost["record"].run_id
    assert rec.status == "FINISHED" and rec.outcome == "finished"
    assert rec.tags["aesweep.node"] in set(proc_of) - {lost["node"]}, "not on the other node"
    assert int(rec.tags["aesweep.worker_pid"]) != lost["pid"]
    assert 1 <= int(rec.tags["aesweep.resumed_from_epoch"]) <= lost["epoch"]
    for key in ("rec_error", "epoch"):
        steps = [step for step, _ in store.metric_history(rec.run_id, key)]
        assert sorted(steps) == list(range(1, EPOCHS + 1)), key
