"""MoCA: rec + λ L_MoCo (MoCA §3; REFERENCE: Contrastive uniformity), latents on the sphere.

    L_MoCo = (1/B) Σ_i log((1/K) Σ_j exp(q_i·Q_j/τ)) - (1/B) Σ_i q_i·k_i/τ

q: this step's latents, Q: the queue of momentum keys, k: the momentum keys of the same images,
all handed over by the ``momentum_queue`` strategy in a :class:`LatentSet`. The momentum
encoder and the queue are strategy state (aesweep/strategies/momentum_queue.py).
"""

from __future__ import annotations

import torch

from aesweep.distances import contrastive_uniformity
from aesweep.models.base import AutoencoderModel, LatentSet
from aesweep.models.moca.config import MoCAConfig


class MoCA(AutoencoderModel):
    cfg: MoCAConfig

    def latent_loss(self, z_set: torch.Tensor) -> torch.Tensor:
        """Contrastive uniformity of a set against itself (minibatch, moving window)."""
        return contrastive_uniformity(z_set, z_set, tau=self.cfg.tau)

    def set_loss(self, latents: LatentSet) -> torch.Tensor:
        if latents.keys is None or latents.stored is None:
            return super().set_loss(latents)
        return contrastive_uniformity(
            latents.fresh, latents.stored, tau=self.cfg.tau, positives=latents.keys
        )
