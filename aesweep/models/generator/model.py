"""The RSR toy's generator network (RSR Figure 1; the authors' ``rsr_toy.py`` shape).

Linear/LeakyReLU layers 1-32-64-128-128, a BatchNorm1d, a Linear to the sample size. The
BatchNorm is kept on running statistics by the training function (normalise with the running
mean/var, update them once per step from the step's samples), so that a Run-Sort-ReRun rerun
reproduces its run and one-sample chunks are possible.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from aesweep.models.generator.config import GeneratorConfig


class Generator(nn.Module):
    """G(ε), ε ~ N(0, I_latent_dim); outputs have the data's sample shape."""

    def __init__(
        self, cfg: GeneratorConfig, sample_shape: tuple[int, ...], *, is_image: bool
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.latent_dim = cfg.latent_dim
        self.sample_shape = sample_shape
        layers: list[nn.Module] = []
        sizes = (cfg.latent_dim, *cfg.hidden)
        for a, b in zip(sizes, sizes[1:], strict=False):
            layers += [nn.Linear(a, b), nn.LeakyReLU(cfg.negative_slope)]
        if cfg.batch_norm:
            layers.append(nn.BatchNorm1d(sizes[-1]))
        layers.append(nn.Linear(sizes[-1], math.prod(sample_shape)))
        if is_image:
            layers.append(nn.Sigmoid())
        layers.append(nn.Unflatten(1, sample_shape))
        self.net = nn.Sequential(*layers)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.net(noise)

    def sample_noise(self, n: int, *, device: torch.device | None = None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, device=device or self.param_device())

    def param_device(self) -> torch.device:
        return next(self.parameters()).device
