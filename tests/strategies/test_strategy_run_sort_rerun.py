"""Run-Sort-ReRun (RSR §3.2-3.3): the accumulated chunk gradient is the full-batch sliced
Wasserstein gradient; BatchNorm on running statistics makes the rerun reproduce the run;
Algorithm 2 picks the next directions."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from aesweep.distances import random_directions, sliced_wasserstein
from aesweep.strategies.run_sort_rerun.strategy import (
    next_directions,
    rerun_pass,
    run_pass,
    sort_targets,
)
from aesweep.strategies.running_stats import RunningStatistics
from tests.strategies.strategy_helpers import build, digits

B = 64


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.BatchNorm1d(16), nn.Linear(16, 5)).double()


def _grads(net: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in net.parameters()])


@pytest.mark.parametrize("power", [2, 1])
@pytest.mark.parametrize("chunk", [1, 4, 16, 64])
def test_accumulated_gradient_is_the_full_batch_sliced_wasserstein_gradient(
    chunk: int, power: int
) -> None:
    net = _net()
    g = torch.Generator().manual_seed(1)
    inputs = torch.randn(B, 3, generator=g, dtype=torch.float64)
    targets = 2 * torch.randn(B, 5, generator=g, dtype=torch.float64) + 1
    theta = random_directions(7, 5, generator=g, dtype=torch.float64)
    stats = RunningStatistics(net)

    with stats.collecting():
        outputs = run_pass(net, inputs, chunk)
    matched, per_direction = sort_targets(outputs, targets, theta, power)
    net.zero_grad()
    with stats.frozen():
        rerun_pass(lambda x, rows: (net(x), None), inputs, matched, theta, chunk, power=power)
    rsr = _grads(net)

    net.zero_grad()
    with stats.frozen():
        full = sliced_wasserstein(net(inputs), targets, projections=theta, p=power)
    full.backward()
    reference = _grads(net)
    assert float(per_direction.mean()) == pytest.approx(full.item(), rel=1e-12)
    assert float((rsr - reference).norm() / reference.norm()) <= 1e-6


def test_rerun_reproduces_run_and_running_statistics_update_once_per_step() -> None:
    net = _net()
    bn = net[2]
    inputs = torch.randn(B, 3, dtype=torch.float64)
    stats = RunningStatistics(net)
    mean0, var0 = bn.running_mean.clone(), bn.running_var.clone()
    net.train()
    with stats.collecting():
        run = run_pass(net, inputs, 4)
    with stats.frozen(), torch.no_grad():
        rerun = torch.cat([net(inputs[s : s + 4]) for s in range(0, B, 4)])
    assert torch.equal(run, rerun)
    assert bn.training, "the layer's mode is restored after the step"
    torch.testing.assert_close(bn.running_mean, mean0, rtol=0, atol=0)  # untouched until update
    # In train mode the chunk statistics differ from chunk to chunk: no reproduction.
    with torch.no_grad():
        assert not torch.allclose(copy.deepcopy(net)(inputs[:4]), run[:4])

    stats.update()
    with torch.no_grad():
        h = net[1](net[0](inputs))
    torch.testing.assert_close(bn.running_mean, 0.9 * mean0 + 0.1 * h.mean(0))
    torch.testing.assert_close(bn.running_var, 0.9 * var0 + 0.1 * h.var(0, unbiased=True))
    assert int(bn.num_batches_tracked) == 1


@pytest.mark.parametrize("reconstruction", ["sqrt_sum", "sum"])
def test_autoencoder_step_gradient_is_the_full_batch_rec_plus_sw_gradient(
    reconstruction: str,
) -> None:
    data = digits(train_size=B)
    train = data.train.double()
    spec = {"kind": "run_sort_rerun", "effective_batch": B, "chunk": 16, "projections": 10}
    lam = 0.5
    model, optimizer, strat = build(
        "swae", spec, data, lr=0.0, dtype=torch.float64, reconstruction=reconstruction, lam=lam
    )
    index = torch.randperm(B)
    torch.manual_seed(7)
    parts = strat.step(model, optimizer, train, index, RunningStatistics(model))
    rsr = torch.cat([p.grad.flatten() for p in model.parameters()])

    torch.manual_seed(7)  # the step's draws, in its order: prior sample, then directions
    prior = torch.randn(B, 8).double()
    theta = random_directions(10, 8).double()
    model.zero_grad()
    x = train[index]
    z = model.encode(x)
    rec = model.rec_loss(x, model.decode(z))
    loss = rec + lam * sliced_wasserstein(z, prior, projections=theta, p=2)
    loss.backward()
    reference = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert float((rsr - reference).norm() / reference.norm()) <= 1e-6
    assert float(parts["loss"]) == pytest.approx(loss.item(), rel=1e-9)
    assert float(parts["rec"]) == pytest.approx(rec.item(), rel=1e-9)


def test_next_directions_keep_the_worst_third_and_renew_from_real_minus_generated() -> None:
    g = torch.Generator().manual_seed(3)
    theta = random_directions(9, 4, generator=g)
    losses = torch.rand(9, generator=g)
    real, fake = torch.randn(20, 4, generator=g), torch.randn(20, 4, generator=g)
    new = next_directions(theta, losses, 1 / 3, real, fake)
    assert new.shape == (9, 4)
    worst = losses.argsort(descending=True)[:3]
    torch.testing.assert_close(new[:3], theta[worst], rtol=0, atol=0)
    torch.testing.assert_close(new.norm(dim=1), torch.ones(9))
    pairs = real[:, None, :] - fake[None, :, :]
    unit = (pairs / pairs.norm(dim=-1, keepdim=True)).reshape(-1, 4)
    assert (
        torch.cdist(new[3:], unit, compute_mode="donot_use_mm_for_euclid_dist")
        .min(dim=1)
        .values.max()
        < 1e-5
    )
    # keep = 0: every direction renewed.
    fresh = next_directions(theta, losses, 0.0, real, fake)
    assert (
        torch.cdist(fresh, unit, compute_mode="donot_use_mm_for_euclid_dist")
        .min(dim=1)
        .values.max()
        < 1e-5
    )


def test_strategy_trains_an_epoch_and_checkpoints_its_directions() -> None:
    data = digits(train_size=200)
    spec = {"kind": "run_sort_rerun", "effective_batch": 96, "chunk": 8, "projections": 6}
    model, optimizer, strat = build("ae", spec, data, lr=0.01)
    before = [p.detach().clone() for p in model.parameters()]
    sums = strat.train_epoch(model, optimizer, data.train, 1)
    assert sums.steps == 200 // 96
    metrics = sums.means()
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
    state = strat.state_dict()
    assert state["directions"].shape == (6, 8)
    _, _, again = build("ae", spec, data)
    again.load_state_dict(state)
    torch.testing.assert_close(again.directions, strat.directions, rtol=0, atol=0)
