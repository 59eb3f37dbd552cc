"""Shared set-up of the strategy tests: a tiny digits dataset, a family, a strategy."""

from __future__ import annotations

from typing import Any

import torch

from aesweep.catalog import MODELS, STRATEGIES
from aesweep.data.base import TensorDataset
from aesweep.data.config import DigitsConfig
from aesweep.data.loading import load_dataset
from aesweep.models.base import AutoencoderModel
from aesweep.models.loading import build_model
from aesweep.strategies.base import Strategy
from aesweep.strategies.loading import build_strategy


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
