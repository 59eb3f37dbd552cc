"""Contrastive uniformity loss of MoCA (REFERENCE.md "Distances", "Contrastive uniformity";
the Momentum Contrastive Autoencoder paper).

    L_MoCo = (1/B) Σ_i log( (1/K) Σ_j exp(q_i · Q_j / τ) )  -  (1/B) Σ_i q_i · k_i / τ

The logits are computed in (at least) float32 with autocast disabled, and the log-mean-exp as
``logsumexp - log K`` (no overflow for small τ).
"""

from __future__ import annotations

import math

import torch

from ._common import check_matrix, compute_dtype, no_autocast

__all__ = ["contrastive_uniformity"]


def contrastive_uniformity(
    q: torch.Tensor,
    queue: torch.Tensor,
    *,
    tau: float,
    positives: torch.Tensor | None = None,
    exclude_self: bool = False,
) -> torch.Tensor:
    """MoCA's L_MoCo of the queries ``q`` against the ``queue`` of K keys.

    Args:
        q: (B, d) queries (MoCA: normalised encoder outputs).
        queue: (K, d) keys (MoCA: the K most recent momentum-encoder keys, no gradient). The
            caller decides whether the queue carries a gradient.
        tau: the temperature τ > 0 (MoCA: 0.05).
        positives: optional (B, d) keys k_i of the same images; if given, the alignment term
            ``- mean_i q_i · k_i / τ`` is added.
        exclude_self: the queue's first B rows are the queries themselves (a set compared
            with itself: minibatch, moving window). Each query's own pair (i, i) is left out
            and the mean runs over the K - 1 others: MoCA §3's negatives are other samples,
            and exp(q_i·q_i/τ) = e^{1/τ} would swamp the sum (the loss then sits near its
            bound 1/τ - log K with almost no gradient).

    Returns:
        0-d tensor in float32 (float64 for float64 inputs).
    """
    check_matrix(q, "q")
    check_matrix(queue, "queue")
    if q.shape[1] != queue.shape[1]:
        raise ValueError(f"q and queue must have the same width: {q.shape} vs {queue.shape}")
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    dtype = compute_dtype(q, queue) if positives is None else compute_dtype(q, queue, positives)
    k = queue.shape[0]
    if exclude_self and (k < 2 or q.shape[0] > k):
        raise ValueError(f"exclude_self needs q's {q.shape[0]} rows among K >= 2 keys, K = {k}")
    with no_autocast(q.device):
        qf = q.to(dtype)
        logits = (qf @ queue.to(dtype).transpose(0, 1)) / tau
        if exclude_self:
            rows = torch.arange(q.shape[0], device=q.device)
            logits = logits.index_put((rows, rows), logits.new_full((), -math.inf))
            k -= 1
        loss = (torch.logsumexp(logits, dim=1) - math.log(k)).mean()
        if positives is not None:
            if positives.shape != q.shape:
                raise ValueError(f"positives must have q's shape {tuple(q.shape)}")
            loss = loss - (qf * positives.to(dtype)).sum(1).mean() / tau
    return loss
