"""The functional optimisers (aesweep/trainables/step/optim.py) against ``torch.optim``,
member by member in float64: three members with their own lr, momentum or betas and weight
decay, run under ``vmap`` as a pack runs them, an lr schedule applied between epochs, and the
state carried across a checkpoint (saved, loaded into a fresh state / a fresh optimiser)."""

from __future__ import annotations

import io

import pytest
import torch
from torch.func import vmap

from aesweep.config.optimizer import OptimizerConfig
from aesweep.trainables.step.optim import FUNCTIONAL_OPTIMIZERS

MEMBERS = [
    {"lr": 0.1, "momentum": 0.0, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.0},
    {"lr": 0.03, "momentum": 0.9, "beta1": 0.5, "beta2": 0.99, "weight_decay": 0.01},
    {"lr": 0.2, "momentum": 0.5, "beta1": 0.8, "beta2": 0.9, "weight_decay": 0.1},
]
SCHEDULE = [1.0, 1.0, 0.5, 0.5, 0.1]  # the lr factor of each "epoch" of 3 steps


def _torch_optimizer(name: str, params: list[torch.Tensor], hp: dict) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=hp["lr"], momentum=hp["momentum"], weight_decay=hp["weight_decay"]
        )
    betas = (hp["beta1"], hp["beta2"])
    return torch.optim.Adam(params, lr=hp["lr"], betas=betas, weight_decay=hp["weight_decay"])


def _roundtrip(obj):  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


PLAIN = [{**m, "momentum": 0.0, "weight_decay": 0.0} for m in MEMBERS]  # MoW's plain SGD


@pytest.mark.parametrize("plain", [False, True], ids=["all terms", "zero terms left out"])
@pytest.mark.parametrize("name", sorted(FUNCTIONAL_OPTIMIZERS))
def test_each_member_steps_as_torch_optim_does(name: str, plain: bool) -> None:
    members = PLAIN if plain else MEMBERS
    configs = [
        OptimizerConfig(
            name=name,
            lr=m["lr"],
            momentum=m["momentum"],
            betas=(m["beta1"], m["beta2"]),
            weight_decay=m["weight_decay"],
        )
        for m in members
    ]
    opt = FUNCTIONAL_OPTIMIZERS[name].for_members(configs)
    assert (opt.momentum, opt.decay) == ((False, False) if plain else (True, True))
    g = torch.Generator().manual_seed(0)
    shapes = {"w": (4, 3), "b": (3,)}
    start = [
        {k: torch.randn(s, generator=g, dtype=torch.float64) for k, s in shapes.items()}
        for _ in members
    ]
    grads = [
        [
            {k: torch.randn(s, generator=g, dtype=torch.float64) for k, s in shapes.items()}
            for _ in members
        ]
        for _ in range(3 * len(SCHEDULE))
    ]
    # torch.optim, member by member; a fresh optimiser loads the state at the checkpoint
    expected = []
    for i, hp in enumerate(members):
        params = [start[i][k].clone().requires_grad_() for k in shapes]
        optimizer = _torch_optimizer(name, params, hp)
        for t, step_grads in enumerate(grads):
            if t == 6:  # checkpoint after two epochs
                state = _roundtrip(optimizer.state_dict())
                params = [p.detach().clone().requires_grad_() for p in params]
                optimizer = _torch_optimizer(name, params, hp)
                optimizer.load_state_dict(state)
            for group in optimizer.param_groups:
                group["lr"] = hp["lr"] * SCHEDULE[t // 3]
            for p, k in zip(params, shapes, strict=True):
                p.grad = step_grads[i][k].clone()
            optimizer.step()
        expected.append({k: p.detach() for k, p in zip(shapes, params, strict=True)})

    # the functional update under vmap over the three members
    stacked = {k: torch.stack([s[k] for s in start]) for k in shapes}
    state = vmap(opt.init)(stacked)
    update = vmap(opt.update)
    for t, step_grads in enumerate(grads):
        if t == 6:
            stacked, state = _roundtrip(stacked), _roundtrip(state)
        hp = {k: torch.tensor([m[k] for m in members], dtype=torch.float64) for k in members[0]}
        hp["lr"] = hp["lr"] * SCHEDULE[t // 3]
        g_t = {k: torch.stack([step_grads[i][k] for i in range(len(members))]) for k in shapes}
        stacked, state = update(stacked, g_t, state, hp)
    for i in range(len(members)):
        for k in shapes:
            torch.testing.assert_close(stacked[k][i], expected[i][k], rtol=1e-12, atol=1e-13)
    # ... and the members did move apart from their start
    assert not torch.allclose(stacked["w"][0], start[0]["w"])
