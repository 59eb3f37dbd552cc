"""The latent priors (registered in :data:`aesweep.config.models.PRIORS`): how a prior is
sampled, how an encoder's raw output is put on its support, and the base scale C_base of the
IMQ kernel for it (REFERENCE: MMD; WAE §4: C = 2 d σ_z² for N(0, σ_z² I), and 2 on the sphere
as in MoCA's and the authors' hyperspherical runs)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


class GaussianPrior:
    """N(0, I_d): σ (``scale``) is 1, as the WAE code's ``pz_scale`` in every configuration."""

    scale = 1.0

    def sample(
        self,
        n: int,
        dim: int,
        *,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """n draws; with ``generator`` the draw is made on the generator's device, then moved,
        so a seeded evaluation sample is the same on every device."""
        where = device if generator is None else generator.device
        return torch.randn(n, dim, device=where, generator=generator).to(device)

    def project(self, h: torch.Tensor) -> torch.Tensor:
        """An encoder's output as a latent (unchanged: the support is all of R^d)."""
        return h

    def imq_c_base(self, dim: int) -> float:
        return 2.0 * dim


class SpherePrior(GaussianPrior):
    """The uniform distribution on the unit sphere: z / ||z||, z ~ N(0, I_d) (MoCA)."""

    def sample(
        self,
        n: int,
        dim: int,
        *,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        return F.normalize(super().sample(n, dim, device=device, generator=generator), dim=1)

    def project(self, h: torch.Tensor) -> torch.Tensor:
        """Onto the unit sphere (also applied to a momentum encoder's output)."""
        return F.normalize(h, dim=1)

    def imq_c_base(self, dim: int) -> float:
        return 2.0
