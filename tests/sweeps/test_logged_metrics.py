"""The metrics ``plan`` checks ``selection.metric`` against (``TrialConfig.logged_metrics``,
declared torch-free in aesweep/config) are exactly those a trial logs to MLflow."""

from __future__ import annotations

import pytest

from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan
from aesweep.tracking.store import SweepStore
from tests.conftest import tiny_spec

pytestmark = pytest.mark.slow

NOT_SELECTABLE = {"epoch"}  # MLflow's step bookkeeping, logged with every epoch


@pytest.mark.parametrize(
    "overrides",
    [
        {
            "models": [
                {"family": "ae", "latent_dim": 8, "latent_trick": {"epochs": 1, "hidden": 16}},
                {"family": "wae_gan", "latent_dim": 4},
                {"family": "swae", "latent_dim": 8},
            ],
            "optimizer": {"lr": 0.001, "schedule": {"kind": "step", "every": 1}},
            "selection": {"metric": "rec_error"},
        },
        {
            "data": {"dataset": "gaussian_mixture", "train_size": 256, "test_size": 128},
            "models": [{"family": "generator", "iterations_per_epoch": 2}],
            "optimizer": {"lr": 0.001},
            "selection": {"metric": "w1_to_target"},
        },
    ],
    ids=["autoencoders", "generator"],
)
def test_logged_metrics_are_what_trials_log(overrides, write_spec, mlflow_uri, tmp_path) -> None:
    spec = tiny_spec(mlflow_uri, tmp_path / "ray", **overrides)
    path = write_spec(spec)
    _, trials = load_plan(path)
    assert main(["run", str(path), "--inline"]) == 0
    records = {r.trial_id: r for r in SweepStore(mlflow_uri, "tiny").trial_records()}
    for trial in trials:
        logged = set(records[trial.trial_id].metrics) - NOT_SELECTABLE
        assert trial.logged_metrics() == logged, trial.model.label
