"""The Latent Trick's generator network (LCW paper, "Architecture": five feed-forward ReLU
layers of 512 with batch normalisation, then a linear layer to the latent space)."""

from __future__ import annotations

import torch
from torch import nn

from aesweep.config.models import LatentTrickConfig


class LatentGenerator(nn.Module):
    """G: ε ~ N(0, I_noise_dim) -> a latent of dimension ``latent_dim``."""

    def __init__(self, cfg: LatentTrickConfig, latent_dim: int) -> None:
        super().__init__()
        self.noise_dim = cfg.noise_dim
        layers: list[nn.Module] = []
        width = cfg.noise_dim
        for _ in range(cfg.layers):
            layers += [nn.Linear(width, cfg.hidden), nn.BatchNorm1d(cfg.hidden), nn.ReLU()]
            width = cfg.hidden
        layers.append(nn.Linear(width, latent_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.net(noise)

    def sample_noise(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | None = None,
    ) -> torch.Tensor:
        """n draws of ε; with ``generator`` the draw is made on its device, then moved."""
        target = next(self.parameters()).device if device is None else device
        where = generator.device if generator is not None else target
        return torch.randn(n, self.noise_dim, generator=generator, device=where).to(target)
