"""Radial kernels as elementwise functions of the squared distance (REFERENCE.md "Distances").

Each kernel maps a block of squared distances ``D = ||a - b||²`` to ``f(D)`` and, for the
hand-written backward pass of :mod:`aesweep.distances.chunked`, to ``f'(D)``. The methods may
overwrite the block they are given (it is a fresh buffer), so that a chunk needs only one or two
extra buffers of its size.

- :class:`InverseMultiquadric` -- ``Σ_s C_s / (C_s + D)`` (WAE-MMD, summed over scales).
- :class:`Gaussian` -- ``scale · Σ_r exp(-r D)`` (RBF MMD; CW in one dimension).
- :class:`InverseSqrt` -- ``scale · (α + β D)^-1/2`` (CW closed form for d >= 8, CW two-sample).
- :class:`BesselI0e` -- ``scale · i0e(r D)`` (exact CW in two dimensions).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["Kernel", "InverseMultiquadric", "Gaussian", "InverseSqrt", "BesselI0e"]


class Kernel(abc.ABC):
    """A function ``f`` of the squared distance, with its derivative ``f'``."""

    @abc.abstractmethod
    def value(self, d2: torch.Tensor) -> torch.Tensor:
        """``f(d2)`` elementwise; may overwrite ``d2``."""

    @abc.abstractmethod
    def deriv(self, d2: torch.Tensor) -> torch.Tensor:
        """``f'(d2)`` (derivative with respect to the squared distance); may overwrite ``d2``."""

    def value_and_deriv(self, d2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f(d2), f'(d2))``; may overwrite ``d2``."""
        g = self.deriv(d2.clone())
        return self.value(d2), g


@dataclass(frozen=True)
class InverseMultiquadric(Kernel):
    """``f(D) = Σ_s C_s / (C_s + D)``: the WAE inverse multiquadratics kernel summed over scales."""

    cs: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.cs or any(c <= 0 for c in self.cs):
            raise ValueError(f"IMQ constants must be positive, got {self.cs}")

    def _loop(
        self, d2: torch.Tensor, want_f: bool, want_g: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        # Plain multiplies and adds (no addcmul/addcdiv): they have vmap batching rules and
        # trace under torch.compile of a torch.func transform.
        f = torch.zeros_like(d2) if want_f else None
        g = torch.zeros_like(d2) if want_g else None
        for c in self.cs:
            t = (d2 + c).reciprocal_()  # 1 / (C + D)
            if f is not None:
                f.add_(t, alpha=c)  # f += C / (C + D)
            if g is not None:
                g.sub_(t.square().mul_(c))  # g -= C / (C + D)²
        return f, g

    def value(self, d2: torch.Tensor) -> torch.Tensor:
        f, _ = self._loop(d2, True, False)
        assert f is not None
        return f

    def deriv(self, d2: torch.Tensor) -> torch.Tensor:
        _, g = self._loop(d2, False, True)
        assert g is not None
        return g

    def value_and_deriv(self, d2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f, g = self._loop(d2, True, True)
        assert f is not None and g is not None
        return f, g


@dataclass(frozen=True)
class Gaussian(Kernel):
    """``f(D) = scale · Σ_r exp(-r D)`` (``r = 1 / bandwidth²`` for the RBF kernel)."""

    rates: tuple[float, ...]
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.rates or any(r <= 0 for r in self.rates):
            raise ValueError(f"Gaussian rates must be positive, got {self.rates}")

    # exp of arguments below log(tiny) would give subnormal numbers, which are about 40 times
    # slower on x86 CPUs; the exponent is clamped there (an error below 2 tiny per pair).
    @staticmethod
    def _exp_neg(d2: torch.Tensor, rate: float, *, in_place: bool = True) -> torch.Tensor:
        """exp(-rate D), in ``d2``'s own storage or a new tensor (no ``out=``: it does not
        run under ``torch.func.vmap``)."""
        lo = math.log(torch.finfo(d2.dtype).tiny) + 0.5
        scaled = d2.mul_(-rate) if in_place else d2 * -rate
        return scaled.clamp_min_(lo).exp_()

    def value(self, d2: torch.Tensor) -> torch.Tensor:
        if len(self.rates) == 1:
            f = self._exp_neg(d2, self.rates[0])
        else:
            f = torch.zeros_like(d2)
            for r in self.rates:
                f.add_(self._exp_neg(d2, r, in_place=False))
        return f.mul_(self.scale) if self.scale != 1.0 else f

    def deriv(self, d2: torch.Tensor) -> torch.Tensor:
        if len(self.rates) == 1:
            r = self.rates[0]
            return self._exp_neg(d2, r).mul_(-r * self.scale)
        g = torch.zeros_like(d2)
        for r in self.rates:
            g.add_(self._exp_neg(d2, r, in_place=False), alpha=-r * self.scale)
        return g

    def value_and_deriv(self, d2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if len(self.rates) == 1:
            r = self.rates[0]
            e = self._exp_neg(d2, r)
            return e * self.scale, e.mul_(-r * self.scale)
        return super().value_and_deriv(d2)


@dataclass(frozen=True)
class InverseSqrt(Kernel):
    """``f(D) = scale · (alpha + beta D)^-1/2``."""

    alpha: float
    beta: float
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.alpha <= 0 or self.beta < 0:
            raise ValueError(f"need alpha > 0 and beta >= 0, got {self.alpha}, {self.beta}")

    def value(self, d2: torch.Tensor) -> torch.Tensor:
        f = d2.mul_(self.beta).add_(self.alpha).rsqrt_()
        return f.mul_(self.scale) if self.scale != 1.0 else f

    def deriv(self, d2: torch.Tensor) -> torch.Tensor:
        r = d2.mul_(self.beta).add_(self.alpha).rsqrt_()
        return r.square().mul_(r).mul_(-0.5 * self.beta * self.scale)

    def value_and_deriv(self, d2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = d2.mul_(self.beta).add_(self.alpha).rsqrt_()
        g = r.square().mul_(r).mul_(-0.5 * self.beta * self.scale)
        return (r.mul_(self.scale) if self.scale != 1.0 else r), g


@dataclass(frozen=True)
class BesselI0e(Kernel):
    """``f(D) = scale · i0e(rate D)`` with ``i0e(x) = exp(-x) I_0(x)`` (x >= 0)."""

    rate: float
    scale: float = 1.0

    def value(self, d2: torch.Tensor) -> torch.Tensor:
        return torch.special.i0e(d2.mul_(self.rate)).mul_(self.scale)

    def deriv(self, d2: torch.Tensor) -> torch.Tensor:
        # d/dx i0e(x) = i1e(x) - i0e(x) for x >= 0 (the one-sided derivative at x = 0).
        x = d2.mul_(self.rate)
        return torch.special.i1e(x).sub_(torch.special.i0e(x)).mul_(self.rate * self.scale)

    def value_and_deriv(self, d2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = d2.mul_(self.rate)
        f = torch.special.i0e(x)
        g = torch.special.i1e(x).sub_(f).mul_(self.rate * self.scale)
        return f.mul_(self.scale), g


def as_float_tuple(values: float | Sequence[float], name: str) -> tuple[float, ...]:
    """``values`` as a non-empty tuple of floats (a scalar becomes a 1-tuple)."""
    out: tuple[float, ...]
    if isinstance(values, int | float):
        out = (float(values),)
    elif isinstance(values, torch.Tensor) and values.dim() == 0:
        out = (float(values.item()),)
    else:
        out = tuple(float(v) for v in values)
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out
