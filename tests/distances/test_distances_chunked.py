"""Chunked pair sums: same value and gradient as the dense pass, bounded memory, dtypes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import aesweep.distances.chunked as chunked
from aesweep.distances import cw_distance, cw_normality, kernel_sum, mmd_imq, mmd_rbf
from aesweep.distances.kernels import InverseMultiquadric

Fn = Callable[..., torch.Tensor]

KERNEL_DISTANCES: dict[str, Fn] = {
    "mmd_imq_u": lambda x, y, **kw: mmd_imq(x, y, **kw),
    "mmd_imq_v": lambda x, y, **kw: mmd_imq(x, y, unbiased=False, **kw),
    "mmd_rbf": lambda x, y, **kw: mmd_rbf(x, y, bandwidth=[1.5, 4.0], **kw),
    "cw_normality": lambda x, y, **kw: cw_normality(x, **kw),
    "cw_normality_d1": lambda x, y, **kw: cw_normality(x[:, :1], **kw),
    "cw_normality_d2": lambda x, y, **kw: cw_normality(x[:, :2], **kw),
    "cw_distance": lambda x, y, **kw: cw_distance(x, y, gamma=0.2, **kw),
}


def _pair(
    n: int, m: int, d: int, seed: int, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    y = (torch.randn(m, d, generator=g, dtype=dtype) + 0.3).to(dtype)
    return x, y


@pytest.mark.parametrize("name", list(KERNEL_DISTANCES))
@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_chunked_equals_dense_value_and_gradient(name: str, chunk: int) -> None:
    fn = KERNEL_DISTANCES[name]
    x, y = _pair(23, 17, 9, seed=chunk)
    xd, yd = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
    xc, yc = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
    dense = fn(xd, yd)  # 23 rows: one dense pass
    small = fn(xc, yc, chunk_size=chunk)
    torch.testing.assert_close(small, dense, rtol=1e-12, atol=1e-14)
    dense.backward()
    small.backward()
    torch.testing.assert_close(xc.grad, xd.grad, rtol=1e-10, atol=1e-14)
    if yd.grad is not None:
        torch.testing.assert_close(yc.grad, yd.grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["mmd_imq_u", "cw_normality", "cw_distance", "cw_normality_d2"])
def test_gradcheck_chunked_path(name: str) -> None:
    fn = KERNEL_DISTANCES[name]
    x, y = _pair(7, 5, 8, seed=11)
    x.requires_grad_(True)
    y.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: fn(a, b, chunk_size=2), (x, y))


def test_module_constant_controls_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _pair(40, 30, 8, seed=3)
    dense = mmd_imq(x, y)
    monkeypatch.setattr(chunked, "CHUNK_ELEMENTS", 64)  # 2 rows per chunk
    assert chunked.rows_per_chunk(30) == 2
    torch.testing.assert_close(mmd_imq(x, y), dense, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(KERNEL_DISTANCES))
@pytest.mark.parametrize("chunk", [None, 2])
def test_gradient_finite_with_duplicate_rows(name: str, chunk: int | None) -> None:
    fn = KERNEL_DISTANCES[name]
    x, y = _pair(6, 6, 8, seed=5)
    x = torch.cat([x, x[:3], y[:2]]).requires_grad_(True)  # duplicates within x and across x, y
    y = y.clone().requires_grad_(True)
    fn(x, y, chunk_size=chunk).backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    assert y.grad is None or bool(torch.isfinite(y.grad).all())
    # all rows identical: every pair coincides
    z = torch.ones(5, 8, dtype=torch.float64, requires_grad=True)
    fn(z, z.detach() + 0.1, chunk_size=chunk).backward()
    assert z.grad is not None and bool(torch.isfinite(z.grad).all())


def test_kernel_sum_symmetric_half_matches_full() -> None:
    x, _ = _pair(13, 1, 4, seed=6)
    k = InverseMultiquadric((1.0, 3.0))
    full = kernel_sum(x, x.clone(), k)  # not recognised as one sample: all pairs
    torch.testing.assert_close(kernel_sum(x, None, k, chunk_size=4), full, rtol=1e-13, atol=0)
    diag = 13 * 2.0
    torch.testing.assert_close(
        kernel_sum(x, None, k, exclude_diagonal=True, chunk_size=5), full - diag, rtol=1e-13, atol=0
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_low_precision_inputs_are_computed_in_float32(dtype: torch.dtype) -> None:
    x, y = _pair(20, 20, 8, seed=7, dtype=torch.float32)
    ref = KERNEL_DISTANCES["mmd_imq_u"](x.double(), y.double())
    got = mmd_imq(x.to(dtype), y.to(dtype))
    assert got.dtype == torch.float32
    tol = 1e-5 if dtype == torch.float32 else 5e-2
    torch.testing.assert_close(got.double(), ref, rtol=tol, atol=tol * 1e-2)


def test_autocast_does_not_lower_precision() -> None:
    x, y = _pair(64, 64, 16, seed=8, dtype=torch.float32)
    x.requires_grad_(True)
    refs = {name: fn(x, y).detach() for name, fn in KERNEL_DISTANCES.items() if "d1" not in name}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for name, ref in refs.items():
            got = KERNEL_DISTANCES[name](x, y)
            assert got.dtype == torch.float32, name
            torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-7)
            got.backward()
    assert x.grad is not None and x.grad.dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    x, y = _pair(300, 200, 16, seed=9)
    for name, fn in KERNEL_DISTANCES.items():
        cpu = fn(x, y, chunk_size=64)
        gpu = fn(x.cuda(), y.cuda(), chunk_size=64)
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-10, atol=1e-12, msg=name)


class _LargestTensor(TorchDispatchMode):
    """Records the largest tensor any aten op produces (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.slow
def test_memory_bounded_at_16k_rows() -> None:
    """mmd_imq and cw_normality at n = 16,384, d = 64 (RSR batch size) never build n x n.

    Not a timing test: every tensor produced by any aten op of the forward and the backward
    pass is recorded, and the largest must be one chunk (CHUNK_ELEMENTS pair values, 4 MiB in
    float32) or the input itself, far below n² = 2**28 values (1 GiB in float32). mmd_imq runs
    with one scale: the buffers per chunk are the same as with seven, the test is 7x cheaper.

    Runs on one thread: on a shared 2-core machine, two OpenMP threads that spin-wait while
    other processes run made this test 5-7x slower (68 s instead of 10 s).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _check_memory_bounded()
    finally:
        torch.set_num_threads(threads)


def _check_memory_bounded() -> None:
    n, d = 16384, 64
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g).requires_grad_(True)
    y = torch.randn(n, d, generator=g)
    bound = max(chunked.CHUNK_ELEMENTS, n * d)
    for fn in (lambda: mmd_imq(x, y, scales=(1.0,)), lambda: cw_normality(x)):
        x.grad = None
        mode = _LargestTensor()
        with mode:
            value = fn()
            value.backward()
        assert torch.isfinite(value)
        assert x.grad is not None and bool(torch.isfinite(x.grad).all())
        assert mode.largest <= bound, (mode.largest, bound)
        assert mode.largest * 64 <= n * n


def test_dense_reference_would_be_detected() -> None:
    """The recorder of the memory test does see an n x n intermediate when one exists."""
    x = torch.randn(300, 4)
    mode = _LargestTensor()
    with mode:
        torch.cdist(x, x).sum()
    assert mode.largest >= 300 * 300
