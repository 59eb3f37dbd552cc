"""The packed epochs of the minibatch and moving-window strategies: the step loop of
:mod:`aesweep.strategies.minibatch.strategy` and :mod:`aesweep.strategies.moving_window.strategy`
over a leading member dimension, each member's images drawn in its own order from its own
generator (as its trial's ``epoch_batches`` draws them from the global RNG)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from aesweep.models.packed import PackedAutoencoder, Parts

StepFn = Callable[[torch.Tensor, torch.Tensor | None], tuple[Parts, torch.Tensor]]
"""(x (N, B, ...), stored (N, s, d) or None) -> (the step's parts (N,) each, the batch's
latents (N, B, d) detached): :class:`aesweep.trainables.packs.step.PackStep`."""


class PackSums:
    """Per-member device-side sums of the step parts, and which members saw a non-finite
    loss (:class:`aesweep.strategies.base.StepSums` over a member dimension)."""

    def __init__(self, members: int, device: torch.device) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.steps = 0
        self.nonfinite = torch.zeros(members, dtype=torch.bool, device=device)

    def add(self, parts: Parts) -> None:
        for k, v in parts.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
        self.nonfinite |= ~torch.isfinite(parts["loss"])
        self.steps += 1

    def means(self) -> list[dict[str, float]]:
        """One host sync: member i's per-step means, prefixed ``train_`` (float32, as the
        unpacked sums round them)."""
        keys = list(self.sums)
        if not keys:
            return [{} for _ in range(len(self.nonfinite))]
        values = (torch.stack([self.sums[k].float() for k in keys]) / max(1, self.steps)).T
        return [
            {f"train_{k}": v for k, v in zip(keys, row, strict=True)} for row in values.tolist()
        ]

    def diverged(self) -> list[bool]:
        return [bool(b) for b in self.nonfinite.tolist()]


def member_batches(
    train: torch.Tensor, n: int, generators: Sequence[torch.Generator]
) -> torch.Tensor:
    """(steps, N, n) row indices: each member's epoch of full batches, as ``epoch_batches``
    draws them (a fresh ``randperm`` from the member's generator; the partial batch dropped)."""
    steps = len(train) // n
    orders = [torch.randperm(len(train), generator=g, device=train.device) for g in generators]
    return torch.stack([o[: steps * n].view(steps, n) for o in orders], 1)


class PackedStrategy:
    """minibatch (``window`` None) or moving window MoW_k(n) for every member at once."""

    def __init__(self, kind: str, cfg: Any) -> None:
        self.kind = kind
        if kind == "minibatch":
            self.fresh, self.stored, self.reset = cfg.batch_size, 0, False
        else:
            self.fresh, self.stored = cfg.fresh, cfg.window - cfg.fresh
            self.reset = cfg.reset_each_epoch
        self.buffer: torch.Tensor | None = None  # (N, stored, d)
        self.next = 0

    def train_epoch(
        self,
        pack: PackedAutoencoder,
        train: torch.Tensor,
        generators: Sequence[torch.Generator],
        step: StepFn,
    ) -> PackSums:
        sums = PackSums(len(pack), pack.device)
        if self.stored and (self.reset or self.buffer is None):
            self.buffer = pack.sample_prior(self.stored, generators).detach()
            self.next = 0
        for index in member_batches(train, self.fresh, generators):
            parts, z = step(train[index], self.buffer)
            sums.add(parts)
            if self.buffer is not None:
                self.push(z)
        return sums

    def push(self, latents: torch.Tensor) -> None:
        """:meth:`LatentBuffer.push` for every member (the same slots: the same k and n)."""
        assert self.buffer is not None
        size = self.buffer.shape[1]
        latents = latents[:, -size:]
        index = (self.next + torch.arange(latents.shape[1], device=self.buffer.device)) % size
        self.buffer.index_copy_(1, index, latents.to(self.buffer.dtype))
        self.next = (self.next + latents.shape[1]) % size

    def state_dict(self) -> dict[str, Any]:
        return {} if self.buffer is None else {"rows": self.buffer.cpu(), "next": self.next}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        if state:
            self.buffer = state["rows"].to(device)
            self.next = int(state["next"])
