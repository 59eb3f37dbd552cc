"""The compiled step (``torch.compile(fullgraph=True)`` of a block of steps, Inductor's C++
wrapper on this CPU) computes what the eager step computes: in float64, parameters and the
strategy's state after two epochs within 1e-9. ``make test`` runs every strategy once (three
families; one case unrolled 2 steps at a time over an odd number of steps per epoch, so the
eager tail runs too), a compiled pack of 4 (different lr, λ, seed) equal to its members run
alone, and a compile that fails falling back to eager; ``make test-compile`` adds every other
family x strategy pair (marker ``compile_matrix``: swae, cw2, moca and the rest), kept out of
``make test`` for the suite's time budget. A cold compile takes 30-60 s a shape on a 2-core
CPU (Inductor's on-disk cache: seconds after that): marked slow."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import aesweep.catalog  # noqa: F401  (every component registered)
from aesweep.config.trial import TrialConfig
from aesweep.data.loading import load_dataset
from aesweep.trainables.step import executor
from aesweep.trainables.step.members import SteppedMembers

pytestmark = pytest.mark.slow

STRATEGIES = {
    "minibatch": {"kind": "minibatch", "batch_size": 16},
    "moving_window": {"kind": "moving_window", "window": 16, "fresh": 4},
    "momentum_queue": {"kind": "momentum_queue", "batch_size": 8, "size": 24},
}
FAMILIES = {
    "ae": {"family": "ae"},
    "wae_mmd": {"family": "wae_mmd", "lambda": 10.0},
    "cwae": {"family": "cwae"},
    "swae": {"family": "swae", "projections": 7},
    "cw2": {"family": "cw2"},
    "moca": {"family": "moca", "prior": "sphere"},
}
NO_QUEUE = ("ae", "swae")  # no distance the momentum queue feeds (validate refuses the pair)
CASES = {
    "ae-minibatch": ({"family": "ae"}, {"kind": "minibatch", "batch_size": 16}),
    "wae_mmd-momentum_queue": (
        {"family": "wae_mmd", "lambda": 10.0},
        {"kind": "momentum_queue", "batch_size": 8, "size": 24},
    ),
    "cwae-moving_window": (
        {"family": "cwae"},
        {"kind": "moving_window", "window": 16, "fresh": 4},
    ),
}


def trial(model: dict[str, Any], strategy: dict[str, Any], **values: Any) -> TrialConfig:
    return TrialConfig.model_validate(
        {
            "trial_id": values.pop("trial_id", "t"),
            "sweep": "s",
            "data": {"dataset": "digits", "train_size": 124, "test_size": 32},
            "model": {"latent_dim": 8, "width": 0.25, **model},
            "strategy": strategy,
            "optimizer": {"name": "adam", "lr": values.pop("lr", 0.003)},
            "epochs": 2,
            "seed": values.pop("seed", 0),
            "evaluation": {},
            "checkpoint": {},
        }
    )


def two_epochs(trials: list[TrialConfig], *, compiled: bool, unroll: int = 1) -> SteppedMembers:
    data = load_dataset(trials[0].data).to(torch.float64)
    members = SteppedMembers(trials, data, torch.device("cpu"), compiled=compiled, unroll=unroll)
    for epoch in (1, 2):
        members.train_epoch(epoch, first=epoch == 1)
    return members


def assert_state_close(a: dict, b: dict) -> None:
    for part in ("params", "strategy"):
        assert a[part].keys() == b[part].keys()
        for k, v in a[part].items():
            torch.testing.assert_close(v, b[part][k], rtol=0, atol=1e-9, msg=f"{part}.{k}")


def check_compiled_equals_eager(model: dict, strategy: dict, unroll: int = 1) -> None:
    eager = two_epochs([trial(model, strategy)], compiled=False)
    compiled = two_epochs([trial(model, strategy)], compiled=True, unroll=unroll)
    assert compiled.runner.executor == "compiled" and compiled.runner.fallback is None
    assert compiled.runner.compile_seconds is not None
    assert_state_close(compiled.state, eager.state)
    # the trial moved: its parameters are not the ones it was built with
    start = SteppedMembers([trial(model, strategy)], eager.data, torch.device("cpu"))
    assert any(
        not torch.allclose(v, start.state["params"][k]) for k, v in eager.state["params"].items()
    )


@pytest.mark.parametrize("case", CASES)
def test_the_compiled_step_computes_what_the_eager_step_computes(case: str, float64: None) -> None:
    model, strategy = CASES[case]
    # cwae x MoW(16, 4): 31 steps an epoch (blocks of 16 and 15), unrolled 2 at a time: the
    # second block ends in one eager step
    check_compiled_equals_eager(model, strategy, unroll=2 if case == "cwae-moving_window" else 1)


MATRIX = [
    (f, k)
    for f in FAMILIES
    for k in STRATEGIES
    if not (k == "momentum_queue" and f in NO_QUEUE) and f"{f}-{k}" not in CASES
]


@pytest.mark.compile_matrix
@pytest.mark.parametrize(("family", "strategy"), MATRIX)
def test_every_other_pair_compiles_to_what_the_eager_step_computes(
    family: str, strategy: str, float64: None
) -> None:
    check_compiled_equals_eager(FAMILIES[family], STRATEGIES[strategy])


def test_a_compiled_pack_of_four_equals_its_members_alone(float64: None) -> None:
    model, strategy = {"family": "cwae", "lambda": 1.0}, {"kind": "minibatch", "batch_size": 16}
    values = [(0.003, 1.0, 0), (0.001, 10.0, 1), (0.003, 10.0, 2), (0.01, 1.0, 3)]
    trials = [
        trial({**model, "lambda": lam}, strategy, lr=lr, seed=seed, trial_id=f"m{seed}")
        for lr, lam, seed in values
    ]
    pack = two_epochs(trials, compiled=True)
    assert pack.runner.executor == "compiled" and pack.runner.fallback is None
    for i, member in enumerate(trials):
        alone = two_epochs([member], compiled=False)
        row = {
            part: {k: v[i] for k, v in pack.state[part].items()} for part in ("params", "strategy")
        }
        assert_state_close(row, alone.state)


def test_a_compile_that_fails_falls_back_to_eager(
    float64: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(fn, **_: Any):  # type: ignore[no-untyped-def]
        def run(*args: Any) -> Any:
            raise RuntimeError("forced compiler failure")

        return run

    monkeypatch.setattr(executor.torch, "compile", broken)
    model, strategy = CASES["ae-minibatch"]
    eager = two_epochs([trial(model, strategy)], compiled=False)
    fell_back = two_epochs([trial(model, strategy)], compiled=True)
    assert fell_back.runner.executor == "eager"
    assert fell_back.runner.fallback == "RuntimeError: forced compiler failure"
    assert fell_back.epoch_metrics() == {
        "compile_seconds": pytest.approx(fell_back.runner.compile_seconds)
    }
    for k, v in eager.state["params"].items():
        assert torch.equal(fell_back.state["params"][k], v)


def test_a_worker_compiles_trial_after_trial(float64: None) -> None:
    """Dynamo allows 8 recompiles of one code object, then a fullgraph compile fails: a Ray
    worker running one trial after another must not run into it (each runner compiles a
    function of its own; Inductor's cache makes the repeats quick)."""
    model, strategy = CASES["ae-minibatch"]
    # Dynamo's limit lowered to 2 (from 8) so that 4 trials cross it (its own patch: a
    # monkeypatch of the config module leaves the option deleted for later tests)
    with torch._dynamo.config.patch(recompile_limit=2):
        for i in range(4):
            members = two_epochs([trial(model, strategy)], compiled=True)
            assert members.runner.executor == "compiled", (i, members.runner.fallback)
    assert torch._dynamo.config.recompile_limit == 8
