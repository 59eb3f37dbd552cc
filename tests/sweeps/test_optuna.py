"""An Optuna search of a few trials through Ray Tune (OptunaSearch, TPE) on digits: each
trial recorded as a planned one is (its id the hash of its resolved config, its child run
created by the driver), and a resubmission seeds the searcher with what finished instead of
forgetting it."""

from __future__ import annotations

import json

from mlflow.tracking import MlflowClient

from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_spec
from aesweep.sweeps.plan import sampled_trials
from aesweep.sweeps.recorded import recorded_trials, searcher_history
from aesweep.tracking.store import NewTrialRun, SweepStore
from tests.conftest import tiny_spec


def test_optuna_runs_through_ray_and_resumes_with_its_history(
    write_spec, mlflow_uri, tmp_path, ray_session, capsys, monkeypatch
) -> None:
    spec_dict = tiny_spec(
        mlflow_uri,
        tmp_path / "ray",
        optimizer={"name": "adam", "lr": {"loguniform": [0.0003, 0.01]}},
        epochs=2,
        evaluation={"every": 1, "latent_samples": 64, "images": False},
        search={"algorithm": "optuna", "num_samples": 3, "seed": 0},
    )
    path = write_spec(spec_dict)
    created: list[str] = []  # child runs created in this process (the driver), by trial id
    create = SweepStore.create_trial_runs

    def counted(self: SweepStore, parent: str, runs: list[NewTrialRun]) -> list[str]:
        created.extend(r.trial_id for r in runs)
        return create(self, parent, runs)

    monkeypatch.setattr(SweepStore, "create_trial_runs", counted)
    assert main(["run", str(path)]) == 0
    assert "done: 3 finished" in capsys.readouterr().out
    spec = load_spec(path)
    store = SweepStore(mlflow_uri, "tiny")
    found = recorded_trials(spec, store)
    assert len(found) == 3
    # The driver owns every child run, as it does for planned trials (not the workers).
    assert sorted(created) == sorted(t.trial_id for t, _ in found)
    for trial, rec in found:
        assert rec.outcome == "finished" and rec.status == "FINISHED"
        lr = trial.optimizer.lr
        assert 0.0003 <= lr <= 0.01 and float(rec.params["optimizer.lr"]) == lr
        # the same id a planned trial of that lr has
        assert sampled_trials(spec).trial({"optimizer.lr": lr}).trial_id == rec.trial_id
    points, rewards = searcher_history(spec, store)
    costs = [rec.metrics["cost"] for _, rec in found]
    assert len(points) == 3 and rewards == costs
    parent = store.latest_parent_run("tiny")
    params = MlflowClient(tracking_uri=store.uri).get_run(parent).data.params
    assert params["search.algorithm"] == "optuna"
    assert json.loads(params["search.space"]) == {"optimizer.lr": "loguniform(0.0003, 0.01)"}

    # results reads the trials back from MLflow
    assert main(["results", str(path), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (
        row["done"] == 3
        and row["lr"] == min(found, key=lambda f: f[1].metrics["cost"])[0].optimizer.lr
    )

    # Resubmitted with 5 samples: the 3 finished are the searcher's history, 2 more run.
    spec_dict["search"]["num_samples"] = 5
    path = write_spec(spec_dict)
    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 of 5 trials already finished" in out and "done: 2 finished" in out, out
    again = recorded_trials(load_spec(path), store)
    assert len(again) == 5
    old = {t.trial_id: r.run_id for t, r in found}
    for trial, rec in again:  # the first three were not run again
        if trial.trial_id in old:
            assert rec.run_id == old[trial.trial_id]
    assert sum(1 for r in store.trial_records() if r.trial_id in old) == 3


def test_an_optuna_trial_runs_as_the_spec_says_compute_compile(
    write_spec, mlflow_uri, tmp_path, ray_session, capsys
) -> None:
    """``compute.compile: on`` reaches every sampled trial (digits is too short for ``auto``
    to compile: such a trial ran eagerly), and its id stays the one without it. An epoch of
    7 steps is shorter than one compiled call (8 steps unrolled): the executor is chosen and
    tagged, the steps run as the eager tail, and no compile slows the test down (the compiled
    step itself is tested in tests/step)."""
    spec_dict = tiny_spec(
        mlflow_uri,
        tmp_path / "ray",
        data={"dataset": "digits", "train_size": 56, "test_size": 64},
        strategies=[{"kind": "minibatch", "batch_size": 8}],
        optimizer={"name": "adam", "lr": {"loguniform": [0.0003, 0.01]}},
        evaluation={"every": 1, "latent_samples": 64, "images": False},
        search={"algorithm": "optuna", "num_samples": 2, "seed": 0},
        compute={"compile": True},  # YAML's unquoted on
    )
    path = write_spec(spec_dict)
    assert main(["run", str(path)]) == 0
    assert "done: 2 finished" in capsys.readouterr().out
    spec = load_spec(path)
    found = recorded_trials(spec, SweepStore(mlflow_uri, "tiny"))
    assert len(found) == 2
    without = sampled_trials(load_spec(write_spec({**spec_dict, "compute": {}}, "plain.yaml")))
    for trial, rec in found:
        assert rec.outcome == "finished"
        assert rec.tags["aesweep.executor"] == "compiled x8", rec.tags
        assert rec.tags["aesweep.executor_why"] == "compute.compile is on"
        assert without.trial({"optimizer.lr": trial.optimizer.lr}).trial_id == rec.trial_id
