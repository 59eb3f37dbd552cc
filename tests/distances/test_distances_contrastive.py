"""contrastive_uniformity (MoCA L_MoCo) against float64 loops; float32 logits under autocast."""

from __future__ import annotations

import math

import pytest
import torch

from aesweep.distances import contrastive_uniformity


def _loops(q: torch.Tensor, queue: torch.Tensor, tau: float, k: torch.Tensor | None) -> float:
    qs, qq = q.tolist(), queue.tolist()
    big_k = len(qq)
    total = 0.0
    for qi in qs:
        total += math.log(
            sum(math.exp(sum(a * b for a, b in zip(qi, qj, strict=True)) / tau) for qj in qq)
            / big_k
        )
    loss = total / len(qs)
    if k is not None:
        loss -= sum(
            sum(a * b for a, b in zip(qi, ki, strict=True))
            for qi, ki in zip(qs, k.tolist(), strict=True)
        ) / (len(qs) * tau)
    return loss


def _unit(*shape: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=dtype)
    return x / x.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("tau", [0.05, 0.5])
def test_matches_loops(tau: float) -> None:
    q, queue, k = _unit(6, 4, seed=0), _unit(11, 4, seed=1), _unit(6, 4, seed=2)
    got = contrastive_uniformity(q, queue, tau=tau)
    assert got.dim() == 0 and got.dtype == torch.float64
    assert math.isclose(float(got), _loops(q, queue, tau, None), rel_tol=1e-10)
    got_k = contrastive_uniformity(q, queue, tau=tau, positives=k)
    assert math.isclose(float(got_k), _loops(q, queue, tau, k), rel_tol=1e-10)


def test_no_overflow_for_small_tau() -> None:
    q = _unit(4, 3, seed=3, dtype=torch.float32)
    v = contrastive_uniformity(q, q.repeat(5, 1), tau=1e-3)  # logits up to 1000
    assert torch.isfinite(v)


def test_float32_logits_under_autocast() -> None:
    q = _unit(8, 16, seed=4, dtype=torch.float32)
    queue = _unit(300, 16, seed=5, dtype=torch.float32)
    ref = contrastive_uniformity(q.double(), queue.double(), tau=0.05)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = contrastive_uniformity(q, queue, tau=0.05)
        low = torch.logsumexp((q @ queue.T) / 0.05, dim=1).mean() - math.log(300)
    assert got.dtype == torch.float32
    assert math.isclose(float(got), float(ref), rel_tol=1e-5)
    assert low.dtype == torch.bfloat16  # what autocast would have done without the guard
    half = contrastive_uniformity(q.half(), queue.half(), tau=0.05)
    assert half.dtype == torch.float32


def test_gradcheck() -> None:
    q = _unit(5, 4, seed=6).requires_grad_(True)
    queue = _unit(7, 4, seed=7).requires_grad_(True)
    k = _unit(5, 4, seed=8)
    assert torch.autograd.gradcheck(
        lambda a, b: contrastive_uniformity(a, b, tau=0.2, positives=k), (q, queue)
    )


def test_permutation_invariance_of_queue() -> None:
    q, queue = _unit(6, 4, seed=9), _unit(20, 4, seed=10)
    a = contrastive_uniformity(q, queue, tau=0.1)
    b = contrastive_uniformity(q, queue[torch.randperm(20)], tau=0.1)
    assert math.isclose(float(a), float(b), rel_tol=1e-12)
