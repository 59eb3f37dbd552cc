"""WAE-GAN's two optimisers: both step on every batch, the discriminator learns (its accuracy
moves), and its optimiser state is part of the trial's checkpoint."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn.functional as F

from aesweep.catalog import MODELS
from aesweep.data.config import DigitsConfig
from aesweep.data.loading import load_dataset
from aesweep.models.loading import build_model
from aesweep.models.wae_gan.model import WAEGAN
from aesweep.strategies.base import optimizer_step
from aesweep.strategies.minibatch.config import MinibatchConfig
from aesweep.strategies.minibatch.strategy import Minibatch
from aesweep.trainables.autoencoder import TrialState


def wae_gan(seed: int = 0):
    torch.manual_seed(seed)
    data = load_dataset(DigitsConfig(train_size=256, test_size=64))
    cfg = MODELS.get("wae_gan").model_validate(
        {
            "family": "wae_gan",
            "latent_dim": 8,
            "width": 0.25,
            "discriminator": {"width": 64, "lr": 2e-3},
        }
    )
    model = build_model(cfg, data)
    optimizer = torch.optim.Adam(model.autoencoder_parameters(), lr=1e-3, betas=(0.5, 0.999))
    return data, model, optimizer


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return all(not torch.equal(b, p) for b, p in zip(before, module.parameters(), strict=True))


def test_the_autoencoder_optimiser_never_holds_the_discriminator() -> None:
    _, model, optimizer = wae_gan()
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert held == {id(p) for p in model.net.parameters()}
    assert not held & {id(p) for p in model.discriminator.parameters()}
    disc = {id(p) for g in model.discriminator_optimizer.param_groups for p in g["params"]}
    assert disc == {id(p) for p in model.discriminator.parameters()}


def test_one_step_moves_every_parameter_of_both_networks() -> None:
    data, model, optimizer = wae_gan()
    net, disc = snapshot(model.net), snapshot(model.discriminator)
    x = data.train[:32]
    parts = optimizer_step(model, optimizer, x, model.encode(x), model.encode(x))
    assert changed(net, model.net)
    assert changed(disc, model.discriminator)
    assert {"loss", "rec", "latent", "disc_loss", "disc_acc"} <= parts.keys()


def test_discriminator_accuracy_moves_during_training() -> None:
    data, model, optimizer = wae_gan()
    strategy = Minibatch(MinibatchConfig(batch_size=32), model, data.train)
    accuracies = []
    for epoch in range(1, 3):
        sums = strategy.train_epoch(model, optimizer, data.train, epoch)
        accuracies.append(sums.means()["train_disc_acc"])
    # An untrained encoder's latents sit near the origin: the discriminator separates them
    # from N(0, I) quickly, then the encoder pushes back.
    assert max(accuracies) - 0.5 > 0.1
    assert len({round(a, 4) for a in accuracies}) > 1


def test_checkpoint_restores_the_discriminator_and_its_optimiser(tmp_path: Path) -> None:
    data, model, optimizer = wae_gan()
    strategy = Minibatch(MinibatchConfig(batch_size=32), model, data.train)
    strategy.train_epoch(model, optimizer, data.train, 1)
    TrialState(model, optimizer, strategy).save(tmp_path, 1)

    _, fresh, fresh_opt = wae_gan(seed=1)
    assert not torch.equal(fresh.discriminator.net[0].weight, model.discriminator.net[0].weight)
    fresh_strategy = Minibatch(MinibatchConfig(batch_size=32), fresh, data.train)
    assert TrialState(fresh, fresh_opt, fresh_strategy).load(tmp_path) == 1
    assert torch.equal(fresh.discriminator.net[0].weight, model.discriminator.net[0].weight)
    saved = model.discriminator_optimizer.state_dict()
    loaded = fresh.discriminator_optimizer.state_dict()
    assert saved["param_groups"] == loaded["param_groups"]
    assert loaded["state"], "Adam moments restored"
    for key, state in saved["state"].items():
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(state[name], loaded["state"][key][name])


def _d_step_by_hand(model: WAEGAN, latents: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """D's parameters after one step of a copy of D and a fresh Adam on ``latents`` against the
    prior sample that ``after_step`` draws under ``seed`` (float64)."""
    disc = copy.deepcopy(model.discriminator)
    d = model.cfg.discriminator
    opt = torch.optim.Adam(disc.parameters(), lr=d.lr, betas=d.betas)
    torch.manual_seed(seed)
    prior = torch.randn(len(latents), latents.shape[1]).to(latents.dtype)
    loss = model.cfg.lambda_ * (F.softplus(-disc(prior)).mean() + F.softplus(disc(latents)).mean())
    opt.zero_grad()
    loss.backward()
    opt.step()
    return snapshot(disc)


def test_the_discriminator_steps_on_the_batch_re_encoded_after_the_autoencoder_step() -> None:
    """The authors' wae.py order: ae_opt, then adv_opt on E_after(x). A hand SGD step of a copy
    of the autoencoder (float64) gives E_after(x); D's step must equal a hand step on it, and
    differ from one on the latents from before the autoencoder's step."""
    data, model, _ = wae_gan()
    model = model.double()
    optimizer = torch.optim.SGD(model.autoencoder_parameters(), lr=0.5)
    x = data.train[:16].double()
    z_before = model.encode(x)

    twin = copy.deepcopy(model)
    z_twin = twin.encode(x)
    loss, _ = twin.training_loss(x, twin.decode(z_twin), z_twin)
    grads = torch.autograd.grad(loss, list(twin.net.parameters()))
    with torch.no_grad():
        for p, g in zip(twin.net.parameters(), grads, strict=True):
            p -= 0.5 * g
        z_after = twin.encode(x)
    assert not torch.allclose(z_after, z_before)
    expected = _d_step_by_hand(model, z_after, seed=7)
    stale = _d_step_by_hand(model, z_before.detach(), seed=7)

    torch.manual_seed(7)
    optimizer_step(model, optimizer, x, z_before, z_before)
    got = snapshot(model.discriminator)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert any(
        not torch.allclose(a, b, rtol=1e-6, atol=1e-9) for a, b in zip(got, stale, strict=True)
    )
