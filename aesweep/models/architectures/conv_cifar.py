"""The moving-window paper's CIFAR-10 networks (MoW Appendix A, "CIFAR-10"; 32x32x3, latent 64).

Encoder: 4 convolutions 2x2 with ``same`` padding and ReLU, channels 3, 32, 32, 32, the second
with stride 2; a fully connected ReLU layer of 128; a linear layer to the latent.
Decoder: fully connected ReLU layers of 128 and 32 x (H/2) x (W/2) (8192 for 32x32), two
stride-1 2x2 (transposed) convolutions of 32 channels with ReLU, a 3x3 stride-2 transposed
convolution of 32 channels with ReLU, and a 2x2 convolution to the image's channels with a
sigmoid. A stride-1 transposed convolution is a convolution, so those are written as ``same``
convolutions; the 3x3 stride-2 one gives 2s + 1 pixels and the final 2x2 one brings it to 2s.
Any image size works; odd sizes are centre-cropped.
"""

from __future__ import annotations

import torch
from torch import nn

from aesweep.models.architectures.layers import (
    CenterCrop,
    image_shape,
    same_conv,
    same_out,
    scaled,
)


class ConvCifarAutoencoder(nn.Module):
    """``width`` scales the channel counts and the hidden fully connected layer."""

    def __init__(
        self,
        sample_shape: tuple[int, ...],
        latent_dim: int,
        *,
        width: float = 1.0,
        sigmoid_output: bool = True,
    ) -> None:
        super().__init__()
        c, h, w = image_shape(sample_shape, "conv_cifar")
        first, ch, fc = scaled(3, width), scaled(32, width), scaled(128, width)
        half = (same_out(h, 2), same_out(w, 2))
        self.encoder = nn.Sequential(
            same_conv(c, first, 2, 1, (h, w)),
            nn.ReLU(),
            same_conv(first, ch, 2, 2, (h, w)),
            nn.ReLU(),
            same_conv(ch, ch, 2, 1, half),
            nn.ReLU(),
            same_conv(ch, ch, 2, 1, half),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(ch * half[0] * half[1], fc),
            nn.ReLU(),
            nn.Linear(fc, latent_dim),
        )
        dec: list[nn.Module] = [
            nn.Linear(latent_dim, fc),
            nn.ReLU(),
            nn.Linear(fc, ch * half[0] * half[1]),
            nn.ReLU(),
            nn.Unflatten(1, (ch, *half)),
            same_conv(ch, ch, 2, 1, half),
            nn.ReLU(),
            same_conv(ch, ch, 2, 1, half),
            nn.ReLU(),
            nn.ConvTranspose2d(ch, ch, 3, stride=2),  # s -> 2s + 1
            nn.ReLU(),
            nn.Conv2d(ch, c, 2),  # 2s + 1 -> 2s
            CenterCrop(h, w),
        ]
        if sigmoid_output:
            dec.append(nn.Sigmoid())
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
