"""WAE-MMD: rec + λ MMD_IMQ(Z, P) with a fresh prior sample P of the same size (WAE Alg. 2)."""

from __future__ import annotations

import torch

from aesweep.distances import mmd_imq
from aesweep.models.base import Draws
from aesweep.models.wae_encoder import WAEEncoderModel
from aesweep.models.wae_mmd.config import WAEMMDConfig


class WAEMMD(WAEEncoderModel):
    cfg: WAEMMDConfig

    def step_draws(
        self,
        rows: int,
        steps: int,
        generator: torch.Generator | None,
        device: torch.device,
        *,
        images: tuple[int, ...] = (),
    ) -> Draws:
        """The encoder's input noise (``e_add_noise``), then a prior sample as large as the
        set, per step."""
        draws = super().step_draws(rows, steps, generator, device, images=images)
        prior = self.sample_prior(steps * rows, device=device, generator=generator)
        return {**draws, "prior": prior.view(steps, rows, -1)}

    def latent_loss(self, z_set: torch.Tensor, draws: Draws | None = None) -> torch.Tensor:
        prior = self.one_step_draws(len(z_set), z_set.device, draws)["prior"].to(z_set.dtype)
        c_base = self.prior.imq_c_base(self.latent_dim)
        return mmd_imq(z_set, prior, scales=self.cfg.scales, c_base=c_base, unbiased=True)
