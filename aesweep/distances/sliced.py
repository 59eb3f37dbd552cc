"""Sliced and one-dimensional Wasserstein distances (REFERENCE.md "Distances", "Sliced
Wasserstein"; Kolouri et al., SWAE; the Run-Sort-ReRun paper).

``wasserstein_1d(u, v, p)`` is ``W_p^p`` between the uniform empirical measures of two 1-D
samples: for equal sizes the mean of ``|sort(u)_i - sort(v)_i|^p``; for unequal sizes the exact
1-D optimal-transport cost ``∫_0^1 |F_u^-1(t) - F_v^-1(t)|^p dt`` between the two empirical
quantile functions (piecewise constant with breaks at i/n and j/m), as POT's
``ot.wasserstein_1d`` computes it. ``sliced_wasserstein`` averages it over unit directions.
"""

from __future__ import annotations

import functools

import torch

from ._common import check_matrix, no_autocast, prepare_pair

__all__ = ["random_directions", "sliced_wasserstein", "wasserstein_1d"]


def random_directions(
    n: int,
    d: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``n`` directions uniform on the unit sphere of R^d: ``g / ||g||`` with ``g ~ N(0, I_d)``.

    The Gaussian draw is made on the generator's device (CPU when no generator is given and no
    device either) and then moved to ``device``, so a seeded CPU generator gives the same
    directions whatever the target device.

    Returns:
        (n, d) tensor with unit rows.
    """
    if n < 1 or d < 1:
        raise ValueError(f"need n >= 1 and d >= 1, got n={n}, d={d}")
    draw_device = generator.device if generator is not None else device
    g = torch.randn(n, d, generator=generator, dtype=dtype, device=draw_device)
    g = g.to(device) if device is not None else g
    return g / g.norm(dim=1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)


@functools.lru_cache(maxsize=64)
def _quantile_plan(n: int, m: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index pairs and interval lengths of the merged quantile grid of sizes n and m.

    In units of 1/(n m) the quantile breaks are i·m (i = 1..n) and j·n (j = 1..m). On the
    interval (T_prev, T] the quantile of the n-sample is its sorted value ceil(T/m) - 1 and that
    of the m-sample ceil(T/n) - 1 (exact integer arithmetic).
    """
    breaks = torch.cat(
        [
            torch.arange(1, n + 1, dtype=torch.int64) * m,
            torch.arange(1, m + 1, dtype=torch.int64) * n,
        ]
    )
    t = torch.unique(breaks, sorted=True)
    widths = torch.diff(t, prepend=torch.zeros(1, dtype=torch.int64)).double() / float(n * m)
    iu = (t + (m - 1)) // m - 1
    iv = (t + (n - 1)) // n - 1
    return iu, iv, widths


def _pth_power_abs(diff: torch.Tensor, p: float) -> torch.Tensor:
    if p == 2:
        return diff.square()
    if p == 1:
        return diff.abs()
    return diff.abs().pow(p)


def wasserstein_1d(u: torch.Tensor, v: torch.Tensor, *, p: float = 2) -> torch.Tensor:
    """``W_p^p`` between the uniform empirical measures of 1-D samples (no p-th root).

    Args:
        u: (..., n) samples along the last dimension; leading dimensions are a batch.
        v: (..., m) samples with the same leading dimensions; m may differ from n.
        p: the power p >= 1.

    Returns:
        Tensor of shape ``u.shape[:-1]`` (0-d for 1-D inputs), differentiable through the sort.
        Matches ``ot.wasserstein_1d(u, v, p=p)`` (which also returns the p-th power).
    """
    if p < 1:
        raise ValueError(f"p must be >= 1, got {p}")
    if u.dim() < 1 or v.dim() < 1 or u.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"u and v must share their leading dimensions: {u.shape} vs {v.shape}")
    if u.shape[-1] < 1 or v.shape[-1] < 1:
        raise ValueError("u and v need at least one sample each")
    dtype = torch.promote_types(torch.promote_types(u.dtype, v.dtype), torch.float32)
    with no_autocast(u.device):
        return _wasserstein_pp(u.to(dtype), v.to(dtype), p, reduce_all=False)


def _wasserstein_pp(u: torch.Tensor, v: torch.Tensor, p: float, reduce_all: bool) -> torch.Tensor:
    """W_p^p along the last dimension; with ``reduce_all`` the mean over the batch as well."""
    n, m = u.shape[-1], v.shape[-1]
    us = torch.sort(u, dim=-1).values
    vs = torch.sort(v, dim=-1).values
    if n == m:
        cost = _pth_power_abs(us - vs, p)
        return cost.mean() if reduce_all else cost.mean(-1)
    iu, iv, widths = _quantile_plan(n, m)
    iu, iv = iu.to(u.device), iv.to(u.device)
    diff = us.index_select(-1, iu) - vs.index_select(-1, iv)
    per_row = (_pth_power_abs(diff, p) * widths.to(device=u.device, dtype=u.dtype)).sum(-1)
    return per_row.mean() if reduce_all else per_row


def sliced_wasserstein(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    projections: torch.Tensor | None = None,
    n_projections: int = 50,
    p: float = 2,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sliced Wasserstein ``mean_l W_p^p(x θ_l, y θ_l)`` (SWAE's SW² for p = 2; no p-th root).

    Args:
        x: (n, d) sample.
        y: (m, d) sample; m may differ from n (exact 1-D OT between the projections).
        projections: (L, d) directions, used exactly as given (not normalised; Run-Sort-ReRun
            passes its own). If None, ``n_projections`` unit Gaussian directions are drawn with
            :func:`random_directions` and ``generator``.
        n_projections: number of random directions when ``projections`` is None (SWAE: 50).
        p: the power p >= 1.
        generator: optional torch.Generator for the random directions (deterministic results).

    Returns:
        0-d tensor. POT's ``ot.sliced_wasserstein_distance`` returns the p-th root of this value
        (and takes the directions as a (d, L) matrix).
    """
    if p < 1:
        raise ValueError(f"p must be >= 1, got {p}")
    x, y = prepare_pair(x, y)
    d = x.shape[1]
    if projections is None:
        theta = random_directions(
            n_projections, d, generator=generator, dtype=x.dtype, device=x.device
        )
    else:
        if projections.dim() != 2 or projections.shape[1] != d or projections.shape[0] < 1:
            check_matrix(projections, "projections")
            raise ValueError(f"projections must be (L, {d}), got {tuple(projections.shape)}")
        theta = projections
        if theta.dtype is not x.dtype or theta.device != x.device:
            theta = theta.to(device=x.device, dtype=x.dtype)
    with no_autocast(x.device):
        xp = theta @ x.transpose(0, 1)  # (L, n)
        yp = theta @ y.transpose(0, 1)  # (L, m)
        return _wasserstein_pp(xp, yp, p, reduce_all=True)
