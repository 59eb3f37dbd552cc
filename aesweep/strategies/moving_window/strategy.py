"""Moving window MoW_k(n) (MoW §3, Algorithm 1): one-element (or k-element) batches.

Each step reads k new images; the latent distance sees their k fresh latents (with gradient)
plus the n - k latents kept from earlier steps (no gradient, computed by the encoder of their
own step before its update); rec covers the k new images only. Afterwards the k fresh latents
overwrite the oldest stored ones (a circular buffer). As in the authors' code the buffer is
refilled with prior samples at each epoch start. With k = n nothing is stored or drawn, and a
step is the minibatch step: MoW(n, n) equals minibatch(n) by construction (same image order,
same RNG draws, same set handed to the distance).
"""

from __future__ import annotations

from typing import Any

import torch

from aesweep.data.base import TrainSplit
from aesweep.models.base import AutoencoderModel, LatentSet
from aesweep.strategies.base import StepSums, Strategy, epoch_batches, optimizer_step
from aesweep.strategies.moving_window.config import MovingWindowConfig


class LatentBuffer:
    """The n - k stored latents: a circular buffer that always holds the most recent rows."""

    def __init__(self, rows: torch.Tensor) -> None:
        self.rows = rows
        self.next = 0  # index of the oldest row, overwritten first

    def __len__(self) -> int:
        return len(self.rows)

    def push(self, latents: torch.Tensor) -> None:
        """Overwrite the oldest rows with ``latents`` (detached); if there are more new rows
        than the buffer holds, only the most recent ones are kept."""
        size = len(self.rows)
        latents = latents.detach()[-size:]
        index = (self.next + torch.arange(len(latents), device=self.rows.device)) % size
        self.rows.index_copy_(0, index, latents.to(self.rows.dtype))
        self.next = (self.next + len(latents)) % size

    def ordered(self) -> torch.Tensor:
        """The rows from oldest to newest (for tests and inspection; F ignores the order)."""
        return torch.roll(self.rows, -self.next, dims=0)


class MovingWindow(Strategy):
    cfg: MovingWindowConfig

    def __init__(
        self,
        cfg: MovingWindowConfig,
        model: AutoencoderModel,
        train: TrainSplit,
        *,
        epochs: int | None = None,
    ) -> None:
        super().__init__(cfg, model, train, epochs=epochs)
        self.stored = cfg.window - cfg.fresh
        self.buffer: LatentBuffer | None = None
        self.device = model.param_device()

    def refill(self, model: AutoencoderModel) -> None:
        """n - k prior samples (N(0, I), or on the sphere for a sphere prior)."""
        self.buffer = LatentBuffer(model.sample_prior(self.stored).detach())

    def train_epoch(
        self,
        model: AutoencoderModel,
        optimizer: torch.optim.Optimizer,
        train: TrainSplit,
        epoch: int,
    ) -> StepSums:
        sums = StepSums()
        if self.stored and (self.cfg.reset_each_epoch or self.buffer is None):
            self.refill(model)
        for x in epoch_batches(train, self.cfg.fresh):
            z = model.encode(x)
            if self.buffer is None:  # k = n: exactly the minibatch step
                sums.add(optimizer_step(model, optimizer, x, z, z))
                continue
            # The backward pass is over before push() overwrites rows in place.
            latents = LatentSet(z, stored=self.buffer.rows)
            sums.add(optimizer_step(model, optimizer, x, z, latents))
            self.buffer.push(z)
        return sums

    def state_dict(self) -> dict[str, Any]:
        if self.buffer is None:
            return {}
        return {"rows": self.buffer.rows.detach().cpu(), "next": self.buffer.next}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.buffer = LatentBuffer(state["rows"].to(self.device))
        self.buffer.next = int(state["next"])
