"""Maximum mean discrepancy estimators (REFERENCE.md "Distances", "MMD with the inverse
multiquadratics kernel"; Tolstikhin et al., Wasserstein Auto-Encoders, ICLR 2018).

Both estimators of ``MMD²(P, Q) = E k(x, x') + E k(y, y') - 2 E k(x, y)``:

- ``unbiased=True`` (the WAE code's U-statistic, used for training): the self terms leave out
  the diagonal, ``Σ_{i≠j} k(x_i, x_j) / (n (n - 1))``; the cross term uses all n·m pairs,
  ``2 Σ_ij k(x_i, y_j) / (n m)``. It can be negative; never take its log without care.
- ``unbiased=False`` (the V-statistic, for evaluation and logs): the diagonal is included and
  every mean is over all pairs; it is the squared RKHS norm of the difference of the empirical
  mean embeddings, so it is >= 0.

The pair sums run in row chunks (:mod:`aesweep.distances.chunked`), so memory stays O(n·chunk)
for the forward and the backward pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._common import no_autocast, prepare_pair
from .chunked import kernel_sum
from .kernels import Gaussian, InverseMultiquadric, Kernel, as_float_tuple

__all__ = ["WAE_IMQ_SCALES", "mmd_imq", "mmd_rbf"]

#: The WAE code's multipliers s of C = C_base · s.
WAE_IMQ_SCALES: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _mmd(
    x: torch.Tensor,
    y: torch.Tensor,
    kernel: Kernel,
    unbiased: bool,
    chunk_size: int | None,
) -> torch.Tensor:
    n, m = x.shape[0], y.shape[0]
    if unbiased and (n < 2 or m < 2):
        raise ValueError(f"the unbiased MMD needs at least 2 rows in each sample, got {n} and {m}")
    with no_autocast(x.device):
        s_xx = kernel_sum(x, None, kernel, exclude_diagonal=unbiased, chunk_size=chunk_size)
        s_yy = kernel_sum(y, None, kernel, exclude_diagonal=unbiased, chunk_size=chunk_size)
        s_xy = kernel_sum(x, y, kernel, chunk_size=chunk_size)
    if unbiased:
        return s_xx / (n * (n - 1)) + s_yy / (m * (m - 1)) - 2.0 * s_xy / (n * m)
    return s_xx / (n * n) + s_yy / (m * m) - 2.0 * s_xy / (n * m)


def mmd_imq(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    scales: Sequence[float] = WAE_IMQ_SCALES,
    c_base: float | None = None,
    unbiased: bool = True,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Multi-scale inverse-multiquadratics MMD of WAE-MMD (REFERENCE.md "Distances").

    ``k_C(a, b) = C / (C + ||a - b||²)`` with ``C = c_base · s`` for every ``s`` in ``scales``;
    the MMD estimates of all scales are summed::

        MMD(x, y) = Σ_s [ Σ_{i≠j} k(x_i, x_j) / (n (n-1)) + Σ_{i≠j} k(y_i, y_j) / (m (m-1))
                          - 2 Σ_ij k(x_i, y_j) / (n m) ]

    Args:
        x: (n, d) sample, e.g. the latents Z (differentiable).
        y: (m, d) sample, e.g. a prior sample P; m may differ from n.
        scales: the multipliers s (WAE: 0.1, 0.2, 0.5, 1, 2, 5, 10).
        c_base: C_base; default ``2 d`` (Gaussian prior with σ_z = 1). Use 2 for a
            unit-sphere prior.
        unbiased: U-statistic (diagonal excluded in the self terms; the WAE training loss) if
            True, else the non-negative V-statistic (all pairs).
        chunk_size: rows per chunk of the pair sums (default: automatic; see
            :data:`aesweep.distances.chunked.CHUNK_ELEMENTS`).

    Returns:
        0-d tensor in the inputs' dtype (at least float32).
    """
    x, y = prepare_pair(x, y)
    c = 2.0 * x.shape[1] if c_base is None else float(c_base)
    if c <= 0:
        raise ValueError(f"c_base must be positive, got {c_base}")
    kernel = InverseMultiquadric(tuple(c * s for s in as_float_tuple(scales, "scales")))
    return _mmd(x, y, kernel, unbiased, chunk_size)


def mmd_rbf(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    bandwidth: float | Sequence[float],
    unbiased: bool = True,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """MMD with the Gaussian (RBF) kernel ``k(a, b) = exp(-||a - b||² / bandwidth²)``.

    The WAE paper's alternative to the IMQ kernel (REFERENCE.md "Distances": offered as an
    option only). ``bandwidth`` h is the length scale in ``exp(-||a-b||²/h²)``; it is **not**
    the standard deviation σ of ``exp(-||a-b||²/(2σ²))``: h = sqrt(2) σ. A sequence of
    bandwidths sums the MMDs of the kernels (as ``mmd_imq`` does over scales).

    Args:
        x: (n, d) sample.
        y: (m, d) sample.
        bandwidth: h > 0, or a sequence of them.
        unbiased: U-statistic if True, V-statistic (>= 0) if False; see the module docstring.
        chunk_size: rows per chunk of the pair sums (default: automatic).

    Returns:
        0-d tensor in the inputs' dtype (at least float32).
    """
    x, y = prepare_pair(x, y)
    hs = as_float_tuple(bandwidth, "bandwidth")
    if any(h <= 0 for h in hs):
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    kernel = Gaussian(rates=tuple(1.0 / (h * h) for h in hs))
    return _mmd(x, y, kernel, unbiased, chunk_size)
