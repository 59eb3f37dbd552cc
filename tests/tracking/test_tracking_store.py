"""SweepStore's operations against a real SQLite MLflow store, read back through MLflow's own
client: ending an interrupted trial's run, finding a sweep's newest parent run, logging a
folder of files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from aesweep.tracking.schema import TAG_OUTCOME
from aesweep.tracking.store import SweepStore, TrialRun


def _trial(store: SweepStore, trial_id: str = "t0") -> str:
    parent = store.open_parent("sweep", "hash", "name: sweep\n", "summary")
    return store.create_trial_run(parent, trial_id, trial_id, {"lr": 0.01}, "group")


def test_mark_killed_ends_a_running_and_a_scheduled_run(mlflow_uri: str) -> None:
    store = SweepStore(mlflow_uri, "exp")
    running, scheduled = _trial(store, "t0"), _trial(store, "t1")
    TrialRun(store.uri, running).start()
    client = MlflowClient(tracking_uri=store.uri)
    assert client.get_run(running).info.status == "RUNNING"
    assert client.get_run(scheduled).info.status == "SCHEDULED"
    for run_id in (running, scheduled):
        store.mark_killed(run_id)
        run = client.get_run(run_id)
        assert run.info.status == "KILLED"
        assert run.data.tags[TAG_OUTCOME] == "killed"
        assert run.info.end_time is not None
    records = store.latest_by_trial(["t0", "t1"])
    assert {r.outcome for r in records.values()} == {"killed"}
    assert not any(r.finished for r in records.values())


def test_mark_killed_gives_up_on_a_run_that_does_not_exist(mlflow_uri: str) -> None:
    store = SweepStore(mlflow_uri, "exp")
    store.ensure_experiment()
    with pytest.raises(MlflowException):
        store.mark_killed("0" * 32, attempts=2)


def test_latest_parent_run_is_the_newest_of_that_sweep(mlflow_uri: str) -> None:
    store = SweepStore(mlflow_uri, "exp")
    assert store.latest_parent_run("a") is None  # no experiment yet
    first = store.open_parent("a", "h1", "name: a\n", "first")
    time.sleep(0.01)  # start times are in milliseconds
    second = store.open_parent("a", "h2", "name: a\n", "second")
    time.sleep(0.01)
    other = store.open_parent("b", "h3", "name: b\n", "other sweep")
    time.sleep(0.01)
    store.create_trial_run(second, "t0", "t0", {}, "group")  # a child run is no parent
    assert first != second
    assert store.latest_parent_run("a") == second
    assert store.latest_parent_run("b") == other
    assert store.latest_parent_run("c") is None
    # Another SweepStore over the same experiment (a later `results --plots`) finds it too.
    assert SweepStore(mlflow_uri, "exp").latest_parent_run("a") == second
    assert SweepStore(mlflow_uri, "other-exp").latest_parent_run("a") is None


def test_log_artifacts_lands_every_file_under_the_path(mlflow_uri: str, tmp_path: Path) -> None:
    store = SweepStore(mlflow_uri, "exp")
    parent = store.open_parent("sweep", "hash", "name: sweep\n", "summary")
    folder = tmp_path / "out"
    folder.mkdir()
    files = {"a.png": b"\x89PNG first", "b.txt": b"second"}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    store.log_artifacts(parent, folder, artifact_path="plots")
    client = MlflowClient(tracking_uri=store.uri)
    listed = sorted(f.path for f in client.list_artifacts(parent, "plots"))
    assert listed == ["plots/a.png", "plots/b.txt"]
    for name, content in files.items():
        local = client.download_artifacts(parent, f"plots/{name}", str(tmp_path / "back"))
        assert Path(local).read_bytes() == content
    # The spec logged by open_parent is still there beside them.
    assert "spec.yaml" in {f.path for f in client.list_artifacts(parent)}
