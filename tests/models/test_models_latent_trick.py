"""The Latent Trick (LCW paper, stage 2): its generator network, its bandwidth, a frozen
autoencoder, cw(G(ε), Z_test) falling over stage 2, and every sampler metric logged for the LT
sampler next to the prior sampler's (read back from MLflow)."""

from __future__ import annotations

import math

import pytest
import torch
from mlflow.tracking import MlflowClient
from torch import nn

from aesweep.data.loading import load_dataset
from aesweep.models.loading import build_model
from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan
from aesweep.tracking.store import SweepStore
from aesweep.trainables.evaluation import SAMPLER_METRICS
from aesweep.trainables.latent_generator import LatentTrick


def lt_spec(uri: str, storage: str) -> dict:
    return {
        "name": "lt",
        "data": {"dataset": "digits", "train_size": 256, "test_size": 128},
        "models": [
            {
                "family": "ae",
                "latent_dim": 8,
                "width": 0.25,
                "latent_trick": {"epochs": 8, "lr": 0.002, "hidden": 64, "batch_size": 32},
            },
            {"family": "cwae", "latent_dim": 8, "width": 0.25},
        ],
        "strategies": [{"kind": "minibatch", "batch_size": 32}],
        "optimizer": {"name": "adam", "lr": 0.001},
        "epochs": 2,
        "evaluation": {"every": 1, "latent_samples": 128},
        "tracking": {"uri": uri, "experiment": "lt", "storage": storage},
    }


def test_generator_is_five_linear_bn_relu_blocks_then_linear(write_spec, tmp_path) -> None:
    spec = lt_spec(f"sqlite:///{tmp_path / 'x.db'}", str(tmp_path))
    spec["models"][0]["latent_trick"] = {"noise_dim": 3}
    _, trials = load_plan(write_spec(spec))
    cfg = trials[0]
    data = load_dataset(cfg.data)
    model = build_model(cfg.model, data)
    trick = LatentTrick(model, data, cfg)
    layers = list(trick.generator.net)
    assert [type(m) for m in layers] == [nn.Linear, nn.BatchNorm1d, nn.ReLU] * 5 + [nn.Linear]
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(3, 512)] + [(512, 512)] * 4 + [
        (512, 8)
    ]
    # γ: Silverman from the training latents' σ and the batch size (the strategy's, 32)
    with torch.no_grad():
        model.eval()
        sigma = float(model.encode(data.train).std())
    assert trick.batch == 32
    assert trick.gamma == pytest.approx((1.06 * sigma * 32**-0.2) ** 2, rel=1e-5)
    # the autoencoder is frozen: stage 2 moves G only
    before = [p.detach().clone() for p in model.parameters()]
    g_before = [p.detach().clone() for p in trick.generator.parameters()]
    trick.train_epoch()
    assert all(not p.requires_grad for p in model.parameters())
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    assert any(
        not torch.equal(b, p) for b, p in zip(g_before, trick.generator.parameters(), strict=True)
    )


def test_stage_two_lowers_the_latent_distance_and_logs_both_samplers(
    write_spec, mlflow_uri, tmp_path
) -> None:
    path = write_spec(lt_spec(mlflow_uri, str(tmp_path / "ray")))
    assert main(["run", str(path), "--inline"]) == 0
    store = SweepStore(mlflow_uri, "lt")
    runs = [
        r
        for r in MlflowClient(tracking_uri=store.uri).search_runs([store.experiment_id])
        if r.data.tags.get("aesweep.kind") == "trial"
    ]
    by_family = {r.data.params["model.family"]: r for r in runs}
    assert {r.info.status for r in runs} == {"FINISHED"}

    with_lt = by_family["ae"]
    assert with_lt.data.params["model.latent_trick.epochs"] == "8"
    history = store.metric_history(with_lt.info.run_id, "lt_cw_distance")
    assert [step for step, _ in history] == list(range(1, 9))
    values = [v for _, v in history]
    assert all(math.isfinite(v) for v in values)
    assert values[-1] < 0.5 * values[0], values
    losses = [v for _, v in store.metric_history(with_lt.info.run_id, "lt_train_loss")]
    assert losses[-1] < losses[0]

    for key in SAMPLER_METRICS:
        prior = store.metric_history(with_lt.info.run_id, key)
        lt = store.metric_history(with_lt.info.run_id, f"lt_{key}")
        gen = store.metric_history(with_lt.info.run_id, f"gen_{key}")
        assert [s for s, _ in prior] == [1, 2]  # every evaluation of stage 1
        assert [s for s, _ in lt] == [2]  # next to the prior sampler's last value
        assert gen == lt  # the trial's own generator is the LT sampler
        assert lt[0][1] > 0 and prior[-1][1] > 0

    without = by_family["cwae"]
    assert not any(k.startswith("lt_") for k in without.data.metrics)
    for key in SAMPLER_METRICS:
        prior = store.metric_history(without.info.run_id, key)
        assert store.metric_history(without.info.run_id, f"gen_{key}") == [prior[-1]]


def test_a_sphere_prior_model_gets_latents_on_the_sphere(write_spec, tmp_path) -> None:
    spec = lt_spec(f"sqlite:///{tmp_path / 'x.db'}", str(tmp_path))
    spec["models"] = [
        {"family": "wae_mmd", "prior": "sphere", "width": 0.25, "latent_trick": {"hidden": 16}}
    ]
    _, (cfg,) = load_plan(write_spec(spec))
    data = load_dataset(cfg.data)
    trick = LatentTrick(build_model(cfg.model, data), data, cfg)
    z = trick.sample_latents(10, torch.Generator().manual_seed(0))
    assert torch.allclose(z.norm(dim=1), torch.ones(10), atol=1e-5)
