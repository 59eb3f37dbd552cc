"""wasserstein_1d / sliced_wasserstein against POT (test-only dependency)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aesweep.distances import random_directions, sliced_wasserstein, wasserstein_1d

ot = pytest.importorskip("ot")


def _randn(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize(("n", "m"), [(10, 10), (7, 12), (13, 5), (1, 4), (64, 48)])
def test_wasserstein_1d_matches_pot(p: int, n: int, m: int) -> None:
    u = _randn(n, seed=n) * 2.0
    v = _randn(m, seed=100 + m) + 0.5
    # ot.wasserstein_1d returns W_p^p (no root), like ours.
    ref = float(ot.wasserstein_1d(u.numpy(), v.numpy(), p=p))
    assert math.isclose(float(wasserstein_1d(u, v, p=p)), ref, rel_tol=1e-12, abs_tol=1e-14)


def test_wasserstein_1d_batched_and_ties() -> None:
    u = _randn(4, 9, seed=1)
    v = _randn(4, 6, seed=2)
    u[0, :3] = 0.25  # ties
    got = wasserstein_1d(u, v, p=2)
    assert got.shape == (4,)
    for i in range(4):
        ref = float(ot.wasserstein_1d(u[i].numpy(), v[i].numpy(), p=2))
        assert math.isclose(float(got[i]), ref, rel_tol=1e-12)


def test_wasserstein_1d_equal_sizes_is_mean_of_sorted_differences() -> None:
    u, v = _randn(20, seed=3), _randn(20, seed=4)
    ref = float(((u.sort().values - v.sort().values) ** 2).mean())
    assert math.isclose(float(wasserstein_1d(u, v)), ref, rel_tol=1e-14)


@pytest.mark.parametrize(("n", "m"), [(30, 30), (30, 17)])
@pytest.mark.parametrize("p", [1, 2])
def test_sliced_matches_pot_with_same_directions(n: int, m: int, p: int) -> None:
    x = _randn(n, 5, seed=n)
    y = _randn(m, 5, seed=m + 1) * 0.5 + 1.0
    theta = random_directions(
        12, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    got = sliced_wasserstein(x, y, projections=theta, p=p)
    # POT takes the directions as a (d, L) matrix and returns (mean_l W_p^p)^(1/p): compare the
    # p-th power of its result with ours (which has no root, like SWAE's SW²).
    ref = float(
        ot.sliced_wasserstein_distance(x.numpy(), y.numpy(), projections=theta.T.numpy(), p=p)
    )
    assert math.isclose(float(got), ref**p, rel_tol=1e-10)


def test_sliced_is_reference_formula_for_equal_sizes() -> None:
    # REFERENCE.md: SW²(Z, P) = mean_{l,i} (sort(Z θ_l)_i - sort(P θ_l)_i)²
    x, y = _randn(16, 4, seed=5), _randn(16, 4, seed=6)
    theta = random_directions(7, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    total = 0.0
    for t in theta:
        a = sorted((x @ t).tolist())
        b = sorted((y @ t).tolist())
        total += sum((p - q) ** 2 for p, q in zip(a, b, strict=True)) / 16
    assert math.isclose(
        float(sliced_wasserstein(x, y, projections=theta)), total / 7, rel_tol=1e-12
    )


def test_projections_are_used_as_given() -> None:
    x, y = _randn(10, 3, seed=7), _randn(10, 3, seed=8)
    theta = torch.tensor([[2.0, 0.0, 0.0]], dtype=torch.float64)  # not unit: scales by 4 (p=2)
    unit = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    a = sliced_wasserstein(x, y, projections=theta)
    b = sliced_wasserstein(x, y, projections=unit)
    assert math.isclose(float(a), 4.0 * float(b), rel_tol=1e-12)


def test_random_directions_and_determinism() -> None:
    g1, g2 = torch.Generator().manual_seed(42), torch.Generator().manual_seed(42)
    t1 = random_directions(50, 8, generator=g1)
    t2 = random_directions(50, 8, generator=g2)
    assert t1.shape == (50, 8) and t1.dtype == torch.float32
    assert torch.equal(t1, t2)
    torch.testing.assert_close(t1.norm(dim=1), torch.ones(50))
    x, y = _randn(40, 8, seed=9), _randn(40, 8, seed=10)
    a = sliced_wasserstein(x, y, generator=torch.Generator().manual_seed(3))
    b = sliced_wasserstein(x, y, generator=torch.Generator().manual_seed(3))
    c = sliced_wasserstein(x, y, generator=torch.Generator().manual_seed(4))
    assert float(a) == float(b) != float(c)
    theta = random_directions(
        50, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    assert float(a) == float(sliced_wasserstein(x, y, projections=theta))


def test_random_directions_are_roughly_uniform() -> None:
    theta = random_directions(
        20000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    mean = theta.mean(0).numpy()
    assert np.abs(mean).max() < 0.02
    torch.testing.assert_close(
        theta.T @ theta / 20000, torch.eye(3, dtype=torch.float64) / 3, atol=0.01, rtol=0
    )


@pytest.mark.parametrize(("n", "m"), [(6, 6), (6, 4)])
@pytest.mark.parametrize("p", [1, 2])
def test_gradcheck_with_fixed_directions(n: int, m: int, p: int) -> None:
    x = _randn(n, 3, seed=11).requires_grad_(True)
    y = _randn(m, 3, seed=12).requires_grad_(True)
    theta = random_directions(4, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda a, b: sliced_wasserstein(a, b, projections=theta, p=p), (x, y)
    )
    u = _randn(n, seed=13).requires_grad_(True)
    v = _randn(m, seed=14).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: wasserstein_1d(a, b, p=p), (u, v))


def test_permutation_invariance_and_zero_for_identical() -> None:
    x, y = _randn(25, 6, seed=15), _randn(19, 6, seed=16)
    theta = random_directions(9, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    a = sliced_wasserstein(x, y, projections=theta)
    b = sliced_wasserstein(x[torch.randperm(25)], y[torch.randperm(19)], projections=theta)
    assert math.isclose(float(a), float(b), rel_tol=1e-14)
    assert abs(float(sliced_wasserstein(x, x[torch.randperm(25)], projections=theta))) < 1e-28
    shifts = [float(sliced_wasserstein(x, x + s, projections=theta)) for s in (0.1, 0.5, 1.0)]
    assert shifts == sorted(shifts) and shifts[0] > 0


def test_errors() -> None:
    with pytest.raises(ValueError, match="p must be"):
        wasserstein_1d(torch.randn(3), torch.randn(3), p=0.5)
    with pytest.raises(ValueError, match="projections"):
        sliced_wasserstein(torch.randn(3, 4), torch.randn(3, 4), projections=torch.randn(2, 3))
