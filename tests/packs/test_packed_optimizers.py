"""The vectorized optimisers of trial packs (aesweep/trainables/packs/optim.py) against
torch.optim, member by member, in float64, under a step lr schedule: each member's parameters
after every step equal those of its own torch.optim.SGD / Adam stepping the same gradients."""

from __future__ import annotations

import pytest
import torch

from aesweep.config.optimizer import OptimizerConfig, StepSchedule
from aesweep.trainables.optimizers import build_optimizer
from aesweep.trainables.packs.optim import build_packed_optimizer

SCHEDULE = StepSchedule(every=2, gamma=0.5)
MEMBERS = {
    "sgd": [
        {"lr": 0.1, "momentum": 0.0},
        {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01},
        {"lr": 0.02, "momentum": 0.5},
    ],
    "adam": [
        {"lr": 1e-3, "betas": (0.9, 0.999)},
        {"lr": 5e-3, "betas": (0.5, 0.999), "weight_decay": 0.01},
        {"lr": 2e-2, "betas": (0.8, 0.99)},
    ],
}
SHAPES = [(4, 3), (4,), (2, 3, 5)]


def _configs(name: str) -> list[OptimizerConfig]:
    return [OptimizerConfig(name=name, schedule=SCHEDULE, **m) for m in MEMBERS[name]]


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_each_member_steps_as_torch_optim_does(name: str) -> None:
    g = torch.Generator().manual_seed(0)
    configs = _configs(name)
    n = len(configs)
    stacked = [torch.randn(n, *s, generator=g, dtype=torch.float64) for s in SHAPES]
    singles = [[p[i].clone().requires_grad_() for p in stacked] for i in range(n)]
    packed = build_packed_optimizer(stacked, configs)
    reference = [build_optimizer(c, ps) for c, ps in zip(configs, singles, strict=True)]
    for epoch in range(1, 6):
        rates = packed.set_epoch(epoch)
        for c, opt in zip(configs, reference, strict=True):
            for group in opt.param_groups:
                group["lr"] = c.lr * SCHEDULE.factor(epoch)
        assert rates == [c.lr * SCHEDULE.factor(epoch) for c in configs]
        for _ in range(3):
            grads = [torch.randn(p.shape, generator=g, dtype=torch.float64) for p in stacked]
            packed.step(grads)
            for i, opt in enumerate(reference):
                for p, grad in zip(singles[i], grads, strict=True):
                    p.grad = grad[i].clone()
                opt.step()
            for i in range(n):
                for p, q in zip(stacked, singles[i], strict=True):
                    torch.testing.assert_close(p[i], q.detach(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_a_masked_member_keeps_its_parameters_and_state_whatever_its_gradient(name: str) -> None:
    configs = _configs(name)
    stacked = [torch.ones(3, 4, dtype=torch.float64)]
    packed = build_packed_optimizer(stacked, configs)
    packed.step([torch.full((3, 4), 0.5, dtype=torch.float64)])
    before = stacked[0][1].clone()
    active = torch.tensor([True, False, True])
    grad = torch.full((3, 4), 0.25, dtype=torch.float64)
    grad[1] = float("nan")
    packed.step([grad], active)
    assert torch.equal(stacked[0][1], before)
    assert torch.isfinite(stacked[0]).all()
    packed.step([torch.zeros(3, 4, dtype=torch.float64)], active)
    assert torch.equal(stacked[0][1], before)
