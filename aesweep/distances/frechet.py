"""Fréchet distance between two Gaussians (REFERENCE.md "Distances", "Fréchet distance";
Heusel et al. 2017, FID).

    d² = ||μ1 - μ2||² + Tr(Σ1) + Tr(Σ2) - 2 Tr((Σ1 Σ2)^½)

Computed in float64 with symmetric eigen-decompositions only (no general ``sqrtm``):
``Σ1 Σ2`` is similar to the symmetric PSD matrix ``M = Σ1^½ Σ2 Σ1^½`` (AB and BA have the same
eigenvalues), so ``Tr((Σ1 Σ2)^½) = Σ_k sqrt(λ_k(M))``. ``Σ1^½`` comes from ``eigh(Σ1)`` with
its eigenvalues clamped at 0 and the eigenvalues of ``M`` are clamped at 0 too, so a
rank-deficient covariance (fewer samples than features, constant features) is handled exactly
without any offset; this is where ``scipy.linalg.sqrtm`` would return complex or inaccurate
values. Only if that route fails (an eigen-decomposition does not converge, or a non-finite value
appears) is ``eps · I`` added to both covariances and the computation repeated, as pytorch-fid
does for its sqrtm.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["frechet_distance"]


def _as_float64(a: Any, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().to("cpu", torch.float64).numpy()
    out = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} contains non-finite values")
    return out


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    r = _sqrt_psd(s1)
    m = r @ s2 @ r
    m = 0.5 * (m + m.T)
    ev = np.linalg.eigvalsh(m)
    return float(np.sqrt(np.clip(ev, 0.0, None)).sum())


def frechet_distance(
    mu1: Any,
    sigma1: Any,
    mu2: Any,
    sigma2: Any,
    *,
    eps: float = 1e-6,
) -> float:
    """Fréchet distance ``||μ1-μ2||² + Tr(Σ1 + Σ2) - 2 Tr((Σ1 Σ2)^½)`` (the FID formula).

    Args:
        mu1, mu2: (d,) means (numpy arrays or torch tensors, any float dtype).
        sigma1, sigma2: (d, d) covariances (symmetrised here).
        eps: diagonal offset added to both covariances only as a fallback when the
            eigen-decomposition route fails (see the module docstring).

    Returns:
        The distance as a Python float (>= 0 up to rounding; tiny negative values are clamped).
    """
    m1, m2 = _as_float64(mu1, "mu1").reshape(-1), _as_float64(mu2, "mu2").reshape(-1)
    s1, s2 = _as_float64(sigma1, "sigma1"), _as_float64(sigma2, "sigma2")
    d = m1.shape[0]
    if m2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(
            f"shapes do not match: mu1 {m1.shape}, mu2 {m2.shape}, sigma1 {s1.shape}, "
            f"sigma2 {s2.shape}"
        )
    s1, s2 = 0.5 * (s1 + s1.T), 0.5 * (s2 + s2.T)
    diff = m1 - m2
    try:
        tr_covmean = _trace_sqrt_product(s1, s2)
        ok = np.isfinite(tr_covmean)
    except np.linalg.LinAlgError:
        ok = False
    if not ok:
        offset = eps * np.eye(d)
        tr_covmean = _trace_sqrt_product(s1 + offset, s2 + offset)
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(value, 0.0)
