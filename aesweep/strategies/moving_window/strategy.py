"""Moving window MoW_k(n) (MoW §3, Algorithm 1): one-element (or k-element) batches.

Each step reads k new images; the latent distance sees their k fresh latents (with gradient)
plus the n - k latents kept from earlier steps (no gradient, computed by the encoder of their
own step before its update); rec covers the k new images only. Afterwards the k fresh latents
replace the oldest stored ones (the stored rows are the n - k most recent latents; F ignores
their order). As in the authors' code the store is refilled with prior samples at each epoch
start. With k = n nothing is stored or drawn, and a step is the minibatch step: MoW(n, n)
equals minibatch(n) by construction (same image order, same draws, same set handed to F).
"""

from __future__ import annotations

import torch

from aesweep.data.base import TrainSplit
from aesweep.models.base import AutoencoderModel, LatentSet
from aesweep.strategies.base import SetStrategy, Tensors
from aesweep.strategies.moving_window.config import MovingWindowConfig


def push_latest(rows: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
    """The ``len(rows)`` most recent rows of ``rows`` followed by ``latents`` (the oldest
    dropped first)."""
    return torch.cat([rows, latents.to(rows.dtype)])[-len(rows) :]


class MovingWindow(SetStrategy):
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
        self.fresh, self.set_rows = cfg.fresh, cfg.window
        self.stored = cfg.window - cfg.fresh
        self.latent_dim = model.latent_dim

    def init_state(
        self, model: AutoencoderModel, generator: torch.Generator, device: torch.device
    ) -> Tensors:
        if not self.stored:
            return {}
        dtype = next(model.parameters()).dtype
        return {"rows": torch.zeros(self.stored, self.latent_dim, dtype=dtype, device=device)}

    def epoch_state(
        self,
        state: Tensors,
        model: AutoencoderModel,
        generator: torch.Generator,
        device: torch.device,
        *,
        first: bool,
    ) -> Tensors:
        """n - k prior samples (N(0, I), or on the sphere) at each epoch start, or at the
        first only without ``reset_each_epoch``."""
        if not self.stored or not (self.cfg.reset_each_epoch or first):
            return state
        rows = model.sample_prior(self.stored, device=device, generator=generator)
        return {"rows": rows.to(state["rows"].dtype)}

    def latent_set(self, z: torch.Tensor, state: Tensors, keys: torch.Tensor | None) -> LatentSet:
        return LatentSet(z, stored=state["rows"]) if self.stored else LatentSet(z)

    def advance(
        self,
        state: Tensors,
        z: torch.Tensor,
        keys: torch.Tensor | None,
        params: Tensors,
        buffers: Tensors,
    ) -> Tensors:
        return {"rows": push_latest(state["rows"], z)} if self.stored else state
