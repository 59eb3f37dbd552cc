"""cw_normality / cw_distance against float64 loops and the published check values."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.special import hyp1f1

from aesweep.distances import (
    cw_distance,
    cw_normality,
    cw_normality_gamma,
    cw_normality_supported,
    silverman_gamma,
)


def _sq(a: list[float], b: list[float]) -> float:
    return sum((p - q) ** 2 for p, q in zip(a, b, strict=True))


def _phi(dim: int, s: float) -> float:
    """φ_D: exact 1F1(1/2; D/2; -s) for D = 1, 2, else the papers' approximation."""
    if dim in (1, 2):
        return float(hyp1f1(0.5, dim / 2.0, -s))
    return (1.0 + 4.0 * s / (2.0 * dim - 3.0)) ** -0.5


def _cw_normality_loops(z: torch.Tensor, gamma: float | None = None) -> float:
    """REFERENCE.md closed form (d >= 8) / CWAE general formula with exact φ (d = 1, 2)."""
    zs = z.tolist()
    n, d = len(zs), len(zs[0])
    g = (4.0 / (3.0 * n)) ** 0.4 if gamma is None else gamma
    if d >= 8:
        k = 1.0 / (2.0 * d - 3.0)
        pairs = sum((g + k * _sq(zs[i], zs[j])) ** -0.5 for i in range(n) for j in range(n))
        origin = sum((g + 0.5 + k * sum(v * v for v in zi)) ** -0.5 for zi in zs)
    else:
        pairs = sum(
            g**-0.5 * _phi(d, _sq(zs[i], zs[j]) / (4 * g)) for i in range(n) for j in range(n)
        )
        origin = sum((g + 0.5) ** -0.5 * _phi(d, sum(v * v for v in zi) / (2 + 4 * g)) for zi in zs)
    return (1.0 + g) ** -0.5 + pairs / n**2 - 2.0 / n * origin


def _cw_distance_loops(x: torch.Tensor, y: torch.Tensor, gamma: float) -> float:
    xs = x.reshape(x.shape[0], -1).tolist()
    ys = y.reshape(y.shape[0], -1).tolist()
    dim, n, m = len(xs[0]), len(xs), len(ys)

    def mean_phi(a: list[list[float]], b: list[list[float]]) -> float:
        total = sum(_phi(dim, _sq(p, q) / (4 * gamma)) for p in a for q in b)
        return total / (len(a) * len(b))

    inner = mean_phi(xs, xs) + mean_phi(ys, ys) - 2.0 * mean_phi(xs, ys)
    assert n and m
    return inner / (2.0 * math.sqrt(math.pi * gamma))


def _randn(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize(("n", "d"), [(5, 8), (9, 20), (12, 64), (7, 1), (10, 2)])
def test_cw_normality_matches_loops(n: int, d: int) -> None:
    z = _randn(n, d, seed=n * d) * 0.8 + 0.3
    got = cw_normality(z)
    assert got.dim() == 0 and got.dtype == torch.float64
    assert math.isclose(float(got), _cw_normality_loops(z), rel_tol=1e-10)
    assert math.isclose(
        float(cw_normality(z, gamma=0.3)), _cw_normality_loops(z, 0.3), rel_tol=1e-10
    )


def test_cw_normality_1d_equals_authors_cw_1d_times_2_sqrt_pi() -> None:
    # gmum/cwae-pytorch src/metrics/cw.py cw_1d keeps the paper's 1/(2 sqrt(pi)) factor through
    # its Gaussian densities N0(mean, var); our code form drops it for every dimension.
    z = _randn(9, 1, seed=11)
    n = 9
    g = (4.0 / (3.0 * n)) ** 0.4

    def n0(mean: float, var: float) -> float:
        return math.exp(-(mean**2) / (2 * var)) / math.sqrt(2 * math.pi * var)

    zs = [r[0] for r in z.tolist()]
    authors = (
        sum(n0(a - b, 2 * g) for a in zs for b in zs) / n**2
        + n0(0.0, 2.0 + 2 * g)
        - 2.0 / n * sum(n0(a, 1.0 + 2 * g) for a in zs)
    )
    assert math.isclose(float(cw_normality(z)) / (2 * math.sqrt(math.pi)), authors, rel_tol=1e-10)


def test_cw_normality_rejects_dimensions_without_a_formula() -> None:
    for d in range(3, 8):
        assert not cw_normality_supported(d)
        with pytest.raises(ValueError, match="dimension >= 8"):
            cw_normality(torch.randn(16, d))
        with pytest.raises(ValueError, match="dimension >= 8"):
            cw_distance(torch.randn(16, d), torch.randn(16, d), gamma=0.1)
    assert all(cw_normality_supported(d) for d in (1, 2, 8, 9, 64, 784))


@pytest.mark.parametrize(("d", "expected"), [(8, 0.0470), (64, 0.0163)])
def test_published_check_values_standard_normal(d: int, expected: float) -> None:
    g = torch.Generator().manual_seed(1234)
    z = torch.randn(200, 128, d, generator=g, dtype=torch.float64)
    mean = sum(float(cw_normality(z[i])) for i in range(200)) / 200
    assert mean == pytest.approx(expected, rel=0.03)


def test_published_check_value_shifted_mean() -> None:
    g = torch.Generator().manual_seed(99)
    z = torch.randn(200, 128, 8, generator=g, dtype=torch.float64) + 1.0
    mean = sum(float(cw_normality(z[i])) for i in range(200)) / 200
    assert 0.33 <= mean <= 0.36


def test_cw_normality_grows_with_shift_and_is_positive() -> None:
    z = _randn(128, 16, seed=5)
    values = [float(cw_normality(z + s)) for s in (0.0, 0.5, 1.0, 2.0)]
    assert values[0] > 0 and values == sorted(values)


def test_gamma_rules() -> None:
    assert cw_normality_gamma(128) == pytest.approx((4 / 384) ** 0.4, rel=1e-15)
    for n, expected in ((64, 0.0202), (128, 0.0153), (256, 0.0116)):
        assert silverman_gamma(0.3081, n) == pytest.approx(expected, abs=5e-5)
    with pytest.raises(ValueError):
        silverman_gamma(0.0, 64)


@pytest.mark.parametrize(
    ("n", "m", "shape"), [(5, 5, (8,)), (8, 6, (2, 2, 3)), (7, 9, (1,)), (6, 4, (2,))]
)
def test_cw_distance_matches_loops(n: int, m: int, shape: tuple[int, ...]) -> None:
    x = _randn(n, *shape, seed=n)
    y = _randn(m, *shape, seed=100 + m) * 0.7 + 0.4
    for gamma in (0.0202, 0.5):
        got = cw_distance(x, y, gamma=gamma)
        assert got.dim() == 0
        assert math.isclose(float(got), _cw_distance_loops(x, y, gamma), rel_tol=1e-10)


def test_cw_distance_identical_permuted_and_shifted() -> None:
    x = _randn(30, 10, seed=1)
    assert abs(float(cw_distance(x, x, gamma=0.1))) < 1e-12
    assert abs(float(cw_distance(x, x[torch.randperm(30)], gamma=0.1))) < 1e-12
    values = [float(cw_distance(x, x + s, gamma=0.1)) for s in (0.1, 0.5, 1.0)]
    assert 0 < values[0] < values[1] < values[2]
    y = _randn(20, 10, seed=2)
    a = cw_distance(x, y, gamma=0.1)
    b = cw_distance(x[torch.randperm(30)], y[torch.randperm(20)], gamma=0.1)
    assert math.isclose(float(a), float(b), rel_tol=1e-12)


def test_cw_normality_permutation_invariance() -> None:
    z = _randn(25, 8, seed=3)
    assert math.isclose(
        float(cw_normality(z)), float(cw_normality(z[torch.randperm(25)])), rel_tol=1e-12
    )


@pytest.mark.parametrize("d", [1, 2, 8])
def test_gradcheck(d: int) -> None:
    z = _randn(6, d, seed=d).requires_grad_(True)
    y = _randn(5, d, seed=10 + d).requires_grad_(True)
    assert torch.autograd.gradcheck(cw_normality, (z,))
    assert torch.autograd.gradcheck(lambda a, b: cw_distance(a, b, gamma=0.3), (z, y))
