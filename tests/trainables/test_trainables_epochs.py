"""The one epoch loop (aesweep/trainables/epochs.py): the generator and the autoencoder
trainables both run their epochs through it (a module trainer for strategies with their own
step loop, the one step's trainer for set strategies), and a trial resumed from a mid-run checkpoint
ends exactly where an uninterrupted one does (parameters, optimiser, strategy, lr schedule
and RNG states compared tensor by tensor), logging only epochs its run does not hold yet."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aesweep.config.registry import import_target
from aesweep.trainables.checkpoints import CHECKPOINT_FILE
from aesweep.trainables.state import ModuleTrainer
from aesweep.trainables.step.members import STATE_FILE, SteppedMembers
from tests.trainables.trainable_helpers import MemoryRun, assert_same, inline, trial_from

EPOCHS = 4
COMMON = {
    "optimizer": {"name": "adam", "lr": 0.001},
    "epochs": EPOCHS,
    "evaluation": {"every": 1, "latent_samples": 64},
    "checkpoint": {"every": 1, "keep": 10},
}
GENERATOR = {
    **COMMON,
    "data": {"dataset": "gaussian_mixture", "train_size": 512, "test_size": 128},
    "models": [{"family": "generator", "iterations_per_epoch": 5, "histogram_samples": 256}],
    "selection": {"metric": "w1_to_target", "mode": "min"},  # no cost without a latent space
}
AUTOENCODER = {
    **COMMON,
    "data": {"dataset": "digits", "train_size": 128, "test_size": 64},
    "models": [{"family": "cwae", "latent_dim": 8, "width": 0.25}],
    "optimizer": {"name": "adam", "lr": 0.001, "schedule": {"kind": "step", "every": 2}},
}
CASES = {
    "generator-run_sort_rerun": (
        GENERATOR,
        {"kind": "run_sort_rerun", "effective_batch": 32, "chunk": 8, "projections": 2},
        ModuleTrainer,
    ),
    "generator-minibatch": (GENERATOR, {"kind": "minibatch", "batch_size": 8}, ModuleTrainer),
    "cwae-momentum_queue": (
        AUTOENCODER,
        {"kind": "momentum_queue", "batch_size": 32, "size": 64},
        SteppedMembers,
    ),
    "cwae-momentum_queue-compiled": (
        {**AUTOENCODER, "compute": {"compile": "on"}},
        {"kind": "momentum_queue", "batch_size": 32, "size": 64},
        SteppedMembers,
    ),
}


def _timeless(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if not k.endswith("_seconds")}


def _checkpoint(folder: Path, epoch: int) -> dict:
    """The checkpoint's state; its network parameters under ``params``."""
    folder = folder / f"checkpoint_{epoch:06d}"
    if (folder / STATE_FILE).exists():
        state = torch.load(folder / STATE_FILE, weights_only=True)
        return {**state, "params": state["state"]["params"]}
    state = torch.load(folder / CHECKPOINT_FILE, weights_only=True)
    return {**state, "params": state["model"]}


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.slow) if c.endswith("compiled") else c for c in CASES],
)
def test_a_resumed_trial_ends_exactly_where_an_uninterrupted_one_does(
    case: str, write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, strategy, trainer = CASES[case]
    trial = trial_from(write_spec, {**spec, "strategies": [strategy]})
    train = import_target(trial.model.trainable)
    through_loop: list[tuple[int, type]] = []  # epochs the loop asked the trainer for
    for cls in (ModuleTrainer, SteppedMembers):

        def spy(self, epoch, *, first, _train=cls.train_epoch):  # type: ignore[no-untyped-def]
            through_loop.append((epoch, trainer if isinstance(self, trainer) else type(self)))
            return _train(self, epoch, first=first)

        monkeypatch.setattr(cls, "train_epoch", spy)

    straight_dir, resumed_dir = tmp_path / "straight", tmp_path / "resumed"
    straight = MemoryRun()
    assert train(trial, *inline(trial, straight_dir), straight) == "finished"
    assert through_loop == [(e, trainer) for e in range(1, EPOCHS + 1)]
    assert straight.outcome == "finished" and sorted(straight.metrics) == [1, 2, 3, 4]

    # A killed attempt: it checkpointed epoch 2, logged epoch 3 and died before checkpointing.
    through_loop.clear()
    attempt = MemoryRun({step: straight.metrics[step] for step in (1, 2, 3)})
    payload, reporter = inline(trial, resumed_dir, resume_from=straight_dir / "checkpoint_000002")
    assert train(trial, payload, reporter, attempt) == "finished"
    assert through_loop == [(3, trainer), (4, trainer)]
    assert attempt.tags["aesweep.resumed_from_epoch"] == 2 and attempt.outcome == "finished"
    assert set(attempt.logged_steps) == {4}  # epoch 3 is in the run already: not logged twice
    assert [h["epoch"] for h in reporter.history if "epoch_seconds" in h] == [3, 4]
    assert _timeless(attempt.metrics[4]) == _timeless(straight.metrics[4])
    assert sorted(p.name for p in resumed_dir.iterdir()) == [
        "checkpoint_000003",
        "checkpoint_000004",
    ]
    final = _checkpoint(straight_dir, EPOCHS)
    assert_same(final, _checkpoint(resumed_dir, EPOCHS))
    # ... and the run did move: a checkpoint two epochs earlier holds other parameters.
    earlier = _checkpoint(straight_dir, 2)["params"]
    assert any(not torch.equal(earlier[k], final["params"][k]) for k in earlier)
    if case.endswith("compiled"):  # the compiled trial logs what the eager one logs
        assert straight.tags["aesweep.executor"] == "compiled x1"
        assert "compile_seconds" in straight.metrics[1]
        eager_trial = trial.model_copy(update={"compute": trial.compute.model_copy(
            update={"compile": "off"})})  # fmt: skip
        eager = MemoryRun()
        assert train(eager_trial, *inline(eager_trial, tmp_path / "eager"), eager) == "finished"
        assert eager.tags["aesweep.executor"] == "eager"
        for step, metrics in eager.metrics.items():
            for k, v in _timeless(metrics).items():
                assert straight.metrics[step][k] == pytest.approx(v, rel=1e-4, abs=1e-5), (step, k)
