"""The packed forward and backward as one captured CUDA graph (``torch.cuda.CUDAGraph``).

A packed step launches hundreds of small kernels (N members' MLP layers run as batched
matmuls, but the objective, autograd and the loss parts each launch their own); on a GPU the
launch overhead, not the arithmetic, bounds small members. Capturing the forward and backward
once and replaying it removes that overhead. What makes it correct:

* static shapes: one graph per (batch, stored-window) shape, inputs copied into the graph's
  own static buffers before each replay, outputs (parts, latents, gradients) read from the
  graph's static outputs (valid until the next replay; the optimiser consumes the gradients
  before then);
* warm-up on a side stream before the capture (cuBLAS handles, autograd's lazy state), as
  PyTorch's CUDA-graph notes require;
* nothing random or host-synchronising inside: the objectives of ``ae`` and ``cwae`` draw
  nothing per step and read nothing back to the host. ``wae_mmd`` and ``swae`` draw prior
  samples (and SW directions) from each member's own generator per step, ``cw2``'s batch
  bandwidth is a host scalar: those run eager (:func:`why_not_graphable` says why);
* the parameters are stepped in place by the eager optimiser (``copy_``), so the graph's
  parameter addresses stay valid across replays.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from aesweep.models.ae.model import AE
from aesweep.models.cw2.model import CW2
from aesweep.models.cwae.model import CWAE
from aesweep.models.packed import PackedAutoencoder, Parts

GRAPHABLE: tuple[type, ...] = (AE, CWAE)
"""Families whose packed objective draws nothing and syncs nothing per step."""
WARMUP_STEPS = 3

ForwardBackward = Callable[
    [torch.Tensor, torch.Tensor | None], tuple[Parts, torch.Tensor, tuple[torch.Tensor, ...]]
]


def why_not_graphable(pack: PackedAutoencoder) -> str | None:
    """None when the pack's step can be captured; else one line on why it runs eager."""
    family = pack.family
    if issubclass(family, CW2) or not issubclass(family, GRAPHABLE):
        return f"{family.__name__}'s objective draws or reads the host per step"
    if pack.device.type != "cuda":
        return "not on a CUDA device"
    return None


class GraphedForwardBackward:
    """``fn`` captured at the shapes of ``x`` and ``stored``; calling it copies the inputs in
    and replays."""

    def __init__(self, fn: ForwardBackward, x: torch.Tensor, stored: torch.Tensor | None) -> None:
        self.static_x = x.detach().clone()
        self.static_stored = None if stored is None else stored.detach().clone()
        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):  # gradients computed, never applied: no side effect
                fn(self.static_x, self.static_stored)
        torch.cuda.current_stream(x.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = fn(self.static_x, self.static_stored)

    def __call__(
        self, x: torch.Tensor, stored: torch.Tensor | None
    ) -> tuple[Parts, torch.Tensor, tuple[torch.Tensor, ...]]:
        self.static_x.copy_(x)
        if stored is not None:
            assert self.static_stored is not None
            self.static_stored.copy_(stored)
        self.graph.replay()
        return self.out
