"""The shared epoch loop (aesweep/trainables/epochs.py): the generator and the autoencoder
trainables both run their epochs through it, and a trial resumed from a mid-run checkpoint
ends exactly where an uninterrupted one does (parameters, optimiser, strategy, lr schedule
and RNG states compared tensor by tensor), logging only epochs its run does not hold yet."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aesweep.config.registry import import_target
from aesweep.trainables import epochs
from aesweep.trainables.checkpoints import CHECKPOINT_FILE
from aesweep.trainables.state import TrialState
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
    ),
    "generator-minibatch": (GENERATOR, {"kind": "minibatch", "batch_size": 8}),
    "cwae-momentum_queue": (AUTOENCODER, {"kind": "momentum_queue", "batch_size": 32, "size": 64}),
}


def _timeless(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if not k.endswith("_seconds")}


def _checkpoint(folder: Path, epoch: int) -> dict:
    return torch.load(folder / f"checkpoint_{epoch:06d}" / CHECKPOINT_FILE, weights_only=True)


@pytest.mark.parametrize("case", CASES)
def test_a_resumed_trial_ends_exactly_where_an_uninterrupted_one_does(
    case: str, write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, strategy = CASES[case]
    trial = trial_from(write_spec, {**spec, "strategies": [strategy]})
    train = import_target(trial.model.trainable)
    through_loop: list[tuple[int, type]] = []  # epochs recorded by the shared loop
    record = epochs.record_epoch

    def spy(cfg, epoch, metrics, *, state, **kwargs):  # type: ignore[no-untyped-def]
        through_loop.append((epoch, type(state)))
        return record(cfg, epoch, metrics, state=state, **kwargs)

    monkeypatch.setattr(epochs, "record_epoch", spy)

    straight_dir, resumed_dir = tmp_path / "straight", tmp_path / "resumed"
    straight = MemoryRun()
    assert train(trial, *inline(trial, straight_dir), straight) == "finished"
    assert through_loop == [(e, TrialState) for e in range(1, EPOCHS + 1)]
    assert straight.outcome == "finished" and sorted(straight.metrics) == [1, 2, 3, 4]

    # A killed attempt: it checkpointed epoch 2, logged epoch 3 and died before checkpointing.
    through_loop.clear()
    attempt = MemoryRun({step: straight.metrics[step] for step in (1, 2, 3)})
    payload, reporter = inline(trial, resumed_dir, resume_from=straight_dir / "checkpoint_000002")
    assert train(trial, payload, reporter, attempt) == "finished"
    assert through_loop == [(3, TrialState), (4, TrialState)]
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
    earlier = _checkpoint(straight_dir, 2)["model"]
    assert any(not torch.equal(earlier[k], final["model"][k]) for k in earlier)
