"""mmd_imq / mmd_rbf against float64 brute-force loops (REFERENCE.md "Distances")."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from aesweep.distances import mmd_imq, mmd_rbf

SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _sq(a: list[float], b: list[float]) -> float:
    return sum((p - q) ** 2 for p, q in zip(a, b, strict=True))


def _mmd_loops(
    x: torch.Tensor, y: torch.Tensor, kernel: Callable[[float], float], unbiased: bool
) -> float:
    xs, ys = x.tolist(), y.tolist()
    n, m = len(xs), len(ys)
    s_xx = sum(kernel(_sq(xs[i], xs[j])) for i in range(n) for j in range(n) if i != j)
    s_yy = sum(kernel(_sq(ys[i], ys[j])) for i in range(m) for j in range(m) if i != j)
    s_xy = sum(kernel(_sq(xs[i], ys[j])) for i in range(n) for j in range(m))
    if unbiased:
        return s_xx / (n * (n - 1)) + s_yy / (m * (m - 1)) - 2.0 * s_xy / (n * m)
    k0 = kernel(0.0)
    return (s_xx + n * k0) / n**2 + (s_yy + m * k0) / m**2 - 2.0 * s_xy / (n * m)


def _imq_loops(x: torch.Tensor, y: torch.Tensor, unbiased: bool, c_base: float) -> float:
    total = 0.0
    for s in SCALES:
        c = c_base * s
        total += _mmd_loops(x, y, lambda d2, c=c: c / (c + d2), unbiased)
    return total


def _samples(n: int, m: int, d: int, seed: int, shift: float = 0.7) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(m, d, generator=g, dtype=torch.float64) * 1.3 + shift
    return x, y


@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize(("n", "m", "d"), [(5, 5, 3), (9, 6, 8), (12, 7, 2)])
def test_mmd_imq_matches_loops(unbiased: bool, n: int, m: int, d: int) -> None:
    x, y = _samples(n, m, d, seed=n + m + d)
    ref = _imq_loops(x, y, unbiased, c_base=2.0 * d)
    got = mmd_imq(x, y, unbiased=unbiased)
    assert got.dim() == 0 and got.dtype == torch.float64
    assert math.isclose(float(got), ref, rel_tol=1e-10, abs_tol=1e-13)


def test_mmd_imq_custom_c_base_and_scales() -> None:
    x, y = _samples(8, 6, 4, seed=3)
    ref = _mmd_loops(x, y, lambda d2: 2.0 / (2.0 + d2), unbiased=True)
    got = mmd_imq(x, y, c_base=2.0, scales=(1.0,))
    assert math.isclose(float(got), ref, rel_tol=1e-10)


@pytest.mark.parametrize("unbiased", [True, False])
def test_mmd_rbf_matches_loops(unbiased: bool) -> None:
    x, y = _samples(10, 7, 5, seed=4)
    h = 1.7
    ref = _mmd_loops(x, y, lambda d2: math.exp(-d2 / h**2), unbiased)
    assert math.isclose(float(mmd_rbf(x, y, bandwidth=h, unbiased=unbiased)), ref, rel_tol=1e-10)
    both = _mmd_loops(x, y, lambda d2: math.exp(-d2 / h**2) + math.exp(-d2 / 4.0), unbiased)
    got = mmd_rbf(x, y, bandwidth=[h, 2.0], unbiased=unbiased)
    assert math.isclose(float(got), both, rel_tol=1e-10)


def test_rbf_bandwidth_is_the_length_scale() -> None:
    # exp(-||a-b||²/h²): two points at distance h give the kernel value e^-1.
    x = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([[3.0, 0.0]], dtype=torch.float64)
    v = mmd_rbf(x, y, bandwidth=3.0, unbiased=False)
    assert math.isclose(float(v), 2.0 - 2.0 * math.exp(-1.0), rel_tol=1e-12)


@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("fn", ["imq", "rbf"])
def test_gradcheck(fn: str, unbiased: bool) -> None:
    x, y = _samples(6, 5, 3, seed=5)
    x.requires_grad_(True)
    y.requires_grad_(True)
    if fn == "imq":
        assert torch.autograd.gradcheck(lambda a, b: mmd_imq(a, b, unbiased=unbiased), (x, y))
    else:
        assert torch.autograd.gradcheck(
            lambda a, b: mmd_rbf(a, b, bandwidth=1.5, unbiased=unbiased), (x, y)
        )


def test_permutation_invariance() -> None:
    x, y = _samples(11, 9, 4, seed=6)
    px, py = torch.randperm(11), torch.randperm(9)
    for unbiased in (True, False):
        a = mmd_imq(x, y, unbiased=unbiased)
        b = mmd_imq(x[px], y[py], unbiased=unbiased)
        assert math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-14)


def test_identical_samples_and_mean_shift() -> None:
    g = torch.Generator().manual_seed(7)
    x = torch.randn(40, 6, generator=g, dtype=torch.float64)
    assert abs(float(mmd_imq(x, x, unbiased=False))) < 1e-12
    assert abs(float(mmd_rbf(x, x, bandwidth=2.0, unbiased=False))) < 1e-12
    # U-statistic of identical samples: only the excluded diagonal differs, so it is small (< 0)
    u = float(mmd_imq(x, x))
    assert -7.0 * 2.0 / 40 < u < 0.0
    values = [float(mmd_imq(x, x + s, unbiased=False)) for s in (0.0, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[-1] > 0.5


def test_v_statistic_is_nonnegative() -> None:
    g = torch.Generator().manual_seed(8)
    for _ in range(20):
        x = torch.randn(7, 3, generator=g)
        y = torch.randn(5, 3, generator=g) * 0.5
        assert float(mmd_imq(x, y, unbiased=False)) >= 0.0
        assert float(mmd_rbf(x, y, bandwidth=1.0, unbiased=False)) >= 0.0


def test_errors() -> None:
    x = torch.randn(1, 3)
    with pytest.raises(ValueError, match="at least 2 rows"):
        mmd_imq(x, torch.randn(4, 3))
    assert torch.isfinite(mmd_imq(x, torch.randn(4, 3), unbiased=False))
    with pytest.raises(ValueError, match="same number of columns"):
        mmd_imq(torch.randn(4, 3), torch.randn(4, 2))
    with pytest.raises(ValueError, match="bandwidth"):
        mmd_rbf(torch.randn(4, 3), torch.randn(4, 3), bandwidth=0.0)
