"""Cramer-Wold distances (REFERENCE.md "Distances").

- :func:`cw_normality`: the closed-form Cramer-Wold distance of a sample to N(0, I) of CWAE
  (Tabor et al., "Cramer-Wold AutoEncoder", JMLR 2020), in the authors' code form (the paper's
  factor 1/(2 sqrt(pi)) is dropped; gmum/cwae ``src/cw.py`` and gmum/cwae-pytorch
  ``src/metrics/cw.py``, function ``cw``).
- :func:`cw_distance`: the two-sample Cramer-Wold distance of the LCW paper ("Generative models
  with kernel distance in data space"), with the factor 1/(2 sqrt(pi γ)).

Both rest on ``φ_D(s) = 1F1(1/2; D/2; -s)``, the smoothed-projection kernel of dimension D:

- D >= 8: the approximation ``φ_D(s) ≈ (1 + 4 s / (2D - 3))^-1/2`` used by the papers (REFERENCE.md
  formulas; the authors' code accepts it from D = 8 on).
- D = 1: exactly ``φ_1(s) = exp(-s)`` (the authors' ``cw_1d``);
- D = 2: exactly ``φ_2(s) = exp(-s/2) I_0(s/2) = i0e(s/2)`` (the authors' ``cw_2d``, which
  evaluates I_0 with the Abramowitz-Stegun polynomials 9.8.1/9.8.2; here torch.special.i0e, which
  agrees to about 1e-7).
- 3 <= D <= 7: neither the closed form nor an exact formula is implemented; a ValueError is raised
  (check first with :func:`cw_normality_supported`).

With the general formula (CWAE, Theorem 3, times 2 sqrt(pi)):

    cw(Z) = (1 + γ)^-1/2 + γ^-1/2 / N² Σ_ij φ_D(||z_i - z_j||² / 4γ)
            - 2 (γ + 1/2)^-1/2 / N Σ_i φ_D(||z_i||² / (2 + 4γ)),

which for D >= 8 is the REFERENCE.md closed form with K = 1/(2D - 3). Note that the authors'
``cw_1d`` keeps the paper's factor (its Gaussian densities carry 1/sqrt(2 pi var)), so it equals
``cw_normality(z) / (2 sqrt(pi))`` for d = 1; here all dimensions use the same (code) form, so
values and log-values are consistent across d (the factor is a constant shift of log cw).
"""

from __future__ import annotations

import math

import torch

from ._common import check_matrix, compute_dtype, no_autocast, prepare_pair
from .chunked import kernel_sum
from .kernels import BesselI0e, Gaussian, InverseSqrt, Kernel

__all__ = [
    "cw_distance",
    "cw_normality",
    "cw_normality_gamma",
    "cw_normality_supported",
    "silverman_gamma",
]

_MIN_CLOSED_FORM_DIM = 8


def cw_normality_supported(d: int) -> bool:
    """Whether the Cramer-Wold formulas are available in dimension ``d`` (1, 2 or >= 8)."""
    return d in (1, 2) or d >= _MIN_CLOSED_FORM_DIM


def _check_dim(d: int, what: str) -> None:
    if not cw_normality_supported(d):
        raise ValueError(
            f"{what}: the Cramer-Wold closed form needs dimension >= {_MIN_CLOSED_FORM_DIM} "
            f"(its approximation of the kernel φ_D by (1 + 4s/(2D-3))^-1/2 is too coarse below), "
            f"and exact formulas exist here for D = 1 and D = 2 only; got D = {d}. Use a "
            f"latent dimension of 1, 2 or >= 8, or another distance (MMD, sliced Wasserstein)."
        )


def cw_normality_gamma(n: int) -> float:
    """Silverman's rule for σ = 1 as used by CWAE: ``γ = (4 / (3 n)) ** 0.4``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return (4.0 / (3.0 * n)) ** 0.4


def silverman_gamma(sigma: float, n: int) -> float:
    """The LCW bandwidth ``γ = (1.06 σ n^-0.2)²`` (REFERENCE.md "Distances").

    ``sigma`` is the standard deviation of the data (fixed per data set, e.g. 0.3081 for MNIST)
    or of the joined batch; ``n`` the sample size. Check: ``silverman_gamma(0.3081, 64 / 128 /
    256) ≈ 0.0202 / 0.0153 / 0.0116``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    return (1.06 * float(sigma) * float(n) ** -0.2) ** 2


def _phi_kernel(dim: int, rate: float, scale: float) -> Kernel:
    """``scale · φ_dim(rate · D)`` as a kernel of the squared distance D."""
    if dim == 1:
        return Gaussian(rates=(rate,), scale=scale)
    if dim == 2:
        return BesselI0e(rate=rate / 2.0, scale=scale)
    return InverseSqrt(alpha=1.0, beta=4.0 * rate / (2.0 * dim - 3.0), scale=scale)


def _phi(dim: int, s: torch.Tensor) -> torch.Tensor:
    """``φ_dim(s)`` with autograd (s >= 0)."""
    if dim == 1:
        return torch.exp(-s)
    if dim == 2:
        return torch.special.i0e(s / 2.0)
    return torch.rsqrt(1.0 + 4.0 * s / (2.0 * dim - 3.0))


def cw_normality(
    z: torch.Tensor, *, gamma: float | None = None, chunk_size: int | None = None
) -> torch.Tensor:
    """Cramer-Wold distance of the sample ``z`` to N(0, I), CWAE closed form (code form).

    For d >= 8, with ``γ = (4 / (3N))^0.4`` (N = rows of ``z``) and ``K = 1 / (2d - 3)``::

        cw(Z) = (1 + γ)^-1/2 + 1/N² Σ_ij (γ + K ||z_i - z_j||²)^-1/2
                - 2/N Σ_i (γ + 1/2 + K ||z_i||²)^-1/2

    The diagonal i = j is included (a V-statistic), so cw(Z) > 0 and ``log cw`` is safe. For
    d = 1 and d = 2 the exact formulas (module docstring) are used; 3 <= d <= 7 raises a
    ValueError (see :func:`cw_normality_supported`).

    Args:
        z: (N, d) sample.
        gamma: the smoothing γ; default Silverman's ``(4/(3N))^0.4`` from the rows passed in.
        chunk_size: rows per chunk of the pair sum (default: automatic).

    Returns:
        0-d tensor in z's dtype (at least float32). Check values (REFERENCE.md): the mean over
        N(0, I) samples of N = 128 is about 0.0470 for d = 8 and 0.0163 for d = 64.
    """
    check_matrix(z, "z")
    n, d = z.shape
    _check_dim(d, "cw_normality")
    z = z.to(compute_dtype(z))
    g = cw_normality_gamma(n) if gamma is None else float(gamma)
    if g <= 0:
        raise ValueError(f"gamma must be positive, got {gamma}")
    if d >= _MIN_CLOSED_FORM_DIM:
        k = 1.0 / (2.0 * d - 3.0)
        pair_kernel: Kernel = InverseSqrt(alpha=g, beta=k)
    else:
        pair_kernel = _phi_kernel(d, 1.0 / (4.0 * g), 1.0 / math.sqrt(g))
    with no_autocast(z.device):
        pairs = kernel_sum(z, None, pair_kernel, chunk_size=chunk_size)
        sq_norms = z.square().sum(1)
        if d >= _MIN_CLOSED_FORM_DIM:
            origin = torch.rsqrt(g + 0.5 + k * sq_norms).sum()
        else:
            origin = _phi(d, sq_norms / (2.0 + 4.0 * g)).sum() / math.sqrt(g + 0.5)
    return (1.0 + g) ** -0.5 + pairs / (n * n) - 2.0 / n * origin


def cw_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    gamma: float,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Two-sample Cramer-Wold distance of the LCW paper (REFERENCE.md "Distances").

    Inputs are flattened to (n, D) and (m, D). With ``φ_D(s) = (1 + 4s/(2D-3))^-1/2``::

        cw(X, Y; γ) = 1/(2 sqrt(π γ)) [ mean_ij φ(||x_i - x_j||²/4γ) + mean_ij φ(||y_i - y_j||²/4γ)
                                        - 2 mean_ij φ(||x_i - y_j||²/4γ) ]

    (all pairs, diagonal included; n and m may differ). For D = 1 and D = 2 the exact φ_D is
    used; 3 <= D <= 7 raises a ValueError.

    Args:
        x: (n, ...) sample, flattened to (n, D).
        y: (m, ...) sample, flattened to (m, D).
        gamma: the bandwidth γ > 0, e.g. :func:`silverman_gamma` (LCW: 0.0202 / 0.0153 / 0.0116
            for MNIST with N = 64 / 128 / 256).
        chunk_size: rows per chunk of the pair sums (default: automatic).

    Returns:
        0-d tensor in the inputs' dtype (at least float32).
    """
    if x.dim() < 1 or y.dim() < 1:
        raise ValueError("x and y need a leading sample dimension")
    x, y = prepare_pair(x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1))
    n, dim = x.shape
    m = y.shape[0]
    _check_dim(dim, "cw_distance")
    g = float(gamma)
    if g <= 0:
        raise ValueError(f"gamma must be positive, got {gamma}")
    kernel = _phi_kernel(dim, 1.0 / (4.0 * g), 1.0)
    with no_autocast(x.device):
        s_xx = kernel_sum(x, None, kernel, chunk_size=chunk_size)
        s_yy = kernel_sum(y, None, kernel, chunk_size=chunk_size)
        s_xy = kernel_sum(x, y, kernel, chunk_size=chunk_size)
    inner = s_xx / (n * n) + s_yy / (m * m) - 2.0 * s_xy / (n * m)
    return inner / (2.0 * math.sqrt(math.pi * g))
