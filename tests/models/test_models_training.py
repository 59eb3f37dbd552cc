"""Every family x minibatch trains one epoch on digits through the CLI, inline and through Ray
Tune in one mixed sweep, with every metric finite and the model's fields recorded as params."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from aesweep.sweeps.cli import main
from aesweep.tracking.store import SweepStore

FAMILIES: list[dict[str, Any]] = [
    {"family": "ae"},
    {"family": "wae_mmd", "prior": "sphere", "reconstruction": "wae_scaled"},
    {"family": "cwae", "reconstruction": "sum"},
    {"family": "swae", "projections": 20},
    {"family": "cw2", "gamma": "batch"},
    {"family": "wae_gan", "discriminator": {"width": 32}, "reconstruction": "wae_scaled"},
]


def zoo_spec(uri: str, storage: Path, models: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "zoo",
        "data": {"dataset": "digits", "train_size": 128, "test_size": 64},
        "models": [{"latent_dim": 8, "width": 0.25, **m} for m in models],
        "strategies": [{"kind": "minibatch", "batch_size": 32}],
        "optimizer": {"name": "adam", "lr": 0.001},
        "epochs": 1,
        "evaluation": {"latent_samples": 64},
        "tracking": {"uri": uri, "experiment": "zoo", "storage": str(storage)},
    }


def children(uri: str) -> list[Any]:
    store = SweepStore(uri, "zoo")
    assert store.experiment_id is not None
    runs = MlflowClient(tracking_uri=store.uri).search_runs([store.experiment_id])
    return [r for r in runs if r.data.tags.get("aesweep.kind") == "trial"]


def check_finished_and_finite(uri: str, n: int) -> dict[str, Any]:
    """Every child run finished with finite metrics; the runs by model label (ae, ae+lt, ...)."""
    runs = children(uri)
    assert len(runs) == n
    by_label = {}
    for run in runs:
        name = run.data.tags["mlflow.runName"].split("-")[0]
        assert run.info.status == "FINISHED", name
        assert run.data.tags["aesweep.outcome"] == "finished", name
        metrics = run.data.metrics
        for key in ("rec_error", "cw_distance", "wae_distance", "sw_distance", "cost"):
            assert key in metrics, (name, key)
        for key in ("sample_cw", "gen_sample_cw", "train_loss", "train_rec", "train_latent"):
            assert key in metrics, (name, key)
        bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
        assert not bad, (name, bad)
        by_label[name] = run
    assert len(by_label) == n
    return by_label


def test_every_family_trains_inline_with_finite_metrics(write_spec, mlflow_uri, tmp_path) -> None:
    path = write_spec(zoo_spec(mlflow_uri, tmp_path / "ray", FAMILIES))
    assert main(["run", str(path), "--inline"]) == 0
    runs = check_finished_and_finite(mlflow_uri, len(FAMILIES))
    # the shared fields and each family's own fields are params of its run
    params = {family: run.data.params for family, run in runs.items()}
    assert params["wae_mmd"]["model.prior"] == "sphere"
    assert params["wae_mmd"]["model.reconstruction"] == "wae_scaled"
    assert params["cwae"]["model.reconstruction"] == "sum"
    assert not any(k.startswith("model.latent_trick") for k in params["ae"])  # off: left out
    assert params["swae"]["model.projections"] == "20"
    assert params["cw2"]["model.gamma"] == "batch"
    assert params["wae_gan"]["model.discriminator.width"] == "32"
    assert params["wae_gan"]["model.discriminator.lr"] == "0.0005"
    gan = runs["wae_gan"].data.metrics
    assert 0.0 <= gan["train_disc_acc"] <= 1.0 and gan["train_disc_loss"] > 0
    # the cost uses the family's own distance (MoW: rec + log distance)
    for family, distance in (("wae_mmd", "wae_distance"), ("swae", "sw_distance")):
        m = runs[family].data.metrics
        assert m["cost"] == pytest.approx(m["rec_error"] + math.log(m[distance]), rel=1e-6)


@pytest.mark.ray
@pytest.mark.slow
def test_a_mixed_sweep_of_every_family_through_ray(write_spec, tmp_path, ray_session) -> None:
    uri = f"sqlite:///{tmp_path / 'ray.db'}"
    lt = {"latent_trick": {"epochs": 1, "hidden": 32, "layers": 2}}
    models = [{**FAMILIES[0], **lt}, *FAMILIES[1:]]
    path = write_spec(zoo_spec(uri, tmp_path / "ray", models))
    assert main(["run", str(path)]) == 0
    runs = check_finished_and_finite(uri, len(models))
    assert runs["ae+lt"].data.metrics["lt_sample_cw"] > 0
