"""Moving window MoW_k(n) (MoW §3, Algorithm 1): MoW(n, n) is minibatch(n) exactly; the
distance sees k fresh + n - k stored latents; the store keeps the most recent latents."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aesweep.catalog import MODELS
from aesweep.config.models import AutoencoderConfig
from aesweep.strategies.moving_window.config import MovingWindowConfig
from tests.strategies.strategy_helpers import cw_by_hand, generator_copy, stepped

WINDOW_FAMILIES = [
    name
    for name in MODELS.names()
    if MODELS.get(name).distance in MovingWindowConfig.supports
    and issubclass(MODELS.get(name), AutoencoderConfig)
]


def _train(family: str, strategy: dict, epochs: int = 2) -> list[torch.Tensor]:
    members = stepped(family, strategy, train_size=200, seed=3, epochs=epochs)
    for epoch in range(1, epochs + 1):
        members.train_epoch(epoch, first=epoch == 1)
    return list(members.state["params"].values())


@pytest.mark.parametrize("family", WINDOW_FAMILIES)
def test_window_with_k_equal_n_is_minibatch_exactly(family: str) -> None:
    mini = _train(family, {"kind": "minibatch", "batch_size": 32})
    mow = _train(family, {"kind": "moving_window", "window": 32, "fresh": 32})
    assert all(torch.equal(a, b) for a, b in zip(mini, mow, strict=True))


def test_window_with_k_below_n_differs_from_minibatch() -> None:
    """The exactness check above can fail: a window with stored latents trains differently."""
    mini = _train("wae_mmd", {"kind": "minibatch", "batch_size": 32})
    mow = _train("wae_mmd", {"kind": "moving_window", "window": 64, "fresh": 32})
    assert not all(torch.equal(a, b) for a, b in zip(mini, mow, strict=True))


def test_one_step_sees_k_fresh_plus_n_minus_k_stored_and_rec_on_fresh_only() -> None:
    n, k = 8, 2
    members = stepped(
        "cwae", {"kind": "moving_window", "window": n, "fresh": k}, train_size=k, lr=0.0
    )
    model, train = members.models[0], members.data.train
    stored = model.sample_prior(n - k, generator=generator_copy(members))  # the refill, first
    metrics = members.train_epoch(1, first=True).means[0]  # exactly one step
    with torch.no_grad():
        z = model.encode(train)
        rec = (train - model.decode(z)).pow(2).flatten(1).sum(1).mean().sqrt()
        latent = torch.log(cw_by_hand(torch.cat([z, stored]).double()))
    assert metrics["train_rec"] == pytest.approx(float(rec), rel=1e-5)
    assert metrics["train_latent"] == pytest.approx(float(latent), rel=1e-5)
    assert metrics["train_loss"] == pytest.approx(float(rec + latent), rel=1e-5)


def test_store_keeps_the_most_recent_latents_in_order_and_resets_each_epoch() -> None:
    n, k, steps = 8, 2, 4
    spec = {"kind": "moving_window", "window": n, "fresh": k}
    members = stepped("cwae", spec, train_size=k * steps, lr=0.0)
    model, train = members.models[0], members.data.train
    ahead = generator_copy(members)
    refill = model.sample_prior(n - k, generator=ahead)
    order = torch.randperm(len(train), generator=ahead)
    members.train_epoch(1, first=True)
    with torch.no_grad():
        z = model.encode(train[order])  # lr = 0: the encoder of every step
    rows = members.state["strategy"]["rows"]
    assert not rows.requires_grad
    # 4 steps of 2 into 6 rows: the latents of steps 2, 3, 4 (oldest first), no prior row left.
    torch.testing.assert_close(rows, z[k:], rtol=0, atol=1e-6)
    assert not torch.isin(refill, rows).any()

    # The next epoch starts from fresh prior samples (reset_each_epoch defaults to true).
    refill2 = model.sample_prior(n - k, generator=generator_copy(members))
    members._epoch_start(first=False)
    torch.testing.assert_close(members.state["strategy"]["rows"], refill2, rtol=0, atol=0)


def test_without_reset_the_store_carries_over_epochs() -> None:
    spec = {"kind": "moving_window", "window": 8, "fresh": 2, "reset_each_epoch": False}
    members = stepped("cwae", spec, train_size=2, lr=0.0)  # one step of k = 2 per epoch
    members.train_epoch(1, first=True)
    after_first = members.state["strategy"]["rows"].clone()  # 4 prior rows, then 2 latents
    members.train_epoch(2, first=False)
    after_second = members.state["strategy"]["rows"]
    # The two newest prior rows and epoch 1's latents survive; epoch 2's latents come last.
    torch.testing.assert_close(after_second[:4], after_first[2:], rtol=0, atol=0)
    with torch.no_grad():
        z = members.models[0].encode(members.data.train)
    assert torch.cdist(after_second[4:], z).min(dim=1).values.max() < 1e-5


def test_store_survives_a_checkpoint_round_trip(tmp_path: Path) -> None:
    spec = {"kind": "moving_window", "window": 16, "fresh": 4}
    members = stepped("cwae", spec, train_size=64)
    members.train_epoch(1, first=True)
    members.save(tmp_path, 1)
    again = stepped("cwae", spec, train_size=64, seed=1)
    assert again.load(tmp_path) == 1
    torch.testing.assert_close(
        again.state["strategy"]["rows"], members.state["strategy"]["rows"], rtol=0, atol=0
    )
    for name, p in members.state["params"].items():
        torch.testing.assert_close(again.state["params"][name], p, rtol=0, atol=0)
