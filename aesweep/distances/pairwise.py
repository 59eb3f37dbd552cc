"""Squared Euclidean distances between the rows of two samples (REFERENCE.md "Distances").

Every kernel distance of the package (MMD, Cramer-Wold) is a function of the squared distances
``||a_i - b_j||²``. They are computed in the expanded form ``|a|² + |b|² - 2 a·b`` (one matrix
product, the fast route on every device) after subtracting a common centre from both samples
(distances are translation invariant, and centring removes most of the cancellation of the
expanded form), clamped at 0, and with exact zeros on the diagonal when ``a`` is ``b``.

``cdist(a, b) ** 2`` is avoided on purpose: the gradient of ``sqrt`` at 0 is infinite, so
coincident points (duplicate rows, the diagonal) give NaN gradients. The expanded form has the
gradient ``2 (a_i - b_j)``, which is finite (and 0) at coincident points.
"""

from __future__ import annotations

import torch

from ._common import check_matrix

__all__ = ["pairwise_sq_dists", "sq_dist_block"]


def sq_dist_block(
    a: torch.Tensor,
    b: torch.Tensor,
    sq_a: torch.Tensor,
    sq_b: torch.Tensor,
    *,
    zero_diagonal: bool = False,
) -> torch.Tensor:
    """Squared distances between the rows of ``a`` (r, d) and ``b`` (c, d) as an (r, c) tensor.

    ``sq_a`` and ``sq_b`` are the precomputed squared row norms. With ``zero_diagonal`` the
    entries (k, k), k < min(r, c), are set to exactly 0 (used when ``a`` and ``b`` start at the
    same row of one sample). Meant for the chunked kernels (no autograd through it there); it is
    differentiable all the same.
    """
    d2 = torch.addmm(sq_b.unsqueeze(0), a, b.transpose(0, 1), beta=1.0, alpha=-2.0)
    d2 = d2.add_(sq_a.unsqueeze(1)).clamp_min_(0.0)
    if zero_diagonal:
        d2.diagonal().zero_()
    return d2


def pairwise_sq_dists(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """All squared Euclidean distances ``||a_i - b_j||²`` as an (n, m) tensor.

    Args:
        a: (n, d) sample.
        b: (m, d) sample; ``None`` (or ``a`` itself) for the distances within ``a``, whose
            diagonal is then exactly 0.

    Returns:
        (n, m) tensor, clamped at >= 0, differentiable with a finite gradient everywhere
        (``2 (a_i - b_j)`` for unclamped entries; 0 at coincident points).

    This dense helper allocates n·m values; the distances of this package use chunked sums
    (:mod:`aesweep.distances.chunked`) instead.
    """
    check_matrix(a, "a")
    same = b is None or b is a
    if b is None:
        b = a
    check_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same number of columns: {a.shape} vs {b.shape}")
    # The common shift is detached: the distances do not depend on it, so neither does the
    # gradient (the derivative of the distances with respect to the shift is exactly 0).
    centre = a.detach().mean(0) if same else torch.cat([a.detach(), b.detach()]).mean(0)
    ac = a - centre
    bc = ac if same else b - centre
    sq_a = ac.square().sum(1)
    sq_b = sq_a if same else bc.square().sum(1)
    d2 = (sq_a.unsqueeze(1) + sq_b.unsqueeze(0) - 2.0 * (ac @ bc.transpose(0, 1))).clamp_min(0.0)
    if same:
        eye = torch.eye(d2.shape[0], dtype=torch.bool, device=d2.device)
        d2 = d2.masked_fill(eye, 0.0)
    return d2
