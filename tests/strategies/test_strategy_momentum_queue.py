"""Momentum queue (MoCA §3, Algorithm 1): the queue holds the K most recent momentum keys in
order, the loss is L_MoCo, the momentum encoder follows m = 1 - (1 - m0)(cos(πt/T) + 1)/2."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from aesweep.strategies.momentum_queue.strategy import momentum_at
from tests.strategies.strategy_helpers import build, cw_by_hand, digits

B, STEPS, M0, TAU = 4, 6, 0.5, 0.05


def _moco_by_hand(q: torch.Tensor, queue: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """(1/B) Σ_i log((1/K) Σ_j exp(q_i·Q_j/τ)) - (1/B) Σ_i q_i·k_i/τ, written out."""
    q, queue, k = q.double(), queue.double(), k.double()
    rows = [torch.log(torch.exp(q[i] @ queue.T / TAU).mean()) for i in range(len(q))]
    return torch.stack(rows).mean() - (q * k).sum(1).mean() / TAU


def test_cosine_schedule_end_points() -> None:
    assert momentum_at(0, 100, 0.99) == pytest.approx(0.99)
    assert momentum_at(50, 100, 0.99) == pytest.approx(0.995)
    assert momentum_at(100, 100, 0.99) == pytest.approx(1.0)


@pytest.mark.parametrize("size", [12, 10])
def test_queue_loss_and_momentum_encoder_follow_moca(size: int) -> None:
    data = digits(train_size=B)  # one step per epoch call
    spec = {"kind": "momentum_queue", "batch_size": B, "size": size, "momentum": M0}
    model, optimizer, strat = build("moca", spec, data, lr=0.5, epochs=STEPS, tau=TAU)
    assert strat.total_steps == STEPS
    reference = copy.deepcopy(model.net.encoder)  # Ẽ starts as a copy of E
    keys = []
    for t in range(STEPS):
        torch.manual_seed(100 + t)
        x = data.train[torch.randperm(B)]  # the step's image order (its first RNG draw)
        with torch.no_grad():
            q = model.encode(x)
            k = F.normalize(reference(x), dim=1)
            rec = (x - model.decode(q)).pow(2).flatten(1).sum(1).mean()
            expected = _moco_by_hand(q, strat.queue.rows, k)
        keys.append(k)
        torch.manual_seed(100 + t)
        metrics = strat.train_epoch(model, optimizer, data.train, t + 1).means()
        assert metrics["train_latent"] == pytest.approx(float(expected), rel=1e-5, abs=1e-5)
        assert metrics["train_rec"] == pytest.approx(float(rec), rel=1e-5)

        m = 1 - (1 - M0) * (math.cos(math.pi * t / STEPS) + 1) / 2
        with torch.no_grad():
            for r, e in zip(reference.parameters(), model.net.encoder.parameters(), strict=True):
                r.copy_(m * r + (1 - m) * e)
        for r, s in zip(reference.parameters(), strat.key_encoder.parameters(), strict=True):
            torch.testing.assert_close(s, r, rtol=1e-5, atol=1e-6)
        assert not any(p.requires_grad for p in strat.key_encoder.parameters())
    # The K most recent keys, oldest first.
    torch.testing.assert_close(strat.queue.ordered(), torch.cat(keys)[-size:], rtol=1e-5, atol=1e-5)


def test_with_cw_the_distance_sees_fresh_latents_joined_with_the_queue() -> None:
    data = digits(train_size=B)
    spec = {"kind": "momentum_queue", "batch_size": B, "size": 8, "momentum": 0.99}
    model, optimizer, strat = build("cwae", spec, data, lr=0.0, epochs=1)
    queue = strat.queue.rows.clone()
    metrics = strat.train_epoch(model, optimizer, data.train, 1).means()
    with torch.no_grad():
        z = model.encode(data.train)
    expected = torch.log(cw_by_hand(torch.cat([z, queue]).double()))  # γ from B + K rows
    assert metrics["train_latent"] == pytest.approx(float(expected), rel=1e-5)


def test_queue_and_momentum_encoder_survive_a_checkpoint_round_trip() -> None:
    data = digits(train_size=40)
    spec = {"kind": "momentum_queue", "batch_size": 8, "size": 20, "momentum": 0.9}
    model, optimizer, strat = build("moca", spec, data, epochs=3)
    strat.train_epoch(model, optimizer, data.train, 1)
    state = strat.state_dict()
    _, _, again = build("moca", spec, data, seed=1, epochs=3)
    again.load_state_dict(state)
    torch.testing.assert_close(again.queue.rows, strat.queue.rows, rtol=0, atol=0)
    assert (again.queue.next, again.step) == (strat.queue.next, strat.step) == (0, 5)
    for a, b in zip(again.key_encoder.parameters(), strat.key_encoder.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
