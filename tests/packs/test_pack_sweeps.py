"""Packs through ``aesweep run``: a packed sweep records, member by member, what the same sweep
unpacked records (same trial ids, params, metric steps, values within float32 tolerance;
``aesweep.pack`` only on packed runs), inline and through Ray; ``compute.pack: auto`` records
its timing on the parent run; a diverging member ends diverged while the others finish; a
packed sweep killed with SIGKILL and resubmitted records every epoch of every member once."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep.config.packs import MIN_TIMED_STEPS
from aesweep.sweeps.cli import main
from aesweep.tracking.schema import TAG_PACK
from aesweep.tracking.store import SweepStore, TrialRecord
from tests.conftest import REPO, tiny_spec, wait_for

LRS = [0.001, 0.003]
SEEDS = [0, 1]


def _spec(uri: str, storage: Path, experiment: str, pack: object, **extra: object) -> dict:
    fields: dict[str, object] = {
        "optimizer": {"name": "adam", "lr": LRS},
        "seeds": SEEDS,
        "epochs": 2,
        "evaluation": {"every": 1, "latent_samples": 64, "images": False},
        "compute": {"pack": pack},
    }
    spec = tiny_spec(uri, storage, **{**fields, **extra})
    spec["tracking"]["experiment"] = experiment
    return spec


def _records(uri: str, experiment: str) -> dict[str, TrialRecord]:
    store = SweepStore(uri, experiment)
    return store.latest_by_trial([r.trial_id for r in store.trial_records()])


def _steps(uri: str, run_id: str) -> dict[str, list[tuple[int, float]]]:
    client = MlflowClient(tracking_uri=uri)
    keys = client.get_run(run_id).data.metrics
    return {
        k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k)) for k in keys
    }


def test_a_packed_inline_sweep_records_what_the_unpacked_one_does(
    write_spec, mlflow_uri, tmp_path
) -> None:
    storage = tmp_path / "ckpt"
    packed_path = write_spec(_spec(mlflow_uri, storage, "packed", 4), "packed.yaml")
    plain_path = write_spec(_spec(mlflow_uri, storage, "plain", "off"), "plain.yaml")
    assert main(["run", str(packed_path), "--inline"]) == 0
    assert main(["run", str(plain_path), "--inline"]) == 0
    packed, plain = _records(mlflow_uri, "packed"), _records(mlflow_uri, "plain")
    assert len(packed) == len(LRS) * len(SEEDS) and set(packed) == set(plain)
    assert len({r.tags.get(TAG_PACK) for r in packed.values()}) == 1  # one pack of four
    assert all(r.tags.get(TAG_PACK, "").startswith("pack-") for r in packed.values())
    assert not any(TAG_PACK in r.tags for r in plain.values())
    for tid, rec in packed.items():
        other = plain[tid]
        assert rec.status == other.status == "FINISHED"
        assert rec.outcome == other.outcome == "finished"
        assert rec.params == other.params
        mine, theirs = _steps(mlflow_uri, rec.run_id), _steps(mlflow_uri, other.run_id)
        # Wall times and the machine's own series (system/*) measure the run, not the trial.
        timings = {k for k in mine if k.endswith("_seconds") or k.startswith("system/")}
        assert set(mine) == set(theirs)
        for key in set(mine) - timings:
            assert [s for s, _ in mine[key]] == [s for s, _ in theirs[key]], key
            for (_, a), (_, b) in zip(mine[key], theirs[key], strict=True):
                assert math.isclose(a, b, rel_tol=2e-3, abs_tol=2e-4), (key, a, b)
    # status and results read a packed sweep as any other
    assert main(["status", str(packed_path)]) == 0
    assert main(["results", str(packed_path)]) == 0


def test_auto_does_not_time_a_group_too_short_to_pay_for_it(
    write_spec, mlflow_uri, tmp_path
) -> None:
    """A 1-epoch digits sweep trains a few dozen member-steps: timing would cost more than any
    pack could save, so it runs unpacked and the parent run says why."""
    path = write_spec(_spec(mlflow_uri, tmp_path / "ckpt", "short", "auto", epochs=1))
    assert main(["run", str(path), "--inline"]) == 0
    store = SweepStore(mlflow_uri, "short")
    run = MlflowClient(tracking_uri=mlflow_uri).get_run(store.latest_parent_run("tiny") or "")
    assert run.data.params["pack_auto_packed_groups"] == "0"
    (decision,) = json.loads(run.data.tags["aesweep.pack_auto"])
    assert decision["size"] == 1 and "not worth timing" in decision["why"]
    assert "single" not in decision and "packed" not in decision  # nothing was timed
    assert 0 < decision["member_steps"] < MIN_TIMED_STEPS
    assert not any(TAG_PACK in r.tags for r in _records(mlflow_uri, "short").values())


def test_auto_times_before_the_sweep_and_records_its_decision(
    write_spec, mlflow_uri, tmp_path, monkeypatch
) -> None:
    # a tiny sweep, timed as a long one would be (the threshold is what makes it short)
    monkeypatch.setattr("aesweep.sweeps.pack_auto.MIN_TIMED_STEPS", 0)
    path = write_spec(_spec(mlflow_uri, tmp_path / "ckpt", "auto", "auto", epochs=1))
    assert main(["run", str(path), "--inline"]) == 0
    store = SweepStore(mlflow_uri, "auto")
    run = MlflowClient(tracking_uri=mlflow_uri).get_run(store.latest_parent_run("tiny") or "")
    assert run.data.params["pack_auto_groups"] == "1"
    assert float(run.data.params["pack_auto_seconds"]) > 0  # wall time: no bound asserted
    (decision,) = json.loads(run.data.tags["aesweep.pack_auto"])
    assert decision["device"] == "cpu" and decision["members"] == 4
    assert decision["single"] > 0 and decision["packed"] > 0
    packed = decision["size"] >= 2
    assert packed == (decision["ratio"] > 1.2)
    assert run.data.params["pack_auto_packed_groups"] == ("1" if packed else "0")
    records = _records(mlflow_uri, "auto")
    assert all(r.outcome == "finished" for r in records.values())
    assert all((TAG_PACK in r.tags) == packed for r in records.values())


def test_a_diverging_member_ends_diverged_and_the_others_finish(
    write_spec, mlflow_uri, tmp_path
) -> None:
    spec = _spec(mlflow_uri, tmp_path / "ckpt", "diverge", 4, epochs=3)
    spec["optimizer"] = {"name": "sgd", "lr": [0.001, 1.0e12]}
    assert main(["run", str(write_spec(spec)), "--inline"]) == 0
    records = _records(mlflow_uri, "diverge")
    assert len(records) == 4 and len({r.tags[TAG_PACK] for r in records.values()}) == 1
    for rec in records.values():
        huge = float(rec.params["optimizer.lr"]) > 1
        assert rec.outcome == ("diverged" if huge else "finished"), rec.params
        assert rec.status == ("FAILED" if huge else "FINISHED")  # as an unpacked trial's
        epochs = [s for s, _ in _steps(mlflow_uri, rec.run_id)["epoch"]]
        if huge:
            assert epochs == list(range(1, int(rec.tags["aesweep.diverged_epoch"]) + 1))
        else:
            assert epochs == [1, 2, 3]


def test_a_packed_sweep_through_ray_finishes_every_member(
    write_spec, mlflow_uri, tmp_path, ray_session
) -> None:
    path = write_spec(_spec(mlflow_uri, tmp_path / "ray", "ray", 4, epochs=1))
    assert main(["run", str(path)]) == 0
    records = _records(mlflow_uri, "ray")
    assert len(records) == 4
    assert {r.status for r in records.values()} == {"FINISHED"}
    assert {r.outcome for r in records.values()} == {"finished"}
    (pack,) = {r.tags[TAG_PACK] for r in records.values()}
    assert list((tmp_path / "ray").glob(f"*/{pack}/checkpoint_*")), "no pack checkpoint"


@pytest.mark.kill
def test_a_killed_packed_sweep_resumes_every_member_recording_each_epoch_once(
    write_spec, mlflow_uri, tmp_path, ray_session
) -> None:
    epochs = 12
    spec = _spec(
        mlflow_uri,
        tmp_path / "ckpt",
        "kill",
        4,
        epochs=epochs,
        data={"dataset": "digits", "train_size": 1024, "test_size": 128},
        checkpoint={"every": 1, "keep": 2},
    )
    path = write_spec(spec)
    store = SweepStore(mlflow_uri, "kill")
    store.ensure_experiment()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "aesweep.sweeps.cli", "run", str(path), "--inline"]
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def some_epochs_logged() -> bool:
        if proc.poll() is not None:
            return True
        return any(r.metrics.get("epoch", 0) >= 2 for r in store.trial_records())

    try:
        wait_for(some_epochs_logged, 90, "a member to log its second epoch", poll=0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    before = {r.trial_id: r for r in store.trial_records()}
    assert len(before) == 4
    assert any(r.status == "RUNNING" for r in before.values()), "the sweep ended before the kill"
    last = {tid: int(r.metrics.get("epoch", 0)) for tid, r in before.items()}
    assert max(last.values()) < epochs

    assert main(["run", str(path)]) == 0  # resubmitted, through Ray this time
    records = store.trial_records()
    after = store.latest_by_trial(list(before))
    for tid, rec in after.items():
        assert rec.status == "FINISHED" and rec.outcome == "finished"
        assert rec.run_id == before[tid].run_id  # resumed in its own run, not started over
        assert int(rec.tags["aesweep.resumed_from_epoch"]) >= 1
        steps = {k: [s for s, _ in h] for k, h in _steps(mlflow_uri, rec.run_id).items()}
        assert steps["epoch"] == list(range(1, epochs + 1))
        assert steps["train_loss"] == list(range(1, epochs + 1))
        for key, logged in steps.items():  # every metric: each step at most once
            assert len(logged) == len(set(logged)), key
    assert len(records) == 4  # no trial got a second run
