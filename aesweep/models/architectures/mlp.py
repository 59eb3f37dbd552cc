"""The moving-window paper's MNIST MLP: D-200-200-200-latent, mirrored, sigmoid output (MoW §4)."""

from __future__ import annotations

import math

import torch
from torch import nn


class MLPAutoencoder(nn.Module):
    """Encoder and decoder MLPs sized from the sample shape; ``width`` scales the 200 units."""

    def __init__(
        self,
        sample_shape: tuple[int, ...],
        latent_dim: int,
        *,
        width: float = 1.0,
        sigmoid_output: bool = True,
        hidden: int = 200,
        depth: int = 3,
    ) -> None:
        super().__init__()
        self.sample_shape = sample_shape
        flat = math.prod(sample_shape)
        h = max(1, round(hidden * width))
        enc: list[nn.Module] = [nn.Flatten()]
        dec: list[nn.Module] = []
        sizes = [flat] + [h] * depth
        for a, b in zip(sizes, sizes[1:], strict=False):
            enc += [nn.Linear(a, b), nn.ReLU()]
        enc.append(nn.Linear(h, latent_dim))
        sizes = [latent_dim] + [h] * depth
        for a, b in zip(sizes, sizes[1:], strict=False):
            dec += [nn.Linear(a, b), nn.ReLU()]
        dec.append(nn.Linear(h, flat))
        if sigmoid_output:
            dec.append(nn.Sigmoid())
        dec.append(nn.Unflatten(1, sample_shape))
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
