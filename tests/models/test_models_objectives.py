"""Each family's training objective against its formula (REFERENCE.md "Models", "Distances"),
written out here with loops and plain torch ops on a tiny fixed batch with fixed weights.

The networks give z = E(x) and x̂ = D(z); every objective is then recomputed from z, x̂, x (and,
for the families that draw a prior sample or directions, the same draws: the global RNG is
seeded identically before the model's call and before the test's draws).
"""

from __future__ import annotations

import math

import pytest
import torch

from aesweep.catalog import MODELS
from aesweep.data.base import TensorDataset
from aesweep.models.loading import build_model

N, D_LATENT = 6, 8
SHAPE = (1, 4, 4)  # 16 "pixels"


def make(family: str, **fields: object):
    """A model on a fixed dataset, fixed weights, and the batch's x, z, x̂."""
    torch.manual_seed(0)
    train = torch.rand(40, *SHAPE)
    data = TensorDataset("fixed", train, torch.rand(10, *SHAPE))
    cfg = MODELS.get(family).model_validate(
        {"family": family, "latent_dim": D_LATENT, "width": 0.1, **fields}
    )
    model = build_model(cfg, data)
    x = train[:N]
    z = model.encode(x)
    return model, data, x, z.detach(), model.decode(z).detach()


def rec_formula(x: torch.Tensor, x_hat: torch.Tensor, form: str) -> float:
    per_image = [sum(float(v) ** 2 for v in (x[i] - x_hat[i]).flatten()) for i in range(len(x))]
    mean = sum(per_image) / len(per_image)
    return {"sqrt_sum": math.sqrt(mean), "wae_scaled": 0.05 * mean, "sum": mean}[form]


def sq(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a.double() - b.double()) ** 2).sum())


def cw_normality_formula(z: torch.Tensor) -> float:
    n, d = z.shape
    gamma = (4 / (3 * n)) ** 0.4
    k = 1 / (2 * d - 3)
    pairs = sum((gamma + k * sq(z[i], z[j])) ** -0.5 for i in range(n) for j in range(n))
    origin = sum((gamma + 0.5 + k * float((z[i].double() ** 2).sum())) ** -0.5 for i in range(n))
    return (1 + gamma) ** -0.5 + pairs / n**2 - 2 / n * origin


def cw_two_sample_formula(a: torch.Tensor, b: torch.Tensor, gamma: float) -> float:
    a, b = a.flatten(1), b.flatten(1)
    dim = a.shape[1]

    def phi(s: float) -> float:
        return (1 + 4 * s / (2 * dim - 3)) ** -0.5

    def mean_phi(u: torch.Tensor, v: torch.Tensor) -> float:
        return sum(phi(sq(ui, vj) / (4 * gamma)) for ui in u for vj in v) / (len(u) * len(v))

    inner = mean_phi(a, a) + mean_phi(b, b) - 2 * mean_phi(a, b)
    return inner / (2 * math.sqrt(math.pi * gamma))


@pytest.mark.parametrize("form", ["sqrt_sum", "wae_scaled", "sum"])
def test_ae_objective_is_the_reconstruction_form(form: str) -> None:
    model, _, x, z, x_hat = make("ae", reconstruction=form)
    loss, parts = model.training_loss(x, x_hat, z)
    assert loss.item() == pytest.approx(rec_formula(x, x_hat, form), rel=1e-5)
    assert float(parts["latent"]) == 0.0


@pytest.mark.parametrize("prior", ["gaussian", "sphere"])
def test_wae_mmd_objective(prior: str) -> None:
    model, _, x, z, x_hat = make("wae_mmd", prior=prior, **{"lambda": 3.0})
    torch.manual_seed(7)
    loss, _ = model.training_loss(x, x_hat, z)
    torch.manual_seed(7)
    p = torch.randn(N, D_LATENT)
    if prior == "sphere":
        p = p / p.norm(dim=1, keepdim=True)
    c_base = 2.0 if prior == "sphere" else 2.0 * D_LATENT  # 2 d σ², σ = 1
    mmd = 0.0
    for s in (0.1, 0.2, 0.5, 1, 2, 5, 10):
        c = c_base * s

        def k(a: torch.Tensor, b: torch.Tensor, c: float = c) -> float:
            return c / (c + sq(a, b))

        self_terms = sum(
            k(z[i], z[j]) + k(p[i], p[j]) for i in range(N) for j in range(N) if i != j
        )
        cross = sum(k(z[i], p[j]) for i in range(N) for j in range(N))
        mmd += self_terms / (N * (N - 1)) - 2 / N**2 * cross
    expected = rec_formula(x, x_hat, "sqrt_sum") + 3.0 * mmd
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_cwae_objective() -> None:
    model, _, x, z, x_hat = make("cwae", reconstruction="sum", **{"lambda": 2.0})
    loss, parts = model.training_loss(x, x_hat, z)
    expected = rec_formula(x, x_hat, "sum") + 2.0 * math.log(cw_normality_formula(z))
    assert float(parts["latent"]) == pytest.approx(math.log(cw_normality_formula(z)), rel=1e-5)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_swae_objective_uses_a_fresh_prior_sample_then_fresh_directions() -> None:
    model, _, x, z, x_hat = make("swae", projections=5, **{"lambda": 4.0})
    torch.manual_seed(11)
    loss, _ = model.training_loss(x, x_hat, z)
    torch.manual_seed(11)
    p = torch.randn(N, D_LATENT)
    g = torch.randn(5, D_LATENT)
    theta = g / g.norm(dim=1, keepdim=True)
    sw = 0.0
    for t in theta:
        zp = sorted(float(v) for v in z.detach() @ t)
        pp = sorted(float(v) for v in p @ t)
        sw += sum((a - b) ** 2 for a, b in zip(zp, pp, strict=True)) / N
    sw /= len(theta)
    expected = rec_formula(x, x_hat, "sqrt_sum") + 4.0 * sw
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # another call draws other directions and another prior sample
    assert model.training_loss(x, x_hat, z)[0].item() != pytest.approx(loss.item(), rel=1e-6)


@pytest.mark.parametrize("gamma_rule", ["fixed", "batch"])
def test_cw2_objective(gamma_rule: str) -> None:
    model, data, x, z, x_hat = make("cw2", gamma=gamma_rule, **{"lambda": 0.5})
    loss, parts = model.training_loss(x, x_hat, z)
    if gamma_rule == "fixed":
        sigma = float(data.train.double().std())  # the training pixels' σ
    else:
        joined = torch.cat([x_hat.detach(), x]).double()
        sigma = float(joined.std())
    gamma = (1.06 * sigma * N**-0.2) ** 2  # Silverman, N = the batch
    rec = math.log(cw_two_sample_formula(x_hat.detach(), x, gamma))
    assert float(parts["rec"]) == pytest.approx(rec, rel=1e-5)
    expected = rec + 0.5 * math.log(cw_normality_formula(z))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def discriminator_logits(model, z: torch.Tensor) -> torch.Tensor:
    """The discriminator's forward written out: ReLU(W h + b) per hidden layer, then W h + b."""
    linears = [m for m in model.discriminator.modules() if isinstance(m, torch.nn.Linear)]
    h = z.detach().double()
    for i, lin in enumerate(linears):
        h = h @ lin.weight.detach().double().T + lin.bias.detach().double()
        if i < len(linears) - 1:
            h = torch.clamp(h, min=0)
    return h.squeeze(1)


def test_wae_gan_objectives_of_the_autoencoder_and_the_discriminator() -> None:
    model, _, x, z, x_hat = make(
        "wae_gan", reconstruction="wae_scaled", discriminator={"width": 16}, **{"lambda": 10.0}
    )
    loss, parts = model.training_loss(x, x_hat, z)
    d_z = discriminator_logits(model, z)
    sigmoid = [1 / (1 + math.exp(-float(v))) for v in d_z]
    penalty = -sum(math.log(s) for s in sigmoid) / N  # non-saturating: -log D(z)
    assert float(parts["latent"]) == pytest.approx(penalty, rel=1e-5)
    expected = rec_formula(x, x_hat, "wae_scaled") + 10.0 * penalty
    assert loss.item() == pytest.approx(expected, rel=1e-5)

    # the discriminator's loss and accuracy, at its weights before its step
    before = [m for m in model.discriminator.modules() if isinstance(m, torch.nn.Linear)]
    frozen = type(model.discriminator)(model.cfg.discriminator, D_LATENT)
    frozen.load_state_dict(model.discriminator.state_dict())
    torch.manual_seed(3)
    out = model.after_step(x, z.detach())
    torch.manual_seed(3)
    p = torch.randn(N, D_LATENT)
    holder = type("Holder", (), {"discriminator": frozen})
    d_p, d_z = discriminator_logits(holder, p), discriminator_logits(holder, z)
    real = -sum(math.log(1 / (1 + math.exp(-float(v)))) for v in d_p) / N
    fake = -sum(math.log(1 - 1 / (1 + math.exp(-float(v)))) for v in d_z) / N
    assert float(out["disc_loss"]) == pytest.approx(10.0 * (real + fake), rel=1e-5)
    accuracy = (sum(float(v) > 0 for v in d_p) / N + sum(float(v) < 0 for v in d_z) / N) / 2
    assert float(out["disc_acc"]) == pytest.approx(accuracy)
    assert before[0].weight is model.discriminator.net[0].weight  # stepped in place
    assert not torch.equal(frozen.net[0].weight, model.discriminator.net[0].weight)
