"""One submission at a time per experiment (the lock in the tracking store), a killed driver's
records ended and taken over, and how a parent run ends (KILLED, FAILED, FINISHED)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep.sweeps.cli import EXIT_BUSY, main
from aesweep.tracking.locks import SubmissionBusy, SubmissionLock, lock_name
from aesweep.tracking.schema import TAG_ERROR, TAG_KIND
from aesweep.tracking.schema import TAG_LOCK_HEARTBEAT as TAG_HEARTBEAT
from aesweep.tracking.schema import TAG_LOCK_HOST as TAG_HOST
from aesweep.tracking.schema import TAG_LOCK_PID as TAG_PID
from aesweep.tracking.schema import TAG_LOCK_PID_START as TAG_PID_START
from aesweep.tracking.schema import TAG_LOCK_STARTED as TAG_STARTED
from aesweep.tracking.store import SweepStore, TrialRun
from tests.conftest import tiny_spec, wait_for

EPOCHS = 6


def _spec(uri: str, storage: Path) -> dict:
    return tiny_spec(
        uri,
        storage,
        data={"dataset": "digits", "train_size": 256, "test_size": 64},
        epochs=EPOCHS,
        evaluation={"every": 1, "latent_samples": 64},
        checkpoint={"every": 1, "keep": 2},
    )


def _start(path: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "aesweep.sweeps.cli", "run", str(path), "--inline"]
    return subprocess.Popen(
        cmd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _parents(uri: str) -> list:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("tiny")
    return client.search_runs([exp.experiment_id], filter_string=f"tags.{TAG_KIND} = 'sweep'")


def _epochs_logged_once(store: SweepStore) -> None:
    for rec in store.trial_records():
        steps = [s for s, _ in store.metric_history(rec.run_id, "rec_error")]
        assert sorted(steps) == sorted(set(steps)), f"an epoch logged twice in {rec.run_id}"


@pytest.mark.kill
def test_a_second_submission_is_refused_then_waits(write_spec, mlflow_uri, tmp_path, capsys):
    path = write_spec(_spec(mlflow_uri, tmp_path / "runs"))
    SweepStore(mlflow_uri, "tiny").ensure_experiment()  # the database exists before two open it
    proc = _start(path)
    try:
        lock = SubmissionLock(mlflow_uri, "tiny")
        wait_for(lambda: lock.holder() is not None and proc.poll() is None, 120, "the lock")
        holder = lock.holder()
        assert holder is not None and holder.pid == proc.pid
        # Its parent run comes a moment after the lock: counted before the second submission.
        wait_for(lambda: len(_parents(mlflow_uri)) == 1, 120, "the first submission's parent")

        assert main(["run", str(path), "--inline"]) == EXIT_BUSY
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert f"pid {proc.pid}" in err[0] and f"host {socket.gethostname()}" in err[0]
        assert proc.poll() is None, "the first submission ended before the refusal was checked"
        assert len(_parents(mlflow_uri)) == 1  # the refused one created no parent run

        # --wait: runs once the first is done, and finds every trial finished.
        assert main(["run", str(path), "--inline", "--wait"]) == 0
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    out = capsys.readouterr().out
    assert "2 already finished" in out
    store = SweepStore(mlflow_uri, "tiny")
    records = store.trial_records()
    assert len(records) == 2 and {r.status for r in records} == {"FINISHED"}
    _epochs_logged_once(store)
    assert SubmissionLock(mlflow_uri, "tiny").holder() is None  # released


@pytest.mark.kill
def test_a_killed_submission_is_taken_over_and_its_parent_ended(
    write_spec, mlflow_uri, tmp_path, capsys
):
    path = write_spec(_spec(mlflow_uri, tmp_path / "runs"))
    SweepStore(mlflow_uri, "tiny").ensure_experiment()
    store = SweepStore(mlflow_uri, "tiny")
    proc = _start(path)

    def half_way() -> bool:
        assert proc.poll() is None, "the sweep ended before it could be killed"
        return any(r.metrics.get("epoch", 0) >= 2 for r in store.trial_records())

    try:
        wait_for(half_way, 180, "a trial at epoch 2")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    (killed_parent,) = _parents(mlflow_uri)
    assert killed_parent.info.status == "RUNNING"  # what a SIGKILL leaves behind
    assert SubmissionLock(mlflow_uri, "tiny").holder() is not None  # and its lock

    assert main(["run", str(path), "--inline"]) == 0
    out = capsys.readouterr().out
    assert f"pid {proc.pid}" in out and "taking over" in out
    client = MlflowClient(mlflow_uri)
    assert client.get_run(killed_parent.info.run_id).info.status == "KILLED"
    latest = store.latest_by_trial([r.trial_id for r in store.trial_records()])
    assert len(latest) == 2 and all(r.outcome == "finished" for r in latest.values())
    assert all(r.metrics["epoch"] == EPOCHS for r in latest.values())
    _epochs_logged_once(store)


def _forge_holder(uri: str, host: str, heartbeat_age_s: float) -> str:
    """A lock written as a driver on another machine writes it."""
    now = time.time()
    tags = {
        TAG_HOST: host,
        TAG_PID: "4242",
        TAG_PID_START: "1.0",
        TAG_STARTED: repr(now - heartbeat_age_s - 60),
        TAG_HEARTBEAT: repr(now - heartbeat_age_s),
    }
    return MlflowClient(uri).create_experiment(lock_name("tiny"), tags=tags)


def test_a_live_holder_elsewhere_keeps_the_lock_a_silent_one_loses_it(mlflow_uri) -> None:
    SweepStore(mlflow_uri, "tiny")  # creates the database
    forged = _forge_holder(mlflow_uri, "elsewhere.example", heartbeat_age_s=5)
    with pytest.raises(SubmissionBusy, match="host elsewhere.example, pid 4242"):
        SubmissionLock(mlflow_uri, "tiny").acquire()

    client = MlflowClient(mlflow_uri)
    client.set_experiment_tag(forged, TAG_HEARTBEAT, repr(time.time() - 600))
    lock = SubmissionLock(mlflow_uri, "tiny")
    lock.acquire()
    try:
        assert lock.took_over is not None and lock.took_over.host == "elsewhere.example"
        holder = lock.holder()
        assert holder is not None and holder.pid == os.getpid()
        assert client.get_experiment(forged).lifecycle_stage == "deleted"
    finally:
        lock.release()
    assert SubmissionLock(mlflow_uri, "tiny").holder() is None


def test_a_sweep_whose_trials_all_failed_ends_failed(write_spec, mlflow_uri, tmp_path) -> None:
    """Images that cannot be decoded pass the preflight (the folder has image files) and fail
    every trial: the sweep's parent run ends FAILED, not FINISHED."""
    images = tmp_path / "images"
    images.mkdir()
    for i in range(6):
        (images / f"{i}.png").write_bytes(b"not a png at all")
    spec = tiny_spec(mlflow_uri, tmp_path / "runs")
    spec["data"] = {"dataset": "image_folder", "path": str(images), "size": 8, "channels": 1}
    path = write_spec(spec)
    assert main(["run", str(path), "--inline"]) == 1
    (parent,) = _parents(mlflow_uri)
    assert parent.info.status == "FAILED"
    records = SweepStore(mlflow_uri, "tiny").trial_records()
    assert len(records) == 2 and all(r.outcome == "failed" for r in records)


def test_a_run_that_finishes_after_failing_sheds_the_error(mlflow_uri) -> None:
    store = SweepStore(mlflow_uri, "tiny")
    parent = store.open_parent("tiny", "hash", "name: tiny", "summary")
    run_id = store.create_trial_run(parent, "t1", "t1", {}, "g")
    run = TrialRun(store.uri, run_id)
    run.start()
    run.finish("failed", **{TAG_ERROR: "OSError: the disk went away"})
    assert TAG_ERROR in MlflowClient(store.uri).get_run(run_id).data.tags
    run.start()  # the resubmission continues the same run from its checkpoint
    run.finish("finished")
    after = MlflowClient(store.uri).get_run(run_id)
    assert TAG_ERROR not in after.data.tags and after.info.status == "FINISHED"
