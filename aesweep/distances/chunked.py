"""Memory-bounded sums of a radial kernel over all pairs of rows (REFERENCE.md "Distances").

``kernel_sum(a, b, kernel)`` returns ``Σ_ij f(||a_i - b_j||²)`` and ``kernel_sum(a, None,
kernel)`` the same sum within ``a`` (optionally without the diagonal). The sum runs over row
chunks, so at most about ``CHUNK_ELEMENTS`` pair values (a few buffers of that size) exist at a
time, for the forward and for the backward pass: a custom :class:`torch.autograd.Function`
recomputes each chunk's distances in backward and applies the analytic gradient

    d/da_i Σ_j f(D_ij) = 2 Σ_j f'(D_ij) (a_i - b_j)

with two matrix products per chunk (nothing of size n·m is kept between the passes). Within one
sample only the upper block triangle is evaluated (the sum is symmetric), which halves the work.
When everything fits in one chunk (small n) a single dense pass is made and ``f'`` is kept from
the forward pass, like plain autograd would.

The function is differentiable once (``once_differentiable``); double backward raises.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.function import once_differentiable

from ._common import no_autocast
from .kernels import Kernel
from .pairwise import sq_dist_block

__all__ = ["CHUNK_ELEMENTS", "kernel_sum", "rows_per_chunk"]

#: Pair values evaluated per chunk (rows per chunk = CHUNK_ELEMENTS // columns). 2**20 float32
#: values are 4 MiB per buffer and a chunk uses three or four such buffers (fastest on a 2-core
#: CPU among 2**16 .. 2**22; see benchmarks/bench_distances.py). Inputs of up to 1,024 rows are
#: done in one dense pass.
CHUNK_ELEMENTS: int = 1 << 20


def rows_per_chunk(n_cols: int, chunk_size: int | None = None) -> int:
    """Rows per chunk: ``chunk_size`` if given, else ``CHUNK_ELEMENTS // n_cols`` (>= 1)."""
    if chunk_size is not None:
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return int(chunk_size)
    return max(1, CHUNK_ELEMENTS // max(1, n_cols))


def _slab_sum(f: torch.Tensor, symmetric: bool, block: int) -> torch.Tensor:
    """Sum of one chunk's kernel values; off-diagonal blocks of a self sum count twice."""
    if not symmetric or f.shape[1] == block:
        return f.sum(dtype=torch.float64)
    return f[:, :block].sum(dtype=torch.float64) + 2.0 * f[:, block:].sum(dtype=torch.float64)


def _weight_slab(g: torch.Tensor, symmetric: bool, block: int, exclude_diagonal: bool) -> None:
    """Apply the pair weights of a chunk to its derivative values, in place."""
    if symmetric:
        if g.shape[1] > block:
            g[:, block:].mul_(2.0)
        if exclude_diagonal:
            g.diagonal().zero_()


class _KernelSum(torch.autograd.Function):
    # forward/setup_context/backward are plain tensor code: torch.func (grad, vmap) and
    # torch.compile derive their rules from it (the one training step runs through them).
    generate_vmap_rule = True

    @staticmethod
    def forward(
        a: torch.Tensor,
        b: torch.Tensor | None,
        kernel: Kernel,
        exclude_diagonal: bool,
        rows: int,
        need_grad: bool,
    ) -> tuple[torch.Tensor | None, ...]:
        symmetric = b is None
        n = a.shape[0]
        with no_autocast(a.device):
            ac, bc, sq_a, sq_b = _centred(a, b)
            g = None
            if rows >= n:  # one dense pass; keep f' for the backward pass
                d2 = sq_dist_block(ac, bc, sq_a, sq_b, zero_diagonal=symmetric)
                if need_grad:
                    f, g = kernel.value_and_deriv(d2)
                    if symmetric and exclude_diagonal:
                        g = g.diagonal_scatter(g.new_zeros(n))
                else:
                    f = kernel.value(d2)
                if symmetric and exclude_diagonal:
                    f = f.diagonal_scatter(f.new_zeros(n))
                total = f.sum()
            else:
                acc = torch.zeros((), dtype=torch.float64, device=a.device)
                for i0 in range(0, n, rows):
                    i1 = min(n, i0 + rows)
                    j0 = i0 if symmetric else 0
                    d2 = sq_dist_block(
                        ac[i0:i1], bc[j0:], sq_a[i0:i1], sq_b[j0:], zero_diagonal=symmetric
                    )
                    f = kernel.value(d2)
                    if symmetric and exclude_diagonal:
                        f.diagonal().zero_()
                    acc = acc + _slab_sum(f, symmetric, i1 - i0)
                total = acc.to(a.dtype)
        if symmetric:
            return total, g, ac, sq_a, None, None
        return total, g, ac, sq_a, bc, sq_b

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
        a, b, kernel, exclude_diagonal, rows, _ = inputs
        _, g, ac, sq_a = output[:4]
        ctx.kernel = kernel
        ctx.exclude_diagonal = exclude_diagonal
        ctx.rows = rows
        ctx.symmetric = b is None
        ctx.has_g = g is not None
        # the centred samples and their squared norms (O(n d)), not the inputs, and f' of
        # the dense pass (absent when chunked: recomputed per chunk in backward)
        saved = (ac, sq_a) if b is None else (ac, sq_a, *output[4:])
        ctx.save_for_backward(*((g,) if g is not None else ()), *saved)
        ctx.mark_non_differentiable(*(t for t in output[1:] if t is not None))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor, *_: Any) -> tuple[torch.Tensor | None, ...]:
        symmetric: bool = ctx.symmetric
        saved = list(ctx.saved_tensors)
        g = saved.pop(0) if ctx.has_g else None
        ac, sq_a = saved[0], saved[1]
        bc, sq_b = (ac, sq_a) if symmetric else (saved[2], saved[3])
        rows: int = ctx.rows
        kernel: Kernel = ctx.kernel
        n = ac.shape[0]
        with no_autocast(ac.device):
            if g is not None and symmetric:
                # one symmetric n x n block: both sides of the pair sum give the same gradient
                both = torch.addmm(g.sum(1, keepdim=True) * ac, g, ac, alpha=-1.0)
                return both * (4.0 * grad_out.to(both.dtype)), None, None, None, None, None
            if g is not None:
                scale = 2.0 * grad_out.to(ac.dtype)
                ga: torch.Tensor | None = None
                gb: torch.Tensor | None = None
                if ctx.needs_input_grad[0]:
                    ga = torch.addmm(g.sum(1, keepdim=True) * ac, g, bc, alpha=-1.0).mul_(scale)
                if ctx.needs_input_grad[1]:
                    gb = torch.addmm(g.sum(0).unsqueeze(1) * bc, g.transpose(0, 1), ac, alpha=-1.0)
                    gb = gb.mul_(scale)
                return ga, gb, None, None, None, None
            ga = torch.zeros_like(ac)
            gb = ga if symmetric else torch.zeros_like(bc)
            for i0 in range(0, n, rows):
                i1 = min(n, i0 + rows)
                j0 = i0 if symmetric else 0
                d2 = sq_dist_block(
                    ac[i0:i1], bc[j0:], sq_a[i0:i1], sq_b[j0:], zero_diagonal=symmetric
                )
                g = kernel.deriv(d2)
                _weight_slab(g, symmetric, i1 - i0, ctx.exclude_diagonal)
                a_rows, b_cols = ac[i0:i1], bc[j0:]
                # rows:    Σ_j g_ij (a_i - b_j);   columns: Σ_i g_ij (b_j - a_i)
                ga[i0:i1].addcmul_(g.sum(1, keepdim=True), a_rows).addmm_(g, b_cols, alpha=-1.0)
                gb[j0:].addcmul_(g.sum(0).unsqueeze(1), b_cols).addmm_(
                    g.transpose(0, 1), a_rows, alpha=-1.0
                )
            scale = 2.0 * grad_out.to(ga.dtype)
            ga = ga.mul_(scale)
            gb = ga if symmetric else gb.mul_(scale)
        grad_a = ga if ctx.needs_input_grad[0] else None
        grad_b = None if symmetric or not ctx.needs_input_grad[1] else gb
        return grad_a, grad_b, None, None, None, None


def _centred(
    a: torch.Tensor, b: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Both samples shifted by their common mean, and their squared row norms."""
    if b is None:
        ac = a - a.mean(0)
        sq = ac.square().sum(1)
        return ac, ac, sq, sq
    n, m = a.shape[0], b.shape[0]
    centre = (a.sum(0) + b.sum(0)) / (n + m)
    ac, bc = a - centre, b - centre
    return ac, bc, ac.square().sum(1), bc.square().sum(1)


def kernel_sum(
    a: torch.Tensor,
    b: torch.Tensor | None,
    kernel: Kernel,
    *,
    exclude_diagonal: bool = False,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """``Σ_ij f(||a_i - b_j||²)``, or within ``a`` when ``b`` is None, in bounded memory.

    Args:
        a: (n, d) floating tensor.
        b: (m, d) tensor of the same dtype and device, or None for the sum within ``a``.
        kernel: the radial kernel ``f`` (see :mod:`aesweep.distances.kernels`).
        exclude_diagonal: for ``b is None``, leave out the terms i = j (U-statistics).
        chunk_size: rows per chunk; default ``CHUNK_ELEMENTS // columns`` (one dense pass for
            small inputs).

    Returns:
        0-d tensor of ``a``'s dtype (chunk sums are accumulated in float64), differentiable
        once with respect to ``a`` and ``b``.
    """
    if b is not None and exclude_diagonal:
        raise ValueError("exclude_diagonal applies to sums within one sample (b=None) only")
    cols = a.shape[0] if b is None else b.shape[0]
    rows = rows_per_chunk(cols, chunk_size)
    need_grad = a.requires_grad or (b is not None and b.requires_grad)
    out: torch.Tensor = _KernelSum.apply(a, b, kernel, exclude_diagonal, rows, need_grad)[0]
    return out
