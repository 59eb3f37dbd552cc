"""Moving window MoW_k(n) (MoW §3, Algorithm 1): MoW(n, n) is minibatch(n) exactly; the
distance sees k fresh + n - k stored latents; the buffer keeps the most recent latents."""

from __future__ import annotations

import pytest
import torch

from aesweep.catalog import MODELS
from aesweep.config.models import AutoencoderConfig
from aesweep.strategies.moving_window.config import MovingWindowConfig
from tests.strategies.strategy_helpers import build, cw_by_hand, digits, parameters

WINDOW_FAMILIES = [
    name
    for name in MODELS.names()
    if MODELS.get(name).distance in MovingWindowConfig.supports
    and issubclass(MODELS.get(name), AutoencoderConfig)
]


def _train(family: str, strategy: dict, epochs: int = 2) -> list[torch.Tensor]:
    data = digits(train_size=200)
    model, optimizer, strat = build(family, strategy, data, seed=3, epochs=epochs)
    for epoch in range(1, epochs + 1):
        strat.train_epoch(model, optimizer, data.train, epoch)
    return parameters(model)


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
    data = digits(train_size=k)  # exactly one step per epoch
    model, optimizer, strat = build(
        "cwae", {"kind": "moving_window", "window": n, "fresh": k}, data, lr=0.0
    )
    torch.manual_seed(11)
    stored = torch.randn(n - k, 8)  # the epoch-start refill: prior samples, drawn first
    torch.manual_seed(11)
    sums = strat.train_epoch(model, optimizer, data.train, 1)
    metrics = sums.means()
    with torch.no_grad():
        z = model.encode(data.train)
        rec = (data.train - model.decode(z)).pow(2).flatten(1).sum(1).mean().sqrt()
        latent = torch.log(cw_by_hand(torch.cat([z, stored]).double()))
    assert metrics["train_rec"] == pytest.approx(float(rec), rel=1e-5)
    assert metrics["train_latent"] == pytest.approx(float(latent), rel=1e-5)
    assert metrics["train_loss"] == pytest.approx(float(rec + latent), rel=1e-5)


def test_buffer_keeps_the_most_recent_latents_in_order_and_resets_each_epoch() -> None:
    n, k, steps = 8, 2, 4
    data = digits(train_size=k * steps)
    model, optimizer, strat = build(
        "wae_mmd", {"kind": "moving_window", "window": n, "fresh": k}, data, lr=0.0
    )
    torch.manual_seed(5)
    refill = torch.randn(n - k, 8)
    order = torch.randperm(len(data.train))
    torch.manual_seed(5)
    strat.train_epoch(model, optimizer, data.train, 1)
    with torch.no_grad():
        z = model.encode(data.train[order])  # lr = 0: the encoder of every step
    buffer = strat.buffer
    assert buffer is not None and not buffer.rows.requires_grad
    # 4 steps of 2 into 6 rows: the latents of steps 2, 3, 4 (oldest first), no prior row left.
    torch.testing.assert_close(buffer.ordered(), z[k:], rtol=0, atol=1e-6)
    assert not torch.isin(refill, buffer.rows).any()

    # The next epoch starts from fresh prior samples (reset_each_epoch defaults to true).
    torch.manual_seed(6)
    refill2 = torch.randn(n - k, 8)
    torch.manual_seed(6)
    strat.refill(model)
    torch.testing.assert_close(strat.buffer.ordered(), refill2, rtol=0, atol=0)


def test_without_reset_the_buffer_carries_over_epochs() -> None:
    data = digits(train_size=2)  # one step of k = 2 per epoch
    model, optimizer, strat = build(
        "cwae",
        {"kind": "moving_window", "window": 8, "fresh": 2, "reset_each_epoch": False},
        data,
        lr=0.0,
    )
    strat.train_epoch(model, optimizer, data.train, 1)
    after_first = strat.buffer.ordered().clone()  # 4 prior rows, then the 2 fresh latents
    strat.train_epoch(model, optimizer, data.train, 2)
    after_second = strat.buffer.ordered()
    # The two newest prior rows and epoch 1's latents survive; epoch 2's latents come last.
    torch.testing.assert_close(after_second[:4], after_first[2:], rtol=0, atol=0)
    with torch.no_grad():
        z = model.encode(data.train)
    assert torch.cdist(after_second[4:], z).min(dim=1).values.max() < 1e-5


def test_buffer_survives_a_checkpoint_round_trip() -> None:
    data = digits(train_size=64)
    spec = {"kind": "moving_window", "window": 16, "fresh": 4}
    model, optimizer, strat = build("cwae", spec, data)
    strat.train_epoch(model, optimizer, data.train, 1)
    state = strat.state_dict()
    _, _, fresh = build("cwae", spec, data)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.buffer.rows, strat.buffer.rows, rtol=0, atol=0)
    assert fresh.buffer.next == strat.buffer.next
