"""Small shared helpers of :mod:`aesweep.distances`: dtype promotion, shape checks, autocast.

The distances of REFERENCE.md "Distances" are sums of many small terms; they are computed in at
least float32 (half-precision inputs are promoted) and with autocast disabled locally, so that a
model trained under ``torch.autocast`` still gets full-precision distances.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

__all__ = ["compute_dtype", "check_matrix", "no_autocast", "prepare_pair"]

_AUTOCAST_DEVICES = ("cpu", "cuda", "xpu", "mps", "hpu", "mtia")


def compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """The common floating dtype of ``tensors``, at least float32 (float64 stays float64)."""
    dtype = torch.float32
    for t in tensors:
        if t.is_floating_point():
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def check_matrix(x: torch.Tensor, name: str) -> None:
    """Raise a ValueError unless ``x`` is a 2-D tensor with at least one row and column."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"{name} must be a 2-D (n, d) tensor, got shape {tuple(x.shape)}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must have at least one row and one column, got {tuple(x.shape)}")


_FULL_PRECISION = (torch.float32, torch.float64)


def prepare_pair(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two (n, d) / (m, d) samples and cast both to their common compute dtype."""
    # fast path (the usual call): nothing to convert; a few attribute reads only
    if (
        isinstance(x, torch.Tensor)
        and isinstance(y, torch.Tensor)
        and x.dim() == 2
        and y.dim() == 2
        and x.dtype is y.dtype
        and x.dtype in _FULL_PRECISION
        and x.shape[1] == y.shape[1]
        and x.shape[0] > 0
        and y.shape[0] > 0
        and x.shape[1] > 0
        and x.device == y.device
    ):
        return x, y
    check_matrix(x, "x")
    check_matrix(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same number of columns, got {x.shape[1]} and {y.shape[1]}"
        )
    if x.device != y.device:
        raise ValueError(f"x and y must be on the same device, got {x.device} and {y.device}")
    dtype = compute_dtype(x, y)
    return x.to(dtype), y.to(dtype)


_NULL_CONTEXT = contextlib.nullcontext()


def no_autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """A context that disables ``torch.autocast`` for ``device`` if it is enabled there.

    Returns a shared no-op context when autocast is off (the usual case), which costs nothing.
    """
    dev = device.type
    if dev in _AUTOCAST_DEVICES:
        try:
            if torch.is_autocast_enabled(dev):
                return torch.autocast(device_type=dev, enabled=False)
        except (RuntimeError, TypeError, ValueError):  # pragma: no cover - no autocast there
            pass
    return _NULL_CONTEXT
