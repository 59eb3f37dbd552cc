"""latent_isotropy (MoCA Figure 5 as one number) against closed forms: a matrix with known
singular values, a flat spectrum, rank one, and numpy's SVD."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aesweep.distances import latent_isotropy


def _with_singular_values(s: list[float], n: int = 50, seed: int = 0) -> torch.Tensor:
    """U diag(s) Vᵀ with random orthonormal U (n x d) and V (d x d)."""
    g = torch.Generator().manual_seed(seed)
    d = len(s)
    u, _ = torch.linalg.qr(torch.randn(n, d, generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return u @ torch.diag(torch.tensor(s, dtype=torch.float64)) @ v.T


def test_known_singular_values_give_the_effective_rank_over_d() -> None:
    s = [4.0, 2.0, 1.0, 1.0]
    p = [x / sum(s) for x in s]
    hand = math.exp(-sum(q * math.log(q) for q in p)) / len(s)
    assert float(latent_isotropy(_with_singular_values(s))) == pytest.approx(hand, rel=1e-10)


def test_a_flat_spectrum_is_one_and_rank_one_is_one_over_d() -> None:
    assert float(latent_isotropy(_with_singular_values([3.0] * 6))) == pytest.approx(1.0)
    rank_one = torch.randn(40, 1, dtype=torch.float64) @ torch.randn(1, 5, dtype=torch.float64)
    assert float(latent_isotropy(rank_one)) == pytest.approx(1 / 5, rel=1e-6)


def test_matches_numpy_and_orders_sphere_latents_by_spread() -> None:
    g = torch.Generator().manual_seed(1)
    z = torch.randn(2000, 16, generator=g)
    s = np.linalg.svd(z.double().numpy(), compute_uv=False)
    p = s / s.sum()
    assert float(latent_isotropy(z)) == pytest.approx(np.exp(-(p * np.log(p)).sum()) / 16)
    uniform = z / z.norm(dim=1, keepdim=True)  # uniform on the sphere: nearly flat
    squeezed = z * torch.linspace(1.0, 0.05, 16)  # most mass in a few directions
    squeezed = squeezed / squeezed.norm(dim=1, keepdim=True)
    assert float(latent_isotropy(uniform)) > 0.99 > float(latent_isotropy(squeezed))


def test_bad_shapes_raise_and_zero_latents_are_nan() -> None:
    with pytest.raises(ValueError):
        latent_isotropy(torch.zeros(5))
    assert math.isnan(float(latent_isotropy(torch.zeros(4, 3))))
