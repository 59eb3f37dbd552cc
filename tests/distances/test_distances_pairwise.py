"""pairwise_sq_dists: values against loops, exact zero diagonal, finite gradients."""

from __future__ import annotations

import torch

from aesweep.distances import pairwise_sq_dists


def _loops(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    out = torch.empty(a.shape[0], b.shape[0], dtype=torch.float64)
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            out[i, j] = sum((float(a[i, k]) - float(b[j, k])) ** 2 for k in range(a.shape[1]))
    return out


def test_values_against_loops() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(7, 5, generator=g, dtype=torch.float64) + 3.0
    b = torch.randn(4, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(pairwise_sq_dists(a, b), _loops(a, b), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(pairwise_sq_dists(a), _loops(a, a), rtol=1e-12, atol=1e-12)


def test_self_distances_have_exact_zero_diagonal_and_are_nonnegative() -> None:
    g = torch.Generator().manual_seed(1)
    a = torch.randn(50, 16, generator=g) * 100.0 + 1e4  # float32 with heavy cancellation
    d2 = pairwise_sq_dists(a, a)
    assert torch.equal(d2.diagonal(), torch.zeros(50))
    assert bool((d2 >= 0).all())
    torch.testing.assert_close(d2, d2.T)


def test_gradient_is_finite_at_coincident_points() -> None:
    g = torch.Generator().manual_seed(2)
    base = torch.randn(4, 3, generator=g, dtype=torch.float64)
    a = torch.cat([base, base[:2]]).requires_grad_(True)  # duplicate rows
    (1.0 / (1.0 + pairwise_sq_dists(a))).sum().backward()
    assert a.grad is not None and bool(torch.isfinite(a.grad).all())
    b = base.clone().requires_grad_(True)
    pairwise_sq_dists(b, base).sum().backward()  # the diagonal pairs coincide
    assert b.grad is not None and bool(torch.isfinite(b.grad).all())


def test_gradcheck() -> None:
    g = torch.Generator().manual_seed(3)
    a = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pairwise_sq_dists, (a, b))
    assert torch.autograd.gradcheck(lambda x: pairwise_sq_dists(x), (a,))
