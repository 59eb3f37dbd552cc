"""WAE-GAN's two updates: the one step moves the autoencoder's networks, then the family's own
update (``after_step``, eager, on the member's module) moves the discriminator on the batch
re-encoded by the updated encoder, and the discriminator learns (its accuracy moves). Its
optimiser state in the trial's checkpoint: tests/trainables/test_trainables_state.py. The
prior trick against scipy's Gaussian log-density (with the authors' single ½ log 2π)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import multivariate_normal

from aesweep.models.wae_gan.config import DiscriminatorConfig
from aesweep.models.wae_gan.model import WAEGAN, LatentDiscriminator
from aesweep.sweeps.cli import main
from tests.conftest import model_trial_ids
from tests.strategies.strategy_helpers import generator_copy, stepped

DISCRIMINATOR = {"width": 64, "lr": 2e-3}


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return all(not torch.equal(b, p) for b, p in zip(before, module.parameters(), strict=True))


def test_the_step_never_holds_the_discriminator() -> None:
    members = stepped(
        "wae_gan", {"kind": "minibatch", "batch_size": 32}, discriminator=DISCRIMINATOR
    )
    model = members.models[0]
    assert set(members.state["params"]) == {k for k, _ in model.net.named_parameters()}
    assert isinstance(model, WAEGAN)
    disc = {id(p) for g in model.discriminator_optimizer.param_groups for p in g["params"]}
    assert disc == {id(p) for p in model.discriminator.parameters()}


def test_one_step_moves_every_parameter_of_both_networks() -> None:
    members = stepped(
        "wae_gan",
        {"kind": "minibatch", "batch_size": 32},
        train_size=32,
        discriminator=DISCRIMINATOR,
    )
    model = members.models[0]
    assert isinstance(model, WAEGAN)
    net, disc = snapshot(model.net), snapshot(model.discriminator)
    means = members.train_epoch(1, first=True).means[0]  # one step
    assert changed(net, members.member(0).net)
    assert changed(disc, model.discriminator)
    assert {"train_loss", "train_rec", "train_latent", "train_disc_loss", "train_disc_acc"} <= set(
        means
    )


def test_discriminator_accuracy_moves_during_training() -> None:
    members = stepped(
        "wae_gan",
        {"kind": "minibatch", "batch_size": 32},
        discriminator=DISCRIMINATOR,
        optimizer={"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999]},
    )
    accuracies = [members.train_epoch(e, first=e == 1).means[0]["train_disc_acc"] for e in (1, 2)]
    # An untrained encoder's latents sit near the origin: the discriminator separates them
    # from N(0, I) quickly, then the encoder pushes back.
    assert max(accuracies) - 0.5 > 0.1
    assert len({round(a, 4) for a in accuracies}) > 1


def _d_step_by_hand(
    model: WAEGAN, latents: torch.Tensor, prior: torch.Tensor
) -> list[torch.Tensor]:
    """D's parameters after one step of a copy of D and a fresh Adam on ``latents`` against
    ``prior`` (float64)."""
    disc = copy.deepcopy(model.discriminator)
    d = model.cfg.discriminator
    opt = torch.optim.Adam(disc.parameters(), lr=d.lr, betas=d.betas)
    loss = model.cfg.lambda_ * (F.softplus(-disc(prior)).mean() + F.softplus(disc(latents)).mean())
    opt.zero_grad()
    loss.backward()
    opt.step()
    return snapshot(disc)


def test_the_discriminator_steps_on_the_batch_re_encoded_after_the_autoencoder_step(
    float64: None,
) -> None:
    """The authors' wae.py order: ae_opt, then adv_opt on E_after(x). A hand SGD step of a copy
    of the autoencoder (float64) gives E_after(x); D's step must equal a hand step on it against
    the prior sample the member's generator draws after the step's image order, and differ from
    one on the latents from before the autoencoder's step."""
    members = stepped(
        "wae_gan",
        {"kind": "minibatch", "batch_size": 16},
        train_size=16,
        lr=0.5,
        discriminator=DISCRIMINATOR,
    )
    model = members.models[0]
    assert isinstance(model, WAEGAN)
    ahead = generator_copy(members)
    x = members.data.train[torch.randperm(16, generator=ahead)]  # the epoch's image order
    prior = torch.randn(16, 8, generator=ahead)  # then the critic's prior sample

    twin = copy.deepcopy(model)
    z_before = twin.encode(x)
    loss, _ = twin.training_loss(x, twin.decode(z_before), z_before)
    grads = torch.autograd.grad(loss, list(twin.net.parameters()))
    with torch.no_grad():
        for p, g in zip(twin.net.parameters(), grads, strict=True):
            p -= 0.5 * g
        z_after = twin.encode(x)
    assert not torch.allclose(z_after, z_before)
    expected = _d_step_by_hand(model, z_after, prior)
    stale = _d_step_by_hand(model, z_before.detach(), prior)

    members.train_epoch(1, first=True)  # one step
    got = snapshot(model.discriminator)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert any(
        not torch.allclose(a, b, rtol=1e-6, atol=1e-9) for a, b in zip(got, stale, strict=True)
    )


def test_the_prior_trick_adds_the_authors_gaussian_log_density(float64: None) -> None:
    """D with the trick minus the same D without it: log N(z; 0, σ² I_d) (scipy) plus
    (d - 1)/2 log 2π, since the authors' z_adversary subtracts ½ log 2π once, not d times."""
    torch.manual_seed(0)
    d, cfg = 6, DiscriminatorConfig(width=16, layers=2)
    for scale in (1.0, 2.5):
        plain = LatentDiscriminator(cfg, d)
        trick = LatentDiscriminator(cfg, d, prior_scale=scale)
        trick.load_state_dict(plain.state_dict())
        z = 3 * torch.randn(50, d)
        with torch.no_grad():
            got = (trick(z) - plain(z)).numpy()
            at_origin = (trick(torch.zeros(1, d)) - plain(torch.zeros(1, d))).item()
        gaussian = multivariate_normal(mean=np.zeros(d), cov=scale**2 * np.eye(d))
        expected = gaussian.logpdf(z.numpy()) + (d - 1) / 2 * math.log(2 * math.pi)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
        assert at_origin == pytest.approx(
            -0.5 * math.log(2 * math.pi) - 0.5 * d * math.log(scale**2), abs=1e-12
        )


def test_the_prior_trick_reaches_both_losses_of_a_trial(float64: None) -> None:
    """With ``prior_trick`` the trial's D adds the N(0, I) term (σ = 1) in the encoder's penalty
    and in D's own step; without it D is the bare network."""
    members = stepped(
        "wae_gan",
        {"kind": "minibatch", "batch_size": 16},
        train_size=16,
        discriminator=DISCRIMINATOR,
        prior_trick=True,
    )
    model = members.models[0]
    assert isinstance(model, WAEGAN) and model.discriminator.prior_scale == 1.0
    z = torch.randn(5, 8)
    with torch.no_grad():
        bare = model.discriminator.net(z).squeeze(1)
        penalty = model.latent_loss(z)
    term = -0.5 * z.pow(2).sum(1) - 0.5 * math.log(2 * math.pi)
    torch.testing.assert_close(penalty, F.softplus(-(bare + term)).mean(), rtol=1e-12, atol=0)
    means = members.train_epoch(1, first=True).means[0]
    assert math.isfinite(means["train_disc_loss"]) and math.isfinite(means["train_latent"])
    plain = stepped("wae_gan", {"kind": "minibatch", "batch_size": 16}, train_size=16)
    assert plain.models[0].discriminator.prior_scale is None


def _ids(tmp_path, fields: str) -> list[str]:
    return model_trial_ids(tmp_path, "{family: wae_gan, latent_dim: 8" + fields + "}")


def test_the_prior_trick_is_part_of_trial_ids_only_when_on(tmp_path) -> None:
    unnamed = _ids(tmp_path, "")
    assert _ids(tmp_path, ", prior_trick: false") == unnamed
    assert _ids(tmp_path, ", prior_trick: true") != unnamed


def test_the_prior_trick_with_another_prior_is_one_line(tmp_path, capsys) -> None:
    path = tmp_path / "s.yaml"
    model = "{family: wae_gan, prior: sphere, prior_trick: true}"
    path.write_text(f"name: x\ndata: {{dataset: digits}}\nmodels: [{model}]\n")
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.splitlines() == [
        f"{path}: models[0].prior_trick: the prior trick adds a Gaussian prior's log-density; "
        "prior is sphere (allowed with prior gaussian only)"
    ]
