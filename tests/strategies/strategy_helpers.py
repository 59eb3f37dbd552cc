"""Shared set-up of the strategy tests: a tiny digits dataset, a family, a strategy."""

from __future__ import annotations

from typing import Any

import torch

from aesweep.catalog import MODELS, STRATEGIES
from aesweep.config.trial import TrialConfig
from aesweep.data.base import TensorDataset
from aesweep.data.config import DigitsConfig
from aesweep.data.loading import load_dataset
from aesweep.models.base import AutoencoderModel
from aesweep.models.loading import build_model
from aesweep.strategies.base import Strategy
from aesweep.strategies.loading import build_strategy
from aesweep.trainables.step.members import SteppedMembers


def digits(train_size: int = 256, test_size: int = 64) -> TensorDataset:
    return load_dataset(DigitsConfig(train_size=train_size, test_size=test_size))


def build(
    family: str,
    strategy: dict[str, Any],
    data: TensorDataset,
    *,
    seed: int = 0,
    lr: float = 0.05,
    epochs: int = 2,
    dtype: torch.dtype = torch.float32,
    lam: float | None = None,
    **model_fields: Any,
) -> tuple[AutoencoderModel, torch.optim.Optimizer, Strategy]:
    """A seeded model (latent_dim 8, width 0.25 unless given; ``lam``: its λ), SGD, and the
    strategy."""
    torch.manual_seed(seed)
    fields = {"latent_dim": 8, "width": 0.25, **model_fields}
    if lam is not None:
        fields["lambda"] = lam
    model = build_model(MODELS.get(family).model_validate(fields), data).to(dtype)
    cfg = STRATEGIES.get(strategy["kind"]).model_validate(strategy)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    return model, optimizer, build_strategy(cfg, model, data.train.to(dtype), epochs=epochs)


def parameters(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def cw_by_hand(z: torch.Tensor) -> torch.Tensor:
    """REFERENCE's closed-form Cramér-Wold distance to N(0, I), γ from the rows passed in."""
    n, d = z.shape
    gamma, k = (4 / (3 * n)) ** 0.4, 1 / (2 * d - 3)
    sq = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    return (
        (1 + gamma) ** -0.5
        + ((gamma + k * sq) ** -0.5).sum() / n**2
        - 2 * ((gamma + 0.5 + k * (z**2).sum(1)) ** -0.5).sum() / n
    )


def stepped(
    family: str,
    strategy: dict[str, Any],
    *,
    train_size: int = 256,
    seed: int = 0,
    lr: float = 0.05,
    epochs: int = 2,
    lam: float | None = None,
    data: dict[str, Any] | None = None,
    optimizer: dict[str, Any] | None = None,
    **model_fields: Any,
) -> SteppedMembers:
    """One digits trial (latent_dim 8, width 0.25 unless given; SGD) as the one step's
    trainer (eager): what a trial of a set strategy runs. ``lr`` 0 (no spec allows it) leaves
    the networks as built: every step sees the first step's encoder."""
    fields = {"family": family, "latent_dim": 8, "width": 0.25, **model_fields}
    if lam is not None:
        fields["lambda"] = lam
    trial = TrialConfig.model_validate(
        {
            "trial_id": "t",
            "sweep": "s",
            "data": data or {"dataset": "digits", "train_size": train_size, "test_size": 64},
            "model": fields,
            "strategy": strategy,
            "optimizer": optimizer or {"name": "sgd", "lr": lr or 1.0},
            "epochs": epochs,
            "seed": seed,
            "evaluation": {},
            "checkpoint": {},
        }
    )
    loaded = load_dataset(trial.data)
    if isinstance(loaded.train, torch.Tensor):
        loaded = loaded.to(torch.get_default_dtype())
    members = SteppedMembers([trial], loaded, torch.device("cpu"))
    if optimizer is None:
        members.rates = [lr]
    return members


def generator_copy(members: SteppedMembers) -> torch.Generator:
    """A generator in the member's current state: its next draws, seen in advance."""
    g = torch.Generator()
    g.set_state(members.generators[0].get_state())
    return g
