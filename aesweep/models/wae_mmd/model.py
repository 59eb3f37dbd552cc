"""WAE-MMD: rec + λ MMD_IMQ(Z, P) with a fresh prior sample P of the same size (WAE Alg. 2)."""

from __future__ import annotations

import torch

from aesweep.distances import mmd_imq
from aesweep.models.wae_encoder import WAEEncoderModel
from aesweep.models.wae_mmd.config import WAEMMDConfig


class WAEMMD(WAEEncoderModel):
    cfg: WAEMMDConfig

    def latent_loss(self, z_set: torch.Tensor) -> torch.Tensor:
        prior = self.sample_prior(len(z_set), device=z_set.device)
        c_base = self.prior.imq_c_base(self.latent_dim)
        return mmd_imq(z_set, prior, scales=self.cfg.scales, c_base=c_base, unbiased=True)
