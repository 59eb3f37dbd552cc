"""MoCA: rec + λ L_MoCo (MoCA §3; REFERENCE: Contrastive uniformity), latents on the sphere.

    L_MoCo = (1/B) Σ_i log((1/K) Σ_j exp(q_i·Q_j/τ)) - (1/B) Σ_i q_i·k_i/τ

q: this step's latents, Q: the queue of momentum keys, k: the momentum keys of the same images,
all handed over by the ``momentum_queue`` strategy in a :class:`LatentSet`. The momentum
encoder and the queue are strategy state (aesweep/strategies/momentum_queue.py).
"""

from __future__ import annotations

import torch

from aesweep.distances import contrastive_uniformity
from aesweep.models.base import AutoencoderModel, Draws, LatentSet
from aesweep.models.moca.config import MoCAConfig


class MoCA(AutoencoderModel):
    cfg: MoCAConfig

    def latent_loss(self, z_set: torch.Tensor, draws: Draws | None = None) -> torch.Tensor:
        """Contrastive uniformity of a set against itself (minibatch): each row against the
        N - 1 others, its own pair left out (MoCA §3: the negatives are other samples)."""
        return contrastive_uniformity(z_set, z_set, tau=self.cfg.tau, exclude_self=True)

    def set_loss(self, latents: LatentSet, draws: Draws | None = None) -> torch.Tensor:
        """With the momentum queue: L_MoCo of the fresh queries against the queue, with the
        keys as positives. Otherwise (moving window: k fresh + n - k stored) the fresh rows
        against the whole joined set, exactly their own n pairs left out (normalised by
        n - 1)."""
        if latents.keys is None or latents.stored is None:
            return contrastive_uniformity(
                latents.fresh, latents.joined(), tau=self.cfg.tau, exclude_self=True
            )
        return contrastive_uniformity(
            latents.fresh, latents.stored, tau=self.cfg.tau, positives=latents.keys
        )
