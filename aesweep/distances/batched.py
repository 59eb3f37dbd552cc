"""The training distances over a leading member dimension (trial packs): member i's value is
what the unbatched function of this package gives on member i's rows, up to floating-point
reassociation (tested against them in float64).

Inputs are (N, n, d); results are (N,). The pair sums are dense (N·n·m values): a pack's sets
are a step's latents (tens to a few hundred rows), and plain autograd differentiates them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .cramer_wold import _MIN_CLOSED_FORM_DIM, _check_dim, _phi_kernel, cw_normality_gamma
from .kernels import BesselI0e, Gaussian, InverseMultiquadric, InverseSqrt, Kernel

__all__ = [
    "batched_cw_distance",
    "batched_cw_normality",
    "batched_kernel_sum",
    "batched_mmd_imq",
    "batched_sliced_wasserstein",
    "batched_sq_dists",
]


def batched_sq_dists(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """(N, n, m) squared distances of each member's rows (``b`` None: within ``a``, with an
    exact zero diagonal), in the centred expanded form of :mod:`aesweep.distances.pairwise`."""
    same = b is None
    if same:
        centre = a.detach().mean(1, keepdim=True)
        ac = a - centre
        bc = ac
    else:
        assert b is not None
        centre = torch.cat([a.detach(), b.detach()], 1).mean(1, keepdim=True)
        ac, bc = a - centre, b - centre
    sq_a = ac.square().sum(-1)
    sq_b = sq_a if same else bc.square().sum(-1)
    d2 = torch.baddbmm(sq_b.unsqueeze(1), ac, bc.transpose(1, 2), alpha=-2.0)
    d2 = (d2 + sq_a.unsqueeze(2)).clamp_min(0.0)
    if same:
        eye = torch.eye(d2.shape[1], dtype=torch.bool, device=d2.device)
        d2 = d2.masked_fill(eye, 0.0)
    return d2


def kernel_values(kernel: Kernel, d2: torch.Tensor) -> torch.Tensor:
    """``f(d2)`` out of place (differentiable by autograd), for the kernels of this package."""
    if isinstance(kernel, InverseMultiquadric):
        return sum((c / (c + d2) for c in kernel.cs), torch.zeros_like(d2))
    if isinstance(kernel, InverseSqrt):
        return kernel.scale * torch.rsqrt(kernel.alpha + kernel.beta * d2)
    if isinstance(kernel, Gaussian):
        lo = math.log(torch.finfo(d2.dtype).tiny) + 0.5
        total = sum(
            (torch.exp((-r * d2).clamp_min(lo)) for r in kernel.rates), torch.zeros_like(d2)
        )
        return kernel.scale * total
    if isinstance(kernel, BesselI0e):
        return kernel.scale * torch.special.i0e(kernel.rate * d2)
    raise TypeError(f"no batched form of {type(kernel).__name__}")


def batched_kernel_sum(
    a: torch.Tensor, b: torch.Tensor | None, kernel: Kernel, *, exclude_diagonal: bool = False
) -> torch.Tensor:
    """(N,) ``Σ_ij f(||a_i - b_j||²)`` per member (accumulated in float64, as kernel_sum)."""
    f = kernel_values(kernel, batched_sq_dists(a, b))
    if exclude_diagonal:
        eye = torch.eye(f.shape[1], dtype=torch.bool, device=f.device)
        f = f.masked_fill(eye, 0.0)
    return f.sum((1, 2), dtype=torch.float64).to(a.dtype)


def batched_mmd_imq(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    scales: Sequence[float],
    c_base: float | None = None,
    unbiased: bool = True,
) -> torch.Tensor:
    """:func:`aesweep.distances.mmd_imq` per member."""
    n, m = x.shape[1], y.shape[1]
    c = 2.0 * x.shape[2] if c_base is None else float(c_base)
    kernel = InverseMultiquadric(tuple(c * float(s) for s in scales))
    s_xx = batched_kernel_sum(x, None, kernel, exclude_diagonal=unbiased)
    s_yy = batched_kernel_sum(y, None, kernel, exclude_diagonal=unbiased)
    s_xy = batched_kernel_sum(x, y, kernel)
    if unbiased:
        return s_xx / (n * (n - 1)) + s_yy / (m * (m - 1)) - 2.0 * s_xy / (n * m)
    return s_xx / (n * n) + s_yy / (m * m) - 2.0 * s_xy / (n * m)


def batched_cw_normality(z: torch.Tensor) -> torch.Tensor:
    """:func:`aesweep.distances.cw_normality` per member (γ by the CWAE rule)."""
    from .cramer_wold import _phi

    _, n, d = z.shape
    _check_dim(d, "cw_normality")
    g = cw_normality_gamma(n)
    if d >= _MIN_CLOSED_FORM_DIM:
        k = 1.0 / (2.0 * d - 3.0)
        pair_kernel: Kernel = InverseSqrt(alpha=g, beta=k)
    else:
        pair_kernel = _phi_kernel(d, 1.0 / (4.0 * g), 1.0 / math.sqrt(g))
    pairs = batched_kernel_sum(z, None, pair_kernel)
    sq_norms = z.square().sum(-1)
    if d >= _MIN_CLOSED_FORM_DIM:
        origin = torch.rsqrt(g + 0.5 + k * sq_norms).sum(-1)
    else:
        origin = _phi(d, sq_norms / (2.0 + 4.0 * g)).sum(-1) / math.sqrt(g + 0.5)
    return (1.0 + g) ** -0.5 + pairs / (n * n) - 2.0 / n * origin


def batched_cw_distance(x: torch.Tensor, y: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """:func:`aesweep.distances.cw_distance` per member; ``gamma`` (N,) (flattened samples)."""
    x, y = x.flatten(2), y.flatten(2)
    n, dim, m = x.shape[1], x.shape[2], y.shape[1]
    _check_dim(dim, "cw_distance")
    rate = (1.0 / (4.0 * gamma)).view(-1, 1, 1)
    if dim == 1:
        phi = lambda d2: torch.exp(-rate * d2)  # noqa: E731
    elif dim == 2:
        phi = lambda d2: torch.special.i0e(rate / 2.0 * d2)  # noqa: E731
    else:
        phi = lambda d2: torch.rsqrt(1.0 + 4.0 * rate / (2.0 * dim - 3.0) * d2)  # noqa: E731

    def total(a: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return phi(batched_sq_dists(a, b)).sum((1, 2), dtype=torch.float64).to(a.dtype)

    inner = total(x, None) / (n * n) + total(y, None) / (m * m) - 2.0 * total(x, y) / (n * m)
    return inner / (2.0 * torch.sqrt(math.pi * gamma))


def batched_sliced_wasserstein(
    x: torch.Tensor, y: torch.Tensor, projections: torch.Tensor, *, p: float = 2
) -> torch.Tensor:
    """:func:`aesweep.distances.sliced_wasserstein` per member with given (N, L, d)
    directions; samples of equal size (what the families compare)."""
    if x.shape[1] != y.shape[1]:
        raise ValueError("the batched sliced Wasserstein takes samples of equal size")
    xs = torch.sort(projections @ x.transpose(1, 2), dim=-1).values
    ys = torch.sort(projections @ y.transpose(1, 2), dim=-1).values
    diff = xs - ys
    cost = diff.square() if p == 2 else diff.abs().pow(p)
    return cost.mean((1, 2))
