"""SWAE: rec + λ SW²(Z, P) (REFERENCE: Sliced Wasserstein). Per call, P ~ prior with as many
rows as Z is drawn first, then the L directions, both from the global RNG."""

from __future__ import annotations

import torch

from aesweep.distances import sliced_wasserstein
from aesweep.models.base import AutoencoderModel
from aesweep.models.swae.config import SWAEConfig


class SWAE(AutoencoderModel):
    cfg: SWAEConfig

    def latent_loss(self, z_set: torch.Tensor) -> torch.Tensor:
        prior = self.sample_prior(len(z_set), device=z_set.device)
        return sliced_wasserstein(z_set, prior, n_projections=self.cfg.projections, p=2)
