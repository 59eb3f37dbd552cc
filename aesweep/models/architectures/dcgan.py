"""The WAE paper's DCGAN-style networks (WAE §4 "Experimental setup", Appendix E; the MoW
paper's Fashion-MNIST networks, MoW Appendix A).

Encoder: 4 convolutions k x k, stride 2, ``same`` padding, 128-256-512-1024 channels, each with
BatchNorm and ReLU; a linear layer to the latent. Decoder ("dcgan_mod" in the WAE code): a
linear layer to 1024 x (H / 2^u) x (W / 2^u) with ReLU, u transposed convolutions k x k
stride 2 halving the channels (BatchNorm, ReLU), then a stride-1 k x k transposed convolution
to the image's channels and a sigmoid. u = 2 below 64 pixels (MNIST: 7 -> 14 -> 28, channels
512, 256) and 3 from 64 on (CelebA: 8 -> 16 -> 32 -> 64, channels 512, 256, 128). Sizes that
are not a multiple of 2^u are reached by rounding up and centre-cropping.

k is the WAE code's ``conv_filters_dim`` (``configs.py``): 4 on MNIST (the default), 5 on
CelebA. Every layer pads as TensorFlow's ``same`` (their ``ops.py`` ``conv2d`` and
``deconv2d``), so the sizes are the same for both: each convolution halves a side, each
stride-2 transposed convolution doubles it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from aesweep.models.architectures.layers import (
    CenterCrop,
    image_shape,
    same_conv_transpose,
    scaled,
    strided_encoder,
)

ENCODER_CHANNELS = (128, 256, 512, 1024)
DECODER_TOP = 1024


class DCGANAutoencoder(nn.Module):
    """``width`` scales every channel count (1.0: the paper's); ``kernel``: the filters' side
    (4 or 5)."""

    def __init__(
        self,
        sample_shape: tuple[int, ...],
        latent_dim: int,
        *,
        width: float = 1.0,
        sigmoid_output: bool = True,
        kernel: int = 4,
    ) -> None:
        super().__init__()
        c, h, w = image_shape(sample_shape, "dcgan")
        enc = strided_encoder(c, (h, w), ENCODER_CHANNELS, latent_dim, width, kernel)

        ups = 3 if min(h, w) >= 64 else 2
        start = (math.ceil(h / 2**ups), math.ceil(w / 2**ups))
        prev = scaled(DECODER_TOP, width)
        dec: list[nn.Module] = [
            nn.Linear(latent_dim, prev * start[0] * start[1]),
            nn.Unflatten(1, (prev, *start)),
            nn.ReLU(),
        ]
        size = start
        for i in range(1, ups + 1):
            channels = scaled(DECODER_TOP // 2**i, width)
            dec += same_conv_transpose(prev, channels, kernel, 2, size)
            dec += [nn.BatchNorm2d(channels), nn.ReLU()]
            prev, size = channels, (2 * size[0], 2 * size[1])
        # Stride 1, ``same``: kernel 4 gives one pixel more than its input (at the end, as in
        # TensorFlow), which the crop to the image takes off; kernel 5 gives its input's size.
        padding = (kernel - 1) // 2
        dec += [nn.ConvTranspose2d(prev, c, kernel, stride=1, padding=padding), CenterCrop(h, w)]
        if sigmoid_output:
            dec.append(nn.Sigmoid())
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
