"""Every strategy x every family whose distance it supports trains one epoch on a tiny digits
subset through ``aesweep run`` (the pairs come from the registries, so a new family or strategy
is covered as soon as it registers); one mixed sweep runs through Ray Tune."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep.catalog import MODELS, STRATEGIES
from aesweep.sweeps.cli import main
from aesweep.tracking.store import SweepStore

# Small settings for a one-epoch run; a kind or family not listed here runs with its defaults.
STRATEGY_FIELDS = {
    "minibatch": {"batch_size": 32},
    "moving_window": {"window": 32, "fresh": 8},
    "run_sort_rerun": {"effective_batch": 64, "chunk": 16, "projections": 8},
    "momentum_queue": {"batch_size": 32, "size": 64},
}
FAMILY_FIELDS = {"generator": {"iterations_per_epoch": 3}}
NETWORK_FIELDS = {"width": 0.25}  # the autoencoders' networks, small (the generator has its own)


def compatible_families(kind: str) -> list[str]:
    supports = STRATEGIES.get(kind).supports
    return [f for f in MODELS.names() if MODELS.get(f).distance in supports]


def _spec(uri: str, storage: Path, families: list[str], strategies: list[dict]) -> dict:
    return {
        "name": "compat",
        "data": {"dataset": "digits", "train_size": 128, "test_size": 64},
        "models": [
            {
                "family": f,
                "latent_dim": 8,
                **(NETWORK_FIELDS if "width" in MODELS.get(f).model_fields else {}),
                **FAMILY_FIELDS.get(f, {}),
            }
            for f in families
        ],
        "strategies": strategies,
        "optimizer": {"name": "adam", "lr": 0.001},
        "epochs": 1,
        "evaluation": {"every": 1, "latent_samples": 64},
        "selection": {"metric": "train_loss"},  # logged by the generator and autoencoders
        "tracking": {"uri": uri, "experiment": "compat", "storage": str(storage)},
    }


def _check_children(uri: str, expected: int) -> list:
    store = SweepStore(uri, "compat")
    runs = MlflowClient(tracking_uri=store.uri).search_runs(
        [store.experiment_id], "tags.`aesweep.kind` = 'trial'"
    )
    assert len(runs) == expected
    for run in runs:
        name = run.info.run_name
        assert run.data.tags.get("aesweep.outcome") == "finished", (name, run.data.tags)
        metrics = run.data.metrics
        assert "epoch" in metrics and metrics, name
        for key, value in metrics.items():
            assert math.isfinite(value), (name, key, value)
    return runs


@pytest.mark.parametrize("kind", STRATEGIES.names())
def test_each_strategy_trains_every_compatible_family(
    kind: str, write_spec, mlflow_uri, tmp_path, capsys
) -> None:
    families = compatible_families(kind)
    assert families, f"no family works with {kind}"
    strategy = {"kind": kind, **STRATEGY_FIELDS.get(kind, {})}
    path = write_spec(_spec(mlflow_uri, tmp_path / "ray", families, [strategy]))
    assert main(["run", str(path), "--inline"]) == 0, capsys.readouterr()
    runs = _check_children(mlflow_uri, len(families))
    assert {r.data.params["model.family"] for r in runs} == set(families)
    assert {r.data.params["strategy.kind"] for r in runs} == {kind}


@pytest.mark.ray
def test_a_mixed_sweep_runs_through_ray(write_spec, mlflow_uri, tmp_path, ray_session) -> None:
    kinds = ["minibatch", "moving_window", "run_sort_rerun"]
    families = [f for f in ("swae",) if f in MODELS] or compatible_families(kinds[-1])
    strategies = [{"kind": k, **STRATEGY_FIELDS[k]} for k in kinds]
    path = write_spec(_spec(mlflow_uri, tmp_path / "ray", families[:1], strategies))
    assert main(["run", str(path)]) == 0
    runs = _check_children(mlflow_uri, len(kinds))
    assert {r.data.params["strategy.kind"] for r in runs} == set(kinds)
