"""Apply a spec's ``init`` to a built network (the kinds: :mod:`aesweep.config.init`).

:func:`initialise` looks the kind up in the ``INITS`` registry and calls its function on
every dense, convolution and transposed-convolution layer of the network; BatchNorm and
parameter-free modules are left as built. Draws use torch's global generator, so a trial's
seed decides them as it decides PyTorch's own initialisation.
"""

from __future__ import annotations

import torch
from torch import nn

from aesweep.config.init import INITS, GlorotUniformInit, Init, LayerKind, NormalInit, PytorchInit

LAYER_KINDS: dict[type[nn.Module], LayerKind] = {
    nn.Linear: "linear",
    nn.Conv2d: "conv",
    nn.ConvTranspose2d: "conv_transpose",
}
"""The weighted layers an initialisation touches, by the name ``init.truncated`` uses."""

TRUNCATION = 2.0
"""TensorFlow's ``truncated_normal`` redraws values beyond 2 standard deviations."""


def weighted_layers(net: nn.Module) -> list[tuple[LayerKind, nn.Module]]:
    """(kind, module) of every dense / convolution / transposed-convolution layer of ``net``."""
    return [(LAYER_KINDS[type(m)], m) for m in net.modules() if type(m) in LAYER_KINDS]


def initialise(net: nn.Module, cfg: Init) -> None:
    """Initialise the weighted layers of ``net`` as ``cfg`` says (in place)."""
    apply = INITS.load(cfg.kind)
    for kind, layer in weighted_layers(net):
        apply(layer, kind, cfg)


def keep_pytorch(layer: nn.Module, kind: LayerKind, cfg: PytorchInit) -> None:
    """PyTorch's own initialisation, done when the layer was built: nothing to change."""
    return None


def _zero_bias(layer: nn.Module) -> None:
    bias = getattr(layer, "bias", None)
    if isinstance(bias, torch.Tensor):
        nn.init.zeros_(bias)


@torch.no_grad()
def glorot_uniform(layer: nn.Module, kind: LayerKind, cfg: GlorotUniformInit) -> None:
    """U(±√(6 / (fan_in + fan_out))) weights (fans times the kernel's area), zero biases.

    ``nn.init.xavier_uniform_`` reads the fans off the weight's first two dimensions, which a
    transposed convolution stores swapped; the bound is symmetric in the two, so it is the same.
    """
    weight = layer.weight
    assert isinstance(weight, torch.Tensor)
    nn.init.xavier_uniform_(weight)
    _zero_bias(layer)


@torch.no_grad()
def normal(layer: nn.Module, kind: LayerKind, cfg: NormalInit) -> None:
    """N(0, std²) weights, truncated at ±2 std for the kinds in ``cfg.truncated``; zero biases."""
    weight = layer.weight
    assert isinstance(weight, torch.Tensor)
    if kind in cfg.truncated:
        bound = TRUNCATION * cfg.std
        nn.init.trunc_normal_(weight, mean=0.0, std=cfg.std, a=-bound, b=bound)
    else:
        nn.init.normal_(weight, mean=0.0, std=cfg.std)
    _zero_bias(layer)
