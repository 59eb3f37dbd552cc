"""Momentum queue (MoCA §3 and its Algorithm 1, after MoCo): the comparison set is a queue of
the K most recent keys of a momentum encoder.

Per step, on B new images: q = E(x) (with gradient), k = Ẽ(x) (no gradient); the family's
distance gets q, the queue (before this batch is enqueued) and k as positives (MoCA: L_MoCo;
MMD / CW: the distance of q joined with the queue); one optimiser step; then
Ẽ ← m Ẽ + (1 - m) E with m = 1 - (1 - m0)(cos(π t/T) + 1)/2 (t: this step's index from 0, T:
the trial's total steps), and k is enqueued over the oldest keys. The queue starts as K prior
samples (MoCo's random unit vectors for a sphere prior). Queue, encoder and step count are
the strategy's state (checkpointed with the trial).
"""

from __future__ import annotations

import math

import torch

from aesweep.data.base import TrainSplit
from aesweep.models.base import AutoencoderModel, LatentSet
from aesweep.models.functional import NetworkCalls, encoder_part, network_state
from aesweep.strategies.base import SetStrategy, Tensors
from aesweep.strategies.momentum_queue.config import MomentumQueueConfig


def momentum_at(step: torch.Tensor, total_steps: int, base: float) -> torch.Tensor:
    """MoCA's cosine schedule: m0 at step 0, rising to 1 at step T (and staying there)."""
    t = step.clamp(max=total_steps) / total_steps
    return 1.0 - (1.0 - base) * (torch.cos(math.pi * t) + 1.0) / 2.0


class MomentumQueue(SetStrategy):
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
        self.fresh = cfg.batch_size
        self.set_rows = cfg.batch_size + cfg.size

    def init_state(
        self, model: AutoencoderModel, generator: torch.Generator, device: torch.device
    ) -> Tensors:
        """Ẽ = E, the queue K prior samples, step 0 (queue slots as keys: ``key.*``)."""
        params, buffers = network_state(model)
        queue = model.sample_prior(self.cfg.size, device=device, generator=generator)
        state: Tensors = {"queue": queue.to(next(iter(params.values())).dtype)}
        state["step"] = torch.zeros((), dtype=torch.float64, device=device)
        state.update({f"key.{k}": v for k, v in encoder_part(params).items()})
        state.update({f"keybuf.{k}": v for k, v in encoder_part(buffers).items()})
        return state

    @staticmethod
    def _split(state: Tensors, prefix: str) -> Tensors:
        return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}

    def keys(self, calls: NetworkCalls, state: Tensors, x: torch.Tensor) -> torch.Tensor:
        key_buffers = {k: v.clone() for k, v in self._split(state, "keybuf.").items()}
        with torch.no_grad():
            return calls.encode_with(self._split(state, "key."), key_buffers, x).detach()

    def latent_set(self, z: torch.Tensor, state: Tensors, keys: torch.Tensor | None) -> LatentSet:
        return LatentSet(z, stored=state["queue"], keys=keys)

    def advance(
        self,
        state: Tensors,
        z: torch.Tensor,
        keys: torch.Tensor | None,
        params: Tensors,
        buffers: Tensors,
    ) -> Tensors:
        assert keys is not None
        step = state["step"]
        m = momentum_at(step, self.total_steps, self.cfg.momentum)
        new: Tensors = {}
        for k, p in encoder_part(params).items():
            mk = m.to(p.dtype)
            new[f"key.{k}"] = mk * state[f"key.{k}"] + (1 - mk) * p.detach()
        for k, b in encoder_part(buffers).items():
            new[f"keybuf.{k}"] = b
        size, batch = self.cfg.size, len(keys)
        start = (step * batch).remainder(size).to(torch.int64)
        index = (start + torch.arange(batch, device=keys.device)).remainder(size)
        new["queue"] = state["queue"].index_copy(0, index, keys.to(state["queue"].dtype))
        new["step"] = step + 1
        return new
