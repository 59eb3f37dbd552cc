"""Momentum queue (MoCA §3, Algorithm 1): the queue holds the K most recent momentum keys in
order, the loss is L_MoCo, the momentum encoder follows m = 1 - (1 - m0)(cos(πt/T) + 1)/2."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from aesweep.strategies.momentum_queue.strategy import momentum_at
from aesweep.trainables.step.members import SteppedMembers
from tests.strategies.strategy_helpers import cw_by_hand, generator_copy, stepped

B, STEPS, M0, TAU = 4, 6, 0.5, 0.05


def _moco_by_hand(q: torch.Tensor, queue: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """(1/B) Σ_i log((1/K) Σ_j exp(q_i·Q_j/τ)) - (1/B) Σ_i q_i·k_i/τ, written out."""
    q, queue, k = q.double(), queue.double(), k.double()
    rows = [torch.log(torch.exp(q[i] @ queue.T / TAU).mean()) for i in range(len(q))]
    return torch.stack(rows).mean() - (q * k).sum(1).mean() / TAU


def _ordered(members: SteppedMembers) -> torch.Tensor:
    """The queue oldest first (its slots are overwritten round the circle)."""
    state = members.state["strategy"]
    size, batch = len(state["queue"]), members.strategy.fresh
    return torch.roll(state["queue"], -int(state["step"]) * batch % size, dims=0)


def _key_encoder(members: SteppedMembers) -> dict[str, torch.Tensor]:
    state = members.state["strategy"]
    return {k[4:]: v for k, v in state.items() if k.startswith("key.")}


def test_cosine_schedule_end_points() -> None:
    for step, m in ((0, 0.99), (50, 0.995), (100, 1.0), (150, 1.0)):
        got = momentum_at(torch.tensor(float(step), dtype=torch.float64), 100, 0.99)
        assert float(got) == pytest.approx(m)


@pytest.mark.parametrize("size", [12, 10])
def test_queue_loss_and_momentum_encoder_follow_moca(size: int) -> None:
    spec = {"kind": "momentum_queue", "batch_size": B, "size": size, "momentum": M0}
    members = stepped("moca", spec, train_size=B, lr=0.5, epochs=STEPS, tau=TAU, prior="sphere")
    model, train = members.models[0], members.data.train
    assert members.strategy.total_steps == STEPS
    reference = copy.deepcopy(model.net.encoder)  # Ẽ starts as a copy of E
    keys = []
    for t in range(STEPS):
        order = torch.randperm(B, generator=generator_copy(members))  # the epoch's image order
        x = train[order]
        model = members.member(0)
        with torch.no_grad():
            q = model.encode(x)
            k = F.normalize(reference(x), dim=1)
            rec = (x - model.decode(q)).pow(2).flatten(1).sum(1).mean()
            expected = _moco_by_hand(q, members.state["strategy"]["queue"], k)
        keys.append(k)
        metrics = members.train_epoch(t + 1, first=t == 0).means[0]  # one step an epoch
        assert metrics["train_latent"] == pytest.approx(float(expected), rel=1e-5, abs=1e-5)
        assert metrics["train_rec"] == pytest.approx(float(rec), rel=1e-5)

        m = 1 - (1 - M0) * (math.cos(math.pi * t / STEPS) + 1) / 2
        encoder = members.member(0).net.encoder
        with torch.no_grad():
            for r, e in zip(reference.parameters(), encoder.parameters(), strict=True):
                r.copy_(m * r + (1 - m) * e)
        for name, r in reference.named_parameters():
            torch.testing.assert_close(_key_encoder(members)[name], r, rtol=1e-5, atol=1e-6)
        assert not any(p.requires_grad for p in _key_encoder(members).values())
    # The K most recent keys, oldest first.
    torch.testing.assert_close(_ordered(members), torch.cat(keys)[-size:], rtol=1e-5, atol=1e-5)


def test_with_cw_the_distance_sees_fresh_latents_joined_with_the_queue() -> None:
    spec = {"kind": "momentum_queue", "batch_size": B, "size": 8, "momentum": 0.99}
    members = stepped("cwae", spec, train_size=B, lr=0.0, epochs=1)
    queue = members.state["strategy"]["queue"].clone()
    metrics = members.train_epoch(1, first=True).means[0]
    with torch.no_grad():
        z = members.models[0].encode(members.data.train)
    expected = torch.log(cw_by_hand(torch.cat([z, queue]).double()))  # γ from B + K rows
    assert metrics["train_latent"] == pytest.approx(float(expected), rel=1e-5)


def test_queue_and_momentum_encoder_survive_a_checkpoint_round_trip(tmp_path: Path) -> None:
    spec = {"kind": "momentum_queue", "batch_size": 8, "size": 20, "momentum": 0.9}
    members = stepped("moca", spec, train_size=40, epochs=3, prior="sphere")
    members.train_epoch(1, first=True)
    members.save(tmp_path, 1)
    again = stepped("moca", spec, train_size=40, seed=1, epochs=3, prior="sphere")
    assert again.load(tmp_path) == 1
    for key, value in members.state["strategy"].items():
        torch.testing.assert_close(again.state["strategy"][key], value, rtol=0, atol=0)
    assert int(again.state["strategy"]["step"]) == 5
