"""Shape helpers the convolutional architectures share: TensorFlow's ``same`` padding (the
papers' code is TensorFlow / Keras), a centre crop back to the image size, channel scaling."""

from __future__ import annotations

import math

import torch
from torch import nn


def image_shape(sample_shape: tuple[int, ...], architecture: str) -> tuple[int, int, int]:
    """(channels, height, width), or a clear error for data that are not images."""
    if len(sample_shape) != 3:
        raise ValueError(
            f"architecture {architecture!r} needs image samples (channels, height, width); "
            f"this dataset's samples have shape {tuple(sample_shape)}: use architecture 'mlp'"
        )
    c, h, w = sample_shape
    return c, h, w


def scaled(channels: int, width: float) -> int:
    """``channels`` scaled by the spec's ``width`` (at least 1)."""
    return max(1, round(channels * width))


def same_out(size: int, stride: int) -> int:
    """Output size of a ``same``-padded convolution: ceil(size / stride)."""
    return math.ceil(size / stride)


def same_conv(
    c_in: int, c_out: int, kernel: int, stride: int, size: tuple[int, int]
) -> nn.Sequential:
    """Conv2d with TensorFlow's ``same`` padding for an input of spatial ``size`` (the extra
    pixel of an odd total padding goes right / bottom, as in TensorFlow)."""
    pads: list[int] = []
    for n in reversed(size):  # ZeroPad2d takes (left, right, top, bottom)
        total = max((same_out(n, stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    left, right, top, bottom = pads
    return nn.Sequential(
        nn.ZeroPad2d((left, right, top, bottom)), nn.Conv2d(c_in, c_out, kernel, stride)
    )


def same_conv_transpose(
    c_in: int, c_out: int, kernel: int, stride: int, size: tuple[int, int]
) -> list[nn.Module]:
    """ConvTranspose2d with TensorFlow's ``same`` padding (``tf.nn.conv2d_transpose``, the
    adjoint of a ``same`` convolution from ``size`` x stride to ``size``): the output is
    ``size`` x stride. TensorFlow pads that convolution max(kernel - stride, 0) in all, the
    smaller half before; PyTorch's ``padding`` takes the same off both ends, so an odd total
    leaves one pixel too many at the end (right / bottom), which a crop takes off. An even total
    (4x4, stride 2) is the one layer alone."""
    total = max(kernel - stride, 0)
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(c_in, c_out, kernel, stride=stride, padding=total // 2)
    ]
    if total % 2:
        layers.append(CenterCrop(size[0] * stride, size[1] * stride))  # keeps the first pixels
    return layers


class CenterCrop(nn.Module):
    """Crop the last two dimensions to (height, width), centred (a decoder that upsamples by
    powers of two overshoots sizes such as 28 or 7; the crop makes the shapes round-trip)."""

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top = (x.shape[-2] - self.height) // 2
        left = (x.shape[-1] - self.width) // 2
        return x[..., top : top + self.height, left : left + self.width]


class TanhToUnit(nn.Module):
    """tanh mapped onto [0, 1], (tanh(x) + 1) / 2: the CWAE / LCW CelebA output layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(x) + 1.0) / 2.0


def strided_encoder(
    channels_in: int,
    size: tuple[int, int],
    channels: tuple[int, ...],
    latent_dim: int,
    width: float,
    kernel: int = 4,
) -> list[nn.Module]:
    """``kernel`` x ``kernel`` (4x4 unless told) stride-2 "same" convolutions with BatchNorm
    and ReLU, then a linear map to the latent (the WAE DCGAN and LCW CelebA encoders);
    ``width`` scales the channel counts."""
    layers: list[nn.Module] = []
    prev = channels_in
    for ch in (scaled(c, width) for c in channels):
        layers += [same_conv(prev, ch, kernel, 2, size), nn.BatchNorm2d(ch), nn.ReLU()]
        size, prev = (same_out(size[0], 2), same_out(size[1], 2)), ch
    return [*layers, nn.Flatten(), nn.Linear(prev * size[0] * size[1], latent_dim)]
