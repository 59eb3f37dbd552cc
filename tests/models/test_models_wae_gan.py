"""WAE-GAN's two optimisers: both step on every batch and the discriminator learns (its accuracy
moves). Its optimiser state in the trial's checkpoint: tests/trainables/test_trainables_state.py."""

from __future__ import annotations

import torch

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
