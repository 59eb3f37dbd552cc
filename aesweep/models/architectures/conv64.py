"""The LCW paper's CelebA networks (LCW "Architecture"; 64x64x3, as in the CWAE authors' code).

Encoder: 4 convolutions 4x4, stride 2, 128-256-512-1024 channels, each with BatchNorm and ReLU;
a linear layer to the latent. Decoder: a dense layer to 1024 x (H/8) x (W/8), 3 transposed
convolutions 4x4 stride 2 (512, 256, 128 channels) with BatchNorm and ReLU, and a 3x3
transposed convolution to the image's channels with tanh, mapped onto [0, 1] for images.
Sizes that are not a multiple of 8 are reached by rounding up and centre-cropping.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from aesweep.models.architectures.layers import (
    CenterCrop,
    TanhToUnit,
    image_shape,
    scaled,
    strided_encoder,
)

ENCODER_CHANNELS = (128, 256, 512, 1024)
DECODER_CHANNELS = (1024, 512, 256, 128)


class Conv64Autoencoder(nn.Module):
    """``width`` scales every channel count (1.0: the paper's)."""

    def __init__(
        self,
        sample_shape: tuple[int, ...],
        latent_dim: int,
        *,
        width: float = 1.0,
        sigmoid_output: bool = True,
    ) -> None:
        super().__init__()
        c, h, w = image_shape(sample_shape, "conv64")
        enc = strided_encoder(c, (h, w), ENCODER_CHANNELS, latent_dim, width)

        start = (math.ceil(h / 8), math.ceil(w / 8))
        chans = [scaled(ch, width) for ch in DECODER_CHANNELS]
        dec: list[nn.Module] = [
            nn.Linear(latent_dim, chans[0] * start[0] * start[1]),
            nn.Unflatten(1, (chans[0], *start)),
        ]
        for a, b in zip(chans, chans[1:], strict=False):
            dec += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.BatchNorm2d(b), nn.ReLU()]
        dec += [nn.ConvTranspose2d(chans[-1], c, 3, stride=1, padding=1), CenterCrop(h, w)]
        dec.append(TanhToUnit() if sigmoid_output else nn.Tanh())
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
