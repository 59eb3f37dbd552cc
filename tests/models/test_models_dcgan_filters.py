"""The dcgan architecture's 5x5 filters (the model field ``kernel``, the WAE code's CelebA
``conv_filters_dim``): the sizes of every layer for 28x28 and 64x64 images, each convolution
against TensorFlow's ``same`` rule computed here (pad max((ceil(n/s) - 1) s + k - n, 0) in all,
the smaller half first), each transposed convolution against the adjoint of that convolution
(``tf.nn.conv2d_transpose`` is its gradient), the default 4x4 networks unchanged, trial ids
that change only at kernel 5, and a one-line refusal for an architecture with fixed filters."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aesweep.config.models import ARCHITECTURES
from aesweep.models.architectures.layers import CenterCrop
from aesweep.sweeps.cli import main
from tests.conftest import model_trial_ids


def tf_same_pads(n: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``same`` padding of one side of n pixels: (before, after)."""
    total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
    return total // 2, total - total // 2


def tf_conv(x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
    """``tf.nn.conv2d(padding='SAME')`` without bias: explicit zero padding, then a valid conv."""
    k = weight.shape[-1]
    top, bottom = tf_same_pads(x.shape[-2], k, stride)
    left, right = tf_same_pads(x.shape[-1], k, stride)
    return F.conv2d(F.pad(x, (left, right, top, bottom)), weight, stride=stride)


def tf_conv_transpose(y: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
    """``tf.nn.conv2d_transpose(padding='SAME')`` without bias, to ``stride`` x y's size: the
    gradient of the ``same`` convolution of that size with respect to its input."""
    out = (y.shape[0], weight.shape[1], y.shape[-2] * stride, y.shape[-1] * stride)
    x = torch.zeros(out, dtype=y.dtype, requires_grad=True)
    (grad,) = torch.autograd.grad(tf_conv(x, weight, stride), x, grad_outputs=y)
    return grad


def convs(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def sizes_through(layers: nn.Sequential, x: torch.Tensor, kind: type) -> list[tuple[int, ...]]:
    """The spatial size after each layer of ``kind`` (and its crop, if one follows)."""
    out: list[tuple[int, ...]] = []
    for layer in layers:
        x = layer(x)
        if isinstance(layer, kind) or (isinstance(layer, nn.Sequential) and kind is nn.Conv2d):
            out.append(tuple(x.shape[-2:]))
        elif isinstance(layer, CenterCrop) and out:
            out[-1] = tuple(x.shape[-2:])
    return out


@pytest.mark.parametrize(
    ("shape", "encoder", "decoder"),
    [
        ((1, 28, 28), [(14, 14), (7, 7), (4, 4), (2, 2)], [(14, 14), (28, 28), (28, 28)]),
        (
            (3, 64, 64),
            [(32, 32), (16, 16), (8, 8), (4, 4)],
            [(16, 16), (32, 32), (64, 64), (64, 64)],
        ),
    ],
)
def test_5x5_filters_keep_every_layers_size(shape, encoder, decoder) -> None:
    torch.manual_seed(0)
    net = ARCHITECTURES.load("dcgan")(shape, 8, width=1 / 32, sigmoid_output=True, kernel=5)
    assert all(m.kernel_size == (5, 5) for m in convs(net)) and len(convs(net)) == 4 + len(decoder)
    x = torch.rand(2, *shape)
    with torch.no_grad():
        z = net.encoder(x)
        assert z.shape == (2, 8)
        assert sizes_through(net.encoder, x, nn.Conv2d) == encoder
        assert sizes_through(net.decoder, z, nn.ConvTranspose2d) == decoder
        assert net.decoder(z).shape == x.shape


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64)], ids=["28", "64"])
def test_each_convolution_pads_as_tensorflows_same(shape, float64: None) -> None:
    """Every encoder convolution of the 5x5 network (inputs of 64, 32, 16, 8 or 28, 14, 7, 4
    pixels: odd and even totals of padding) equals the explicitly padded reference."""
    torch.manual_seed(0)
    net = ARCHITECTURES.load("dcgan")(shape, 8, width=1 / 32, sigmoid_output=True, kernel=5)
    x = torch.randn(2, *shape)
    for layer in net.encoder:
        if isinstance(layer, nn.Sequential):  # the padded convolution
            conv = layer[-1]
            expected = tf_conv(x, conv.weight, 2) + conv.bias.view(1, -1, 1, 1)
            torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)
        x = layer(x)
    assert tf_same_pads(64, 5, 2) == (1, 2) and tf_same_pads(7, 5, 2) == (2, 2)


@pytest.mark.parametrize("kernel", [4, 5])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64)], ids=["28", "64"])
def test_each_transposed_convolution_is_tensorflows_same(kernel, shape, float64: None) -> None:
    """Every transposed convolution of the decoder (stride 2, then the last at stride 1, each
    with the crop after it) equals the adjoint of the ``same`` convolution: the 4x4 networks as
    they were, and the 5x5 ones, whose odd padding leaves the extra pixel at the end."""
    torch.manual_seed(0)
    net = ARCHITECTURES.load("dcgan")(shape, 8, width=1 / 32, sigmoid_output=False, kernel=kernel)
    layers = list(net.decoder)
    y = layers[1](layers[0](torch.randn(2, 8)))  # the dense layer's output as a feature map
    strides = []
    for i, layer in enumerate(layers[2:], start=2):
        if isinstance(layer, nn.ConvTranspose2d):
            stride = layer.stride[0]
            got = layer(y)
            if isinstance(layers[i + 1], CenterCrop):  # the crop after it (the last: to the image)
                got = layers[i + 1](got)
            expected = tf_conv_transpose(y, layer.weight, stride) + layer.bias.view(1, -1, 1, 1)
            torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
            strides.append(stride)
        y = layer(y)
    assert strides == [2] * (3 if shape[1] == 64 else 2) + [1]
    assert y.shape == (2, *shape)


def test_kernel_4_is_the_default_network() -> None:
    """Named or not, kernel 4 builds the same modules with the same weights and outputs."""
    built = []
    for kwargs in ({}, {"kernel": 4}):
        torch.manual_seed(0)
        built.append(ARCHITECTURES.load("dcgan")((1, 28, 28), 8, width=1 / 16, **kwargs))
    default, named = built
    assert str(default) == str(named)
    assert all(m.kernel_size == (4, 4) for m in convs(default))
    for (k, a), (_, b) in zip(
        default.state_dict().items(), named.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k


def _ids(tmp_path, fields: str) -> list[str]:
    model = "{family: cwae, latent_dim: 8, architecture: dcgan" + fields + "}"
    return model_trial_ids(tmp_path, model)


def test_kernel_is_part_of_trial_ids_only_at_5(tmp_path) -> None:
    unnamed = _ids(tmp_path, "")
    assert _ids(tmp_path, ", kernel: 4") == unnamed
    assert _ids(tmp_path, ", kernel: 5") != unnamed


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            "{family: cwae, architecture: conv64, kernel: 5}",
            "models[0].kernel: architecture conv64 has fixed filters; kernel 5 needs "
            "architecture dcgan",
        ),
        (
            "{family: cwae, architecture: dcgan, kernel: 3}",
            "models[0].kernel: Input should be 4 or 5",
        ),
    ],
)
def test_a_kernel_the_architecture_cannot_take_is_one_line(
    model, expected, tmp_path, capsys
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"name: x\ndata: {{dataset: digits}}\nmodels: [{model}]\n")
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    (line,) = err.splitlines()
    assert line.removeprefix(f"{path}: ").startswith(expected), line
