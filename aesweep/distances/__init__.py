"""Set-level distances of aesweep: pure functions on torch tensors (REFERENCE.md "Distances").

=========================  =====================================================  ===========
function                   what                                                   paper
=========================  =====================================================  ===========
``mmd_imq``                multi-scale inverse-multiquadratics MMD (U or V stat)   WAE
``mmd_rbf``                Gaussian-kernel MMD (the WAE paper's alternative)       WAE
``cw_normality``           closed-form Cramer-Wold distance to N(0, I)             CWAE, MoW
``cw_distance``            two-sample Cramer-Wold distance                         LCW
``sliced_wasserstein``     mean over directions of W_p^p of the projections        SWAE, RSR
``wasserstein_1d``         W_p^p between two 1-D empirical samples                 SWAE, RSR
``contrastive_uniformity`` MoCA's L_MoCo against a queue of keys                   MoCA
``frechet_distance``       Fréchet distance of two Gaussians (FID), float64        FID
``latent_isotropy``        effective rank of the latents' singular values / d      MoCA
=========================  =====================================================  ===========

Helpers: ``pairwise_sq_dists``, ``random_directions``, ``silverman_gamma``,
``cw_normality_gamma``, ``cw_normality_supported``. The kernel distances sum over pairs in row
chunks (:mod:`aesweep.distances.chunked`), so n = 16,384 fits in O(n·chunk) memory, forward and
backward; they return 0-d tensors on the inputs' device in the inputs' dtype (at least float32).
"""

from .chunked import kernel_sum
from .contrastive import contrastive_uniformity
from .cramer_wold import (
    cw_distance,
    cw_normality,
    cw_normality_gamma,
    cw_normality_supported,
    silverman_gamma,
)
from .frechet import frechet_distance
from .isotropy import latent_isotropy
from .mmd import WAE_IMQ_SCALES, mmd_imq, mmd_rbf
from .pairwise import pairwise_sq_dists
from .sliced import random_directions, sliced_wasserstein, wasserstein_1d

__all__ = [
    "WAE_IMQ_SCALES",
    "contrastive_uniformity",
    "cw_distance",
    "cw_normality",
    "cw_normality_gamma",
    "cw_normality_supported",
    "frechet_distance",
    "kernel_sum",
    "latent_isotropy",
    "mmd_imq",
    "mmd_rbf",
    "pairwise_sq_dists",
    "random_directions",
    "silverman_gamma",
    "sliced_wasserstein",
    "wasserstein_1d",
]
