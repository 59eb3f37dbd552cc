"""Memory-bounded sums of a radial kernel over all pairs of rows (REFERENCE.md "Distances").

``kernel_sum(a, b, kernel)`` returns ``Σ_ij f(||a_i - b_j||²)`` and ``kernel_sum(a, None,
kernel)`` the same sum within ``a`` (optionally without the diagonal). The sum runs over row
chunks, so at most about ``CHUNK_ELEMENTS`` pair values (a few buffers of that size) exist at a
time, for the forward and for the backward pass: a custom :class:`torch.autograd.Function`
recomputes each chunk's distances in backward and applies the analytic gradient

    d/da_i Σ_j f(D_ij) = 2 Σ_j f'(D_ij) (a_i - b_j)

with two matrix products per chunk (nothing of size n·m is kept between the passes). Within one
sample only the upper block triangle is evaluated (the sum is symmetric), which halves the work.
When everything fits in one chunk (small n) a single dense pass of plain tensor code is made
and ``f'`` is kept from it, like plain autograd would; that pass is what ``torch.func`` (a
pack's vmap) and ``torch.compile`` trace, the chunked one has its vmap rule generated.

Both passes are differentiable once (a training step needs no more): the chunked one raises on
a double backward; the dense one has no second derivative through f'.
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
    """The chunked pass: forward sums chunk by chunk; backward recomputes each chunk's
    distances and applies the analytic gradient (nothing of size n x m kept between them).
    forward/setup_context/backward are plain tensor code, so ``torch.func`` derives its
    vmap rule from them."""

    generate_vmap_rule = True

    @staticmethod
    def forward(
        a: torch.Tensor, b: torch.Tensor | None, kernel: Kernel, exclude_diagonal: bool, rows: int
    ) -> tuple[torch.Tensor | None, ...]:
        symmetric = b is None
        n = a.shape[0]
        with no_autocast(a.device):
            ac, bc, sq_a, sq_b = _centred(a, b)
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
            return total, ac, sq_a, None, None
        return total, ac, sq_a, bc, sq_b

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
        _, b, kernel, exclude_diagonal, rows = inputs
        ctx.kernel = kernel
        ctx.exclude_diagonal = exclude_diagonal
        ctx.rows = rows
        ctx.symmetric = b is None
        # the centred samples and their squared norms (O(n d)), not the inputs
        saved = [t for t in output[1:] if t is not None]
        ctx.save_for_backward(*saved)
        ctx.mark_non_differentiable(*saved)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor, *_: Any) -> tuple[torch.Tensor | None, ...]:
        symmetric: bool = ctx.symmetric
        saved = ctx.saved_tensors
        ac, sq_a = saved[0], saved[1]
        bc, sq_b = (ac, sq_a) if symmetric else (saved[2], saved[3])
        rows: int = ctx.rows
        kernel: Kernel = ctx.kernel
        n = ac.shape[0]
        with no_autocast(ac.device):
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
        return grad_a, grad_b, None, None, None


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
    if rows >= a.shape[0]:  # everything in one chunk
        return _dense_sum(a, b, kernel, exclude_diagonal)
    out: torch.Tensor = _KernelSum.apply(a, b, kernel, exclude_diagonal, rows)[0]
    return out


def _dense_sum(
    a: torch.Tensor, b: torch.Tensor | None, kernel: Kernel, exclude_diagonal: bool
) -> torch.Tensor:
    """The sum in one pass of plain tensor code: what a step of a small set takes, and what
    ``torch.func`` (a pack's vmap) and ``torch.compile`` trace without a custom rule. The
    kernel's values and derivatives f, f' are computed without autograd (in place, as the
    chunked pass does); ``Σ f + Σ f' (D - sg(D))`` then has the value Σ f and, through the
    squared distances D, the gradient Σ f' dD (once differentiable, like the chunked pass)."""
    symmetric = b is None
    with no_autocast(a.device):
        ac, bc, sq_a, sq_b = _centred(a, b)
        d2 = sq_dist_block(ac, bc, sq_a, sq_b, zero_diagonal=symmetric)
        if not d2.requires_grad:  # no gradient wanted: the values alone
            f = kernel.value(d2)
            if symmetric and exclude_diagonal:
                f = f.diagonal_scatter(f.new_zeros(f.shape[0]))
            return f.sum()
        with torch.no_grad():
            f, g = kernel.value_and_deriv(d2.detach().clone())
            if symmetric and exclude_diagonal:
                f = f.diagonal_scatter(f.new_zeros(f.shape[0]))
                g = g.diagonal_scatter(g.new_zeros(g.shape[0]))
        return f.sum() + (g * (d2 - d2.detach())).sum()
