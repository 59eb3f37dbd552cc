"""How isotropic a set of latents is, from its singular values (MoCA §5.6, Figure 5: the SVD of
the latents of 10,000 images; a larger λ gives flatter singular values, a latent distribution
closer to the uniform one on the sphere).

``latent_isotropy(z)`` = exp(H(p)) / d with p_i = s_i / Σ_j s_j over the d singular values of
the (n, d) latent matrix, uncentred as in the paper: the effective rank (Roy & Vetterli, 2007)
as a fraction of d, 1 when every singular value is equal, 1/d for a rank-one set.
"""

from __future__ import annotations

import torch

__all__ = ["latent_isotropy"]


def latent_isotropy(z: torch.Tensor) -> torch.Tensor:
    """The singular-value spectrum's effective rank over ``d`` (0-d tensor, float64 SVD)."""
    if z.dim() != 2 or min(z.shape) < 1:
        raise ValueError(f"latents must be (n, d) with n, d >= 1, got {tuple(z.shape)}")
    s = torch.linalg.svdvals(z.double())
    total = s.sum()
    if not torch.isfinite(total) or total <= 0:
        return torch.full((), float("nan"), dtype=torch.float64, device=z.device)
    p = s / total
    entropy = -(p * torch.log(p.clamp_min(1e-300))).sum()
    return torch.exp(entropy) / z.shape[1]
