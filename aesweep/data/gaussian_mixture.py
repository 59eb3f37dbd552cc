"""A 1-D Gaussian mixture sampled with a fixed seed (RSR paper, Figure 1: 4 modes, σ = 0.2)."""

from __future__ import annotations

import torch

from aesweep.data.base import TensorDataset
from aesweep.data.config import GaussianMixtureConfig


def sample_mixture(
    means: tuple[float, ...], std: float, n: int, generator: torch.Generator
) -> torch.Tensor:
    """``n`` draws, shape (n, 1), from the equal-weight mixture of N(mean, std²)."""
    centres = torch.tensor(means, dtype=torch.float32)
    pick = torch.randint(len(means), (n,), generator=generator)
    return (centres[pick] + std * torch.randn(n, generator=generator)).unsqueeze(1)


def load_gaussian_mixture(cfg: GaussianMixtureConfig) -> TensorDataset:
    g = torch.Generator().manual_seed(cfg.sample_seed)
    train = sample_mixture(cfg.means, cfg.std, cfg.train_size or 10_000, g)
    test = sample_mixture(cfg.means, cfg.std, cfg.test_size or 2_000, g)
    return TensorDataset("gaussian_mixture", train, test)
