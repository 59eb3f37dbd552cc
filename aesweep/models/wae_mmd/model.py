"""WAE-MMD: rec + λ MMD_IMQ(Z, P) with a fresh prior sample P of the same size (WAE Alg. 2)."""

from __future__ import annotations

import torch

from aesweep.distances import mmd_imq
from aesweep.models.base import AutoencoderModel, Draws
from aesweep.models.wae_mmd.config import WAEMMDConfig


class WAEMMD(AutoencoderModel):
    cfg: WAEMMDConfig

    def step_draws(
        self, rows: int, steps: int, generator: torch.Generator | None, device: torch.device
    ) -> Draws:
        """A prior sample as large as the set, per step."""
        prior = self.sample_prior(steps * rows, device=device, generator=generator)
        return {"prior": prior.view(steps, rows, -1)}

    def latent_loss(self, z_set: torch.Tensor, draws: Draws | None = None) -> torch.Tensor:
        prior = self.one_step_draws(len(z_set), z_set.device, draws)["prior"].to(z_set.dtype)
        c_base = self.prior.imq_c_base(self.latent_dim)
        return mmd_imq(z_set, prior, scales=self.cfg.scales, c_base=c_base, unbiased=True)
