"""An autoencoder's networks called as pure functions of their parameters and buffers
(``torch.func.functional_call``), for the one training step (aesweep/trainables/step/).

Parameters and buffers are keyed by their names in ``model.net`` (``encoder.0.weight``, ...).
BatchNorm updates its running statistics in place: callers hand in copies they own (the step
clones the buffers inside its transform and returns the updated copies as new state).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from aesweep.models.base import AutoencoderModel

Tensors = dict[str, torch.Tensor]


def _part(named: Tensors, prefix: str) -> Tensors:
    n = len(prefix)
    return {k[n:]: v for k, v in named.items() if k.startswith(prefix)}


class NetworkCalls:
    """``encode`` and ``decode`` of ``model`` as functions of (params, buffers, input)."""

    def __init__(self, model: AutoencoderModel) -> None:
        self.model = model
        self.encoder: nn.Module = model.net.encoder
        self.decoder: nn.Module = model.net.decoder

    def encode(self, params: Tensors, buffers: Tensors, x: torch.Tensor) -> torch.Tensor:
        """Latents on the prior's support (the sphere projection included)."""
        h = functional_call(
            self.encoder, (_part(params, "encoder."), _part(buffers, "encoder.")), (x,)
        )
        return self.model.project_latent(h)

    def encode_with(self, params: Tensors, buffers: Tensors, x: torch.Tensor) -> torch.Tensor:
        """The encoder with parameters keyed without the ``encoder.`` prefix (a momentum
        encoder's own copy)."""
        return self.model.project_latent(functional_call(self.encoder, (params, buffers), (x,)))

    def decode(self, params: Tensors, buffers: Tensors, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = functional_call(
            self.decoder, (_part(params, "decoder."), _part(buffers, "decoder.")), (z,)
        )
        return out


def network_state(model: AutoencoderModel) -> tuple[Tensors, Tensors]:
    """Copies of ``model.net``'s parameters and buffers (detached), keyed by name."""
    params = {k: v.detach().clone() for k, v in model.net.named_parameters()}
    buffers = {k: v.detach().clone() for k, v in model.net.named_buffers()}
    return params, buffers


@torch.no_grad()
def load_network_state(model: AutoencoderModel, params: Tensors, buffers: Tensors) -> None:
    """Write ``params`` and ``buffers`` into ``model.net`` (evaluation, image grids)."""
    for k, p in model.net.named_parameters():
        p.copy_(params[k])
    for k, b in model.net.named_buffers():
        b.copy_(buffers[k])


def encoder_part(named: Tensors) -> Tensors:
    """The ``encoder.`` entries of ``named`` without the prefix."""
    return _part(named, "encoder.")
