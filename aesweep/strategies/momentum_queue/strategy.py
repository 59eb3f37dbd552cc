"""Momentum queue (MoCA §3 and its Algorithm 1, after MoCo): the comparison set is a queue of
the K most recent keys of a momentum encoder.

Per step, on B new images: q = E(x) (with gradient), k = Ẽ(x) (no gradient); the family's
distance gets q, the queue (before this batch is enqueued) and k as positives (MoCA: L_MoCo;
MMD / CW: the distance of q joined with the queue); one optimiser step; then
Ẽ ← m Ẽ + (1 - m) E with m = 1 - (1 - m0)(cos(π t/T) + 1)/2 (t: this step's index from 0, T:
the trial's total steps), and k is enqueued over the oldest keys. The queue starts as K prior
samples (MoCo's random unit vectors for a sphere prior). Queue, encoder and step count are
checkpointed.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from aesweep.data.base import TrainSplit
from aesweep.models.base import AutoencoderModel, LatentSet
from aesweep.strategies.base import StepSums, Strategy, epoch_batches, optimizer_step
from aesweep.strategies.momentum_queue.config import MomentumQueueConfig
from aesweep.strategies.moving_window.strategy import LatentBuffer


def momentum_at(step: int, total_steps: int, base: float) -> float:
    """MoCA's cosine schedule: m0 at step 0, rising to 1 at step T."""
    return 1.0 - (1.0 - base) * (math.cos(math.pi * step / total_steps) + 1.0) / 2.0


@torch.no_grad()
def momentum_update(target: nn.Module, source: nn.Module, m: float) -> None:
    """target ← m target + (1 - m) source for the parameters; buffers (BatchNorm statistics)
    are copied from ``source``."""
    for p_t, p_s in zip(target.parameters(), source.parameters(), strict=True):
        p_t.mul_(m).add_(p_s.detach(), alpha=1.0 - m)
    for b_t, b_s in zip(target.buffers(), source.buffers(), strict=True):
        b_t.copy_(b_s)


class MomentumQueue(Strategy):
    cfg: MomentumQueueConfig

    def __init__(
        self,
        cfg: MomentumQueueConfig,
        model: AutoencoderModel,
        train: TrainSplit,
        *,
        epochs: int | None = None,
    ) -> None:
        super().__init__(cfg, model, train, epochs=epochs)
        if epochs is None:
            raise ValueError("momentum_queue needs the trial's epochs for its momentum schedule")
        self.total_steps = max(1, epochs * (len(train) // cfg.batch_size))
        self.key_encoder = copy.deepcopy(model.net.encoder).requires_grad_(False)
        self.queue = LatentBuffer(model.sample_prior(cfg.size).detach())
        self.step = 0
        self.device = model.param_device()

    def momentum(self) -> float:
        """The momentum of the update after the current step."""
        return momentum_at(min(self.step, self.total_steps), self.total_steps, self.cfg.momentum)

    @torch.no_grad()
    def keys(self, model: AutoencoderModel, x: torch.Tensor) -> torch.Tensor:
        self.key_encoder.train(model.training)
        return model.project_latent(self.key_encoder(x))

    def train_epoch(
        self,
        model: AutoencoderModel,
        optimizer: torch.optim.Optimizer,
        train: TrainSplit,
        epoch: int,
    ) -> StepSums:
        sums = StepSums()
        for x in epoch_batches(train, self.cfg.batch_size):
            z = model.encode(x)
            k = self.keys(model, x)
            # The backward pass is over before push() overwrites queue rows in place.
            latents = LatentSet(z, stored=self.queue.rows, keys=k)
            sums.add(optimizer_step(model, optimizer, x, z, latents))
            momentum_update(self.key_encoder, model.net.encoder, self.momentum())
            self.queue.push(k)
            self.step += 1
        return sums

    def state_dict(self) -> dict[str, Any]:
        return {
            "key_encoder": self.key_encoder.state_dict(),
            "queue": self.queue.rows.detach().cpu(),
            "next": self.queue.next,
            "step": self.step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.key_encoder.load_state_dict(state["key_encoder"])
        self.queue = LatentBuffer(state["queue"].to(self.device))
        self.queue.next = int(state["next"])
        self.step = int(state["step"])
