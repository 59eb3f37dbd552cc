"""The training forms of the reconstruction term (registered in
:data:`aesweep.config.models.RECONSTRUCTIONS`; REFERENCE: Models), each from the per-image sums
of squared pixel errors, so Run-Sort-ReRun can weigh its chunks by them."""

from __future__ import annotations

import torch


def sqrt_sum(per_image: torch.Tensor) -> torch.Tensor:
    """sqrt(mean_batch Σ_pixels (x - x̂)²): the moving-window authors' training code."""
    return per_image.mean().sqrt()


def wae_scaled(per_image: torch.Tensor) -> torch.Tensor:
    """0.05 mean_batch Σ_pixels (x - x̂)²: the WAE authors' code."""
    return 0.05 * per_image.mean()


def pixel_sum(per_image: torch.Tensor) -> torch.Tensor:
    """mean_batch Σ_pixels (x - x̂)² (MoCA's ||x - x̂||²)."""
    return per_image.mean()


def squared_error_sums(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-image Σ_pixels (x - x̂)²."""
    return (x - x_hat).pow(2).flatten(1).sum(1)
