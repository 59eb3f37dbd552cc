"""frechet_distance against scipy.linalg.sqrtm, closed forms and rank-deficient covariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from aesweep.distances import frechet_distance


def _scipy_fid(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def _spd(d: int, rng: np.random.Generator, rank: int | None = None) -> np.ndarray:
    a = rng.standard_normal((d, rank or 2 * d))
    return a @ a.T / (rank or 2 * d)


@pytest.mark.parametrize("d", [2, 10, 64])
def test_matches_scipy_sqrtm_on_random_spd(d: int) -> None:
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d) * 0.3
    s1, s2 = _spd(d, rng), _spd(d, rng)
    ref = _scipy_fid(mu1, s1, mu2, s2)
    got = frechet_distance(mu1, s1, mu2, s2)
    assert isinstance(got, float)
    assert math.isclose(got, ref, rel_tol=1e-9)


def test_closed_form_diagonal_and_commuting() -> None:
    rng = np.random.default_rng(0)
    d = 6
    a, b = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = float(((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    assert math.isclose(frechet_distance(mu1, np.diag(a), mu2, np.diag(b)), expected, rel_tol=1e-12)
    # commuting covariances: same eigenvectors, (Σ1Σ2)^½ = Q diag(sqrt(a b)) Qᵀ
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    assert math.isclose(frechet_distance(mu1, s1, mu2, s2), expected, rel_tol=1e-10)
    # scalar case: (σ1 - σ2)² for variances σ²
    assert math.isclose(frechet_distance([0.0], [[4.0]], [1.0], [[9.0]]), 1.0 + 1.0, rel_tol=1e-12)


def test_identical_is_zero_and_torch_inputs() -> None:
    rng = np.random.default_rng(1)
    mu, s = rng.standard_normal(8), _spd(8, rng)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-10
    got = frechet_distance(torch.tensor(mu, dtype=torch.float32), torch.tensor(s), mu, s)
    assert abs(got) < 1e-5


def test_rank_deficient_covariances_stay_finite_and_accurate() -> None:
    rng = np.random.default_rng(2)
    d = 32
    # fewer samples than features: rank 10 and 12 covariances (as with a small FID sample)
    s1, s2 = _spd(d, rng, rank=10), _spd(d, rng, rank=12)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    got = frechet_distance(mu1, s1, mu2, s2)
    assert math.isfinite(got) and got > 0
    # reference: the same quantity with a tiny offset (the value is continuous in the offset)
    eps = 1e-10 * np.eye(d)
    ref = _scipy_fid(mu1, s1 + eps, mu2, s2 + eps)
    assert math.isclose(got, ref, rel_tol=1e-6)
    # exact closed form for a rank-deficient diagonal pair
    a = np.array([1.0, 2.0, 0.0, 0.0, 3.0])
    b = np.array([4.0, 0.0, 0.0, 5.0, 3.0])
    expected = float(((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    assert math.isclose(
        frechet_distance(np.zeros(5), np.diag(a), np.zeros(5), np.diag(b)), expected, rel_tol=1e-12
    )


def test_errors() -> None:
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="non-finite"):
        frechet_distance(np.zeros(2), np.eye(2) * np.nan, np.zeros(2), np.eye(2))
