"""SWAE: rec + λ SW²(Z, P) (REFERENCE: Sliced Wasserstein). Per call, P ~ prior with as many
rows as Z and the L directions are the step's draws (:meth:`step_draws`)."""

from __future__ import annotations

import torch

from aesweep.distances import random_directions, sliced_wasserstein
from aesweep.models.base import AutoencoderModel, Draws
from aesweep.models.swae.config import SWAEConfig


class SWAE(AutoencoderModel):
    cfg: SWAEConfig

    def step_draws(
        self,
        rows: int,
        steps: int,
        generator: torch.Generator | None,
        device: torch.device,
        *,
        images: tuple[int, ...] = (),
    ) -> Draws:
        """Per step a prior sample as large as the set, then the L directions (all the
        block's prior samples first)."""
        prior = self.sample_prior(steps * rows, device=device, generator=generator)
        theta = random_directions(
            steps * self.cfg.projections, self.latent_dim, generator=generator, device=device
        )
        return {
            "prior": prior.view(steps, rows, -1),
            "theta": theta.view(steps, self.cfg.projections, -1),
        }

    def latent_loss(self, z_set: torch.Tensor, draws: Draws | None = None) -> torch.Tensor:
        d = self.one_step_draws(len(z_set), z_set.device, draws)
        theta = d["theta"].to(z_set.dtype)
        return sliced_wasserstein(z_set, d["prior"].to(z_set.dtype), projections=theta, p=2)
