"""Nothing finished is lost or recomputed: a sweep killed with SIGKILL mid-way, then
resubmitted, and a Ray worker killed mid-trial, retried from its checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from aesweep.sweeps.cli import main
from aesweep.tracking.schema import TAG_TRIAL_ID
from aesweep.tracking.store import SweepStore
from tests.conftest import kill_worker_at_epoch, tiny_spec, wait_for

pytestmark = pytest.mark.kill

EPOCHS = 12


def _spec(uri: str, storage: Path, lrs: list[float]) -> dict:
    return tiny_spec(
        uri,
        storage,
        data={"dataset": "digits", "train_size": 512, "test_size": 64},
        optimizer={"name": "adam", "lr": lrs},
        epochs=EPOCHS,
        evaluation={"every": 1, "latent_samples": 64},
        checkpoint={"every": 2, "keep": 2},
    )


def _children(store: SweepStore) -> list:
    return store.trial_records()


def _steps(store: SweepStore, run_id: str) -> list[int]:
    return sorted(step for step, _ in store.metric_history(run_id, "rec_error"))


@pytest.mark.ray
def test_sigkill_mid_sweep_then_resubmit(write_spec, mlflow_uri, tmp_path, ray_session) -> None:
    path = write_spec(_spec(mlflow_uri, tmp_path / "ray", [0.001, 0.0007, 0.0005]))
    store = SweepStore(mlflow_uri, "tiny")
    store.ensure_experiment()  # the database exists before two processes open it
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "aesweep.sweeps.cli", "run", str(path), "--max-concurrent", "1"]
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def one_finished_one_half_way() -> bool:
        assert proc.poll() is None, "the sweep ended before it could be killed"
        recs = _children(store)
        finished = [r for r in recs if r.status == "FINISHED"]
        running = [r for r in recs if r.status == "RUNNING" and r.metrics.get("epoch", 0) >= 4]
        return bool(finished) and bool(running)

    try:
        wait_for(one_finished_one_half_way, 240, "one finished trial and one half-way")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray it started, at once
        proc.wait(30)

    before = {r.trial_id: r for r in _children(store)}
    finished_before = {tid for tid, r in before.items() if r.status == "FINISHED"}
    half_way = [r for r in before.values() if r.status == "RUNNING"]
    assert len(finished_before) == 1 and len(half_way) == 1
    assert half_way[0].metrics["epoch"] < EPOCHS

    # Resubmit the same spec (in this process, on the session's Ray).
    assert main(["run", str(path)]) == 0
    after = store.latest_by_trial([*before, "none"])
    records = store.trial_records()
    assert {r.trial_id for r in records} == set(after) and len(after) == 3
    for tid, rec in after.items():
        assert rec.status == "FINISHED", tid
        assert _steps(store, rec.run_id) == list(range(1, EPOCHS + 1)), tid
    # The finished trial was not trained again: same run, no second run for it.
    (done_id,) = finished_before
    assert after[done_id].run_id == before[done_id].run_id
    assert sum(1 for r in records if r.trial_id == done_id) == 1
    # The half-way trial continued in its own run from its last checkpoint.
    resumed = after[half_way[0].trial_id]
    assert resumed.run_id == half_way[0].run_id
    assert int(resumed.tags["aesweep.resumed_from_epoch"]) >= 2


@pytest.mark.ray
def test_killed_worker_is_retried_from_its_checkpoint(
    write_spec, mlflow_uri, tmp_path, ray_session
) -> None:
    path = write_spec(_spec(mlflow_uri, tmp_path / "ray", [0.001]))
    store = SweepStore(mlflow_uri, "tiny")
    store.ensure_experiment()
    with kill_worker_at_epoch(store, 5) as killed:
        code = main(["run", str(path)])
    assert "pid" in killed, "the trial finished before its worker could be killed"
    assert code == 0
    (rec,) = store.trial_records()
    assert rec.status == "FINISHED" and rec.tags[TAG_TRIAL_ID]
    assert int(rec.tags["aesweep.worker_pid"]) != killed["pid"], "a new worker ran the retry"
    assert 2 <= int(rec.tags["aesweep.resumed_from_epoch"]) <= killed["epoch"]
    assert _steps(store, rec.run_id) == list(range(1, EPOCHS + 1))


@pytest.mark.ray
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_ends_trials_killed_and_the_sweep_resumes(
    stop, write_spec, mlflow_uri, tmp_path, ray_session
):
    """Ctrl-C, and SIGTERM alike (it used to abort the driver in Ray's handler with the runs
    left RUNNING): trials end KILLED, the sweep resumes (the resumption is the same after
    either signal: run once, after Ctrl-C)."""
    path = write_spec(_spec(mlflow_uri, tmp_path / "ray", [0.001, 0.0005]))
    store = SweepStore(mlflow_uri, "tiny")
    store.ensure_experiment()
    cmd = [sys.executable, "-m", "aesweep.sweeps.cli", "run", str(path)]
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )

    def training() -> bool:
        assert proc.poll() is None, "the sweep ended before Ctrl-C"
        return any(
            r.status == "RUNNING" and r.metrics.get("epoch", 0) >= 3 for r in _children(store)
        )

    try:
        wait_for(training, 240, "a trial half-way")
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-2000:]
    assert "again to resume" in err, err[-2000:]
    records = _children(store)
    assert records and all(r.status == "KILLED" and r.outcome == "killed" for r in records)
    if stop != signal.SIGINT:
        return

    assert main(["run", str(path)]) == 0
    final = store.latest_by_trial([r.trial_id for r in records])
    for rec in final.values():
        assert rec.status == "FINISHED"
        assert _steps(store, rec.run_id) == list(range(1, EPOCHS + 1))
