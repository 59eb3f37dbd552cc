"""The packed step's CUDA graph: on a GPU the replayed forward and backward step the members
as the eager step does; elsewhere (and for families that draw per step) the step runs eager
and says why."""

from __future__ import annotations

import pytest
import torch

from aesweep.data.loading import load_dataset
from aesweep.trainables.packs.optim import build_packed_optimizer
from aesweep.trainables.packs.step import PackStep
from aesweep.trainables.packs.trainable import build_members
from tests.packs.pack_helpers import grid

STRATEGY = {"kind": "minibatch", "batch_size": 32}


def _steps(trials, device: torch.device, graph: bool, steps: int = 5):  # type: ignore[no-untyped-def]
    data = load_dataset(trials[0].data).to(device)
    pack, generators = build_members(trials, data, device)
    optimizer = build_packed_optimizer(pack.parameter_list(), [t.optimizer for t in trials])
    active = torch.ones(len(trials), dtype=torch.bool, device=device)
    step = PackStep(pack, optimizer, generators, active, cuda_graph=graph)
    g = torch.Generator(device=device).manual_seed(0)
    losses = []
    for _ in range(steps):
        index = torch.randint(len(data.train), (len(trials), 32), generator=g, device=device)
        parts, _ = step(data.train[index], None)
        losses.append(parts["loss"].clone())
    return step, torch.stack(losses), [p.detach().clone() for p in pack.parameter_list()]


def test_off_cuda_or_for_a_drawing_family_the_step_runs_eager(write_spec) -> None:
    cwae = grid(write_spec, {"family": "cwae"}, STRATEGY)[:2]
    step, losses, _ = _steps(cwae, torch.device("cpu"), graph=True, steps=2)
    assert step.why_eager == "not on a CUDA device"
    assert torch.isfinite(losses).all()
    wae = grid(write_spec, {"family": "wae_mmd"}, STRATEGY)[:2]
    step, _, _ = _steps(wae, torch.device("cpu"), graph=True, steps=1)
    assert step.why_eager is not None and "WAEMMD" in step.why_eager


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs a GPU: the CUDA-graph replay of the packed step is only captured on CUDA",
)
@pytest.mark.parametrize("family", ["ae", "cwae"])
def test_the_graphed_step_steps_the_members_as_the_eager_one(write_spec, family: str) -> None:
    trials = grid(write_spec, {"family": family}, STRATEGY)[:4]
    device = torch.device("cuda")
    graphed, graphed_losses, graphed_params = _steps(trials, device, graph=True)
    assert graphed.why_eager is None and graphed._graphs  # captured
    _, eager_losses, eager_params = _steps(trials, device, graph=False)
    torch.testing.assert_close(graphed_losses, eager_losses, rtol=1e-4, atol=1e-5)
    for a, b in zip(graphed_params, eager_params, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
