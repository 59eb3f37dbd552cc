"""The papers' networks: a batch of each image size round-trips to its shape, the paper's layer
sizes at width 1, and a clear error for data that are not images."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aesweep.catalog import MODELS
from aesweep.config.models import ARCHITECTURES
from aesweep.data.base import TensorDataset
from aesweep.models.loading import build_model

CONV = ("dcgan", "conv_cifar", "conv64")
SIZES = [(1, 28, 28), (3, 32, 32), (3, 64, 64), (1, 8, 8)]


@pytest.mark.parametrize("name", ["mlp", *CONV])
@pytest.mark.parametrize("shape", SIZES, ids=lambda s: "x".join(map(str, s)))
def test_a_batch_round_trips_to_the_image_shape(name: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    net = ARCHITECTURES.load(name)(shape, 8, width=1 / 32, sigmoid_output=True)
    x = torch.rand(3, *shape)
    z = net.encoder(x)
    x_hat = net.decoder(z)
    assert z.shape == (3, 8)
    assert x_hat.shape == x.shape
    assert x_hat.min().item() >= 0.0 and x_hat.max().item() <= 1.0
    (x_hat - x).pow(2).sum().backward()  # every parameter gets a gradient
    assert all(p.grad is not None for p in net.parameters())


def linear_sizes(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def conv_channels(module: nn.Module) -> list[int]:
    kinds = (nn.Conv2d, nn.ConvTranspose2d)
    return [m.out_channels for m in module.modules() if isinstance(m, kinds)]


def test_paper_sizes_at_width_one() -> None:
    # WAE MNIST (dcgan_mod): 28 -> 14 -> 7 -> 4 -> 2 with 128..1024; decoder from 7x7x1024
    net = ARCHITECTURES.load("dcgan")((1, 28, 28), 8)
    assert conv_channels(net.encoder) == [128, 256, 512, 1024]
    assert linear_sizes(net.encoder) == [(1024 * 2 * 2, 8)]
    assert linear_sizes(net.decoder) == [(8, 1024 * 7 * 7)]
    assert conv_channels(net.decoder) == [512, 256, 1]
    # WAE CelebA: decoder from 8x8x1024 through 512, 256, 128
    net = ARCHITECTURES.load("dcgan")((3, 64, 64), 64)
    assert linear_sizes(net.decoder) == [(64, 1024 * 8 * 8)]
    assert conv_channels(net.decoder) == [512, 256, 128, 3]
    # MoW CIFAR-10: 8192 = 16 x 16 x 32 between the convolutions and the 128-unit layer
    net = ARCHITECTURES.load("conv_cifar")((3, 32, 32), 64)
    assert conv_channels(net.encoder) == [3, 32, 32, 32]
    assert linear_sizes(net.encoder) == [(8192, 128), (128, 64)]
    assert linear_sizes(net.decoder) == [(64, 128), (128, 8192)]
    assert conv_channels(net.decoder) == [32, 32, 32, 3]
    # LCW CelebA: 64 -> 4x4x1024 -> latent; dense to 8x8x1024, 512, 256, 128, then 3x3 to 3
    net = ARCHITECTURES.load("conv64")((3, 64, 64), 128)
    assert conv_channels(net.encoder) == [128, 256, 512, 1024]
    assert linear_sizes(net.encoder) == [(1024 * 4 * 4, 128)]
    assert conv_channels(net.decoder) == [512, 256, 128, 3]
    assert [m.kernel_size for m in net.decoder.modules() if isinstance(m, nn.ConvTranspose2d)][
        -1
    ] == (3, 3)


def test_width_scales_channels() -> None:
    net = ARCHITECTURES.load("dcgan")((1, 28, 28), 8, width=0.25)
    assert conv_channels(net.encoder) == [32, 64, 128, 256]


@pytest.mark.parametrize("name", CONV)
def test_conv_architectures_reject_data_that_are_not_images(name: str) -> None:
    cfg = MODELS.get("ae").model_validate({"family": "ae", "architecture": name})
    data = TensorDataset("gaussian_mixture", torch.randn(10, 1), torch.randn(5, 1))
    with pytest.raises(ValueError, match=rf"architecture '{name}' needs image samples.*'mlp'"):
        build_model(cfg, data)


def test_unknown_architecture_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown architecture 'resnet'.*conv64.*dcgan"):
        MODELS.get("cwae").model_validate({"family": "cwae", "architecture": "resnet"})
