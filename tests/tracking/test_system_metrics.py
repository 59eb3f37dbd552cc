"""MLflow system metrics in every trial's run: the node's CPU and memory over time, sampled
by MLflow's own monitor while the trial runs, read back from a real store after a small
inline sweep; off with ``tracking.system_metrics: false``; never part of a trial's id."""

from __future__ import annotations

import socket

import psutil
import pytest
import torch
from mlflow.tracking import MlflowClient

from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan
from aesweep.tracking.schema import TAG_SYSTEM_METRICS_INTERVAL as TAG_INTERVAL
from aesweep.tracking.schema import TAG_SYSTEM_METRICS_NODE as TAG_NODE
from aesweep.tracking.store import SweepStore, TrialRun
from aesweep.tracking.system_metrics import system_metrics
from tests.conftest import tiny_spec

torch.set_num_threads(1)

CPU = "system/cpu_utilization_percentage"
MEMORY_PCT = "system/system_memory_usage_percentage"
MEMORY_MB = "system/system_memory_usage_megabytes"


def _trial_runs(uri: str, experiment: str) -> list:
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], "tags.`aesweep.kind` = 'trial'")


@pytest.mark.slow
def test_every_trial_run_carries_cpu_and_memory_over_time(write_spec, mlflow_uri, tmp_path):
    spec = tiny_spec(mlflow_uri, tmp_path / "ray", epochs=2)
    spec["tracking"]["system_metrics_interval"] = 0.2
    assert main(["run", str(write_spec(spec)), "--inline"]) == 0
    client = MlflowClient(tracking_uri=mlflow_uri)
    runs = _trial_runs(mlflow_uri, "tiny")
    assert len(runs) == 2
    total_mb = psutil.virtual_memory().total / 1e6
    for run in runs:
        assert run.data.tags[TAG_NODE] == socket.gethostname()
        assert run.data.tags[TAG_INTERVAL] == "0.2"
        cpu = client.get_metric_history(run.info.run_id, CPU)
        memory = client.get_metric_history(run.info.run_id, MEMORY_PCT)
        megabytes = client.get_metric_history(run.info.run_id, MEMORY_MB)
        assert len(cpu) >= 2 and len(memory) == len(cpu) == len(megabytes)  # a series
        assert sorted(m.step for m in cpu) == list(range(len(cpu)))
        assert all(0.0 <= m.value <= 100.0 for m in cpu)
        assert any(m.value > 0.0 for m in cpu)  # a trial was training: the node was busy
        assert all(0.0 < m.value < 100.0 for m in memory)
        assert all(50.0 < m.value < total_mb for m in megabytes)
        # Sampled while the trial ran: from its start to its end (the last one at its end).
        info = run.info
        stamps = [m.timestamp for m in cpu]
        assert info.start_time - 1000 <= min(stamps) and max(stamps) <= info.end_time + 5000


@pytest.mark.slow
def test_off_with_tracking_system_metrics_false(write_spec, mlflow_uri, tmp_path) -> None:
    spec = tiny_spec(mlflow_uri, tmp_path / "ray", optimizer={"name": "adam", "lr": 0.001})
    spec["tracking"]["system_metrics"] = False
    assert main(["run", str(write_spec(spec)), "--inline"]) == 0
    (run,) = _trial_runs(mlflow_uri, "tiny")
    assert run.data.tags["aesweep.outcome"] == "finished"
    assert not [k for k in run.data.metrics if k.startswith("system/")]
    assert TAG_NODE not in run.data.tags


def test_tracking_fields_never_change_trial_ids(write_spec, mlflow_uri, tmp_path) -> None:
    spec = tiny_spec(mlflow_uri, tmp_path / "ray")
    _, on = load_plan(write_spec(spec, "on.yaml"))
    spec["tracking"].update(system_metrics=False, system_metrics_interval=3.0)
    loaded, off = load_plan(write_spec(spec, "off.yaml"))
    assert loaded.tracking.system_metrics_s is None
    assert [t.trial_id for t in on] == [t.trial_id for t in off]


def test_a_run_shorter_than_the_interval_still_gets_a_sample(mlflow_uri) -> None:
    """MLflow's monitor logs only after a whole interval; the last partial one is logged
    when the block ends, into each run given (a pack's members)."""
    store = SweepStore(mlflow_uri, "short")
    parent = store.open_parent("short", "h", "spec", "summary")
    ids = [store.create_trial_run(parent, f"t{i}", f"t{i}", {}, "g") for i in range(2)]
    for run_id in ids:
        TrialRun(store.uri, run_id).start()
    with system_metrics(store.uri, ids, 60.0):
        sum(i * i for i in range(200_000))
    client = MlflowClient(tracking_uri=store.uri)
    for run_id in ids:
        (sample,) = client.get_metric_history(run_id, CPU)
        assert 0.0 <= sample.value <= 100.0
        (memory,) = client.get_metric_history(run_id, MEMORY_PCT)
        assert 0.0 < memory.value < 100.0


@pytest.mark.parametrize("interval", [None, 0.0])
def test_no_interval_no_monitor(mlflow_uri, interval) -> None:
    store = SweepStore(mlflow_uri, "none")
    parent = store.open_parent("none", "h", "spec", "summary")
    run_id = store.create_trial_run(parent, "t", "t", {}, "g")
    TrialRun(store.uri, run_id).start()
    with system_metrics(store.uri, [run_id], interval):
        pass
    assert MlflowClient(tracking_uri=store.uri).get_run(run_id).data.metrics == {}
