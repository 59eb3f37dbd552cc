"""One packed training step: encode, decode, the members' summed objective, one backward and
one vectorized optimiser update over the active members.

Shared by :func:`aesweep.trainables.packs.trainable.train_pack`, the pack-size timing of
``compute.pack: auto`` and ``benchmarks/bench_packs.py``, so all three time and run the same
computation. On CUDA the forward and backward can run as a captured CUDA graph
(:mod:`aesweep.trainables.packs.cuda_graph`); the update stays eager (it reads the members'
mask and step counts on the host).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from aesweep.models.packed import PackedAutoencoder, Parts
from aesweep.trainables.packs.optim import PackedOptimizer


class PackStep:
    """``step(x, stored) -> (parts, z)``: x (N, B, ...), stored (N, s, d) or None; parts
    (N,) each (detached), z the batch's latents (N, B, d), detached (the moving window
    pushes them)."""

    def __init__(
        self,
        pack: PackedAutoencoder,
        optimizer: PackedOptimizer,
        generators: Sequence[torch.Generator],
        active: torch.Tensor,
        *,
        cuda_graph: bool = False,
    ) -> None:
        self.pack, self.optimizer, self.generators = pack, optimizer, list(generators)
        self.active = active
        self.params = pack.parameter_list()
        self.cuda_graph = cuda_graph
        self._graphs: dict[tuple[torch.Size, torch.Size | None], object] = {}
        self.why_eager: str | None = None
        if cuda_graph:
            from aesweep.trainables.packs.cuda_graph import why_not_graphable

            self.why_eager = why_not_graphable(pack)

    def forward_backward(
        self, x: torch.Tensor, stored: torch.Tensor | None
    ) -> tuple[Parts, torch.Tensor, tuple[torch.Tensor, ...]]:
        """The objective and each member's gradient (the losses summed: member i's gradient
        is its own loss's), nothing applied."""
        z = self.pack.encode(x)
        x_hat = self.pack.decode(z)
        loss, parts = self.pack.training_loss(x, x_hat, z, stored, self.generators)
        grads = torch.autograd.grad(loss.sum(), self.params)
        return parts, z.detach(), grads

    def __call__(self, x: torch.Tensor, stored: torch.Tensor | None) -> tuple[Parts, torch.Tensor]:
        if self.cuda_graph and self.why_eager is None and x.device.type == "cuda":
            parts, z, grads = self._graphed(x, stored)
        else:
            parts, z, grads = self.forward_backward(x, stored)
        self.optimizer.step(grads, self.active)
        return parts, z

    def _graphed(
        self, x: torch.Tensor, stored: torch.Tensor | None
    ) -> tuple[Parts, torch.Tensor, tuple[torch.Tensor, ...]]:
        from aesweep.trainables.packs.cuda_graph import GraphedForwardBackward

        key = (x.shape, None if stored is None else stored.shape)
        graph = self._graphs.get(key)
        if graph is None:  # one capture per static shape (a pack's batches share one)
            graph = GraphedForwardBackward(self.forward_backward, x, stored)
            self._graphs[key] = graph
        assert isinstance(graph, GraphedForwardBackward)
        return graph(x, stored)
