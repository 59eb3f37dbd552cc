"""WAE-GAN's two optimisers: both step on every batch and the discriminator learns (its accuracy
moves). Its optimiser state in the trial's checkpoint: tests/trainables/test_trainables_state.py."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from aesweep.models.wae_gan.model import WAEGAN
from aesweep.strategies.base import optimizer_step
from aesweep.strategies.minibatch.config import MinibatchConfig
from aesweep.strategies.minibatch.strategy import Minibatch
from tests.models.model_helpers import wae_gan


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
