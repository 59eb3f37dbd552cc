"""The WAE code's encoder options (aesweep/config/wae_encoder.py): the moment-matching loss
against a hand computation with numpy, the pretraining fitting the encoder alone to the prior's
moments and stopping early, the input noise's moments (TensorFlow's truncated normal) and that
it is there while training only, and a trial that runs with both on."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aesweep.catalog import MODELS
from aesweep.config.packs import why_unpacked
from aesweep.config.registry import import_target
from aesweep.config.wae_encoder import EncoderPretraining
from aesweep.data.config import DigitsConfig
from aesweep.data.loading import load_dataset
from aesweep.models import wae_encoder
from aesweep.models.loading import build_autoencoder
from aesweep.models.wae_encoder import (
    WAEEncoderModel,
    moment_matching_loss,
    pretrain_encoder,
    truncated_noise_like,
)
from tests.trainables.trainable_helpers import MemoryRun, inline, trial_from


def test_the_moment_matching_loss_is_the_wae_codes() -> None:
    rng = np.random.default_rng(0)
    q = rng.normal(0.3, 2.0, size=(50, 4))
    p = rng.normal(0.0, 1.0, size=(50, 4))
    # By hand: squared differences of the means and of the (n - 1) covariances, each averaged.
    mean_term = np.mean((q.mean(0) - p.mean(0)) ** 2)
    cov_term = np.mean((np.cov(q, rowvar=False) - np.cov(p, rowvar=False)) ** 2)
    got = moment_matching_loss(torch.from_numpy(q), torch.from_numpy(p)).item()
    assert got == pytest.approx(mean_term + cov_term, rel=1e-12)
    assert moment_matching_loss(torch.from_numpy(p), torch.from_numpy(p)).item() == 0.0


def model(**fields: object) -> tuple[WAEEncoderModel, torch.Tensor]:
    torch.manual_seed(0)
    data = load_dataset(DigitsConfig(train_size=512, test_size=64))
    cfg = MODELS.get("wae_mmd").model_validate({"family": "wae_mmd", "latent_dim": 4, **fields})
    built = build_autoencoder(cfg, data)
    assert isinstance(built, WAEEncoderModel)
    assert isinstance(data.train, torch.Tensor)
    return built, data.train


def test_pretraining_moves_the_encoder_alone_towards_the_priors_moments() -> None:
    wae = {"kind": "normal", "std": 0.01, "truncated": ["conv"]}
    net, train = model(architecture="dcgan", width=0.0625, init=wae)
    decoder = {k: v.clone() for k, v in net.net.decoder.state_dict().items()}
    encoder = {k: v.clone() for k, v in net.net.encoder.state_dict().items()}
    cfg = EncoderPretraining(sample_size=256, steps=40, stop_below=0.0)
    optimizer = torch.optim.Adam(net.net.encoder.parameters(), lr=3e-3, betas=(0.5, 0.999))
    losses = pretrain_encoder(net, train, cfg, optimizer)
    assert len(losses) == 40
    # The WAE init's latents spread far less than N(0, I_4): the covariance term near 1/4.
    assert losses[0] == pytest.approx(0.25, abs=0.05)
    assert np.mean(losses[-5:]) < 0.6 * losses[0]
    assert all(torch.equal(v, net.net.decoder.state_dict()[k]) for k, v in decoder.items())
    assert any(not torch.equal(v, net.net.encoder.state_dict()[k]) for k, v in encoder.items())


def test_pretraining_stops_below_the_threshold_and_is_off_by_default() -> None:
    net, train = model(e_pretrain={"sample_size": 128, "steps": 200, "stop_below": 0.2})
    losses = net.pretrain_encoder(train, lambda ps: torch.optim.Adam(ps, lr=1e-2))
    assert losses[-1] < 0.2 and all(loss >= 0.2 for loss in losses[:-1])
    assert len(losses) < 200
    off, train = model()
    assert off.pretrain_encoder(train, lambda ps: torch.optim.Adam(ps)) == []


def test_the_input_noise_has_the_truncated_normals_moments() -> None:
    std = 0.01
    torch.manual_seed(0)
    noise = truncated_noise_like(torch.zeros(400_000), std).double()
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    assert noise.abs().max().item() <= 2 * std
    assert abs(noise.mean().item()) < 3 * std / math.sqrt(len(noise))
    assert noise.std().item() == pytest.approx(std * math.sqrt(1 - 4 * phi2 / mass), rel=0.01)
    kurtosis = ((noise / noise.std()) ** 4).mean().item()  # a truncated tail: below 3
    assert kurtosis == pytest.approx(2.36, abs=0.05)


def test_the_noise_is_added_while_training_only() -> None:
    noisy, train = model(e_add_noise=0.01)
    x = train[:16]
    noisy.train()
    seen: list[torch.Tensor] = []
    hook = noisy.net.encoder.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    noisy.encode(x)
    noisy.eval()
    noisy.encode(x)
    hook.remove()
    added = seen[0] - x
    assert 0 < added.abs().max().item() <= 0.02
    assert added.std().item() == pytest.approx(0.0088, rel=0.1)
    assert torch.equal(seen[1], x)
    plain, _ = model()
    plain.train()
    assert torch.equal(plain.encode(x), plain.encode(x))  # off: no noise in training either


def test_a_trial_pretrains_then_trains_with_both_on(
    write_spec, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {
        "data": {"dataset": "digits", "train_size": 128, "test_size": 64},
        "models": [
            {
                "family": "wae_mmd",
                "latent_dim": 8,
                "width": 0.25,
                "init": {"kind": "normal", "std": 0.01},
                "e_pretrain": {"sample_size": 100, "steps": 3},
                "e_add_noise": 0.01,
            }
        ],
        "strategies": [{"kind": "minibatch", "batch_size": 32}],
        "optimizer": {"name": "adam", "lr": 0.001, "betas": [0.5, 0.999]},
        "epochs": 1,
        "evaluation": {"every": 1, "latent_samples": 64},
    }
    trial = trial_from(write_spec, spec)
    calls: list[list[float]] = []
    real = wae_encoder.pretrain_encoder

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(real(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(wae_encoder, "pretrain_encoder", spy)
    run = MemoryRun()
    train = import_target(trial.model.trainable)
    assert train(trial, *inline(trial, tmp_path), run) == "finished"
    assert len(calls) == 1 and 1 <= len(calls[0]) <= 3
    assert math.isfinite(run.metrics[1]["rec_error"])


def test_trials_with_either_option_train_unpacked(write_spec) -> None:
    base = {"data": {"dataset": "digits"}, "epochs": 1, "compute": {"pack": "auto"}}
    for option in ({"e_pretrain": {}}, {"e_add_noise": 0.01}):
        trial = trial_from(write_spec, {**base, "models": [{"family": "wae_mmd", **option}]})
        assert why_unpacked(trial) == "WAE's encoder pretraining and input noise run unpacked"
    plain = trial_from(write_spec, {**base, "models": [{"family": "wae_mmd"}]})
    assert why_unpacked(plain) is None
