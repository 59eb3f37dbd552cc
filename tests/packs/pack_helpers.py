"""Shared set-up of the pack tests: a grid of digits trials, run unpacked (the trial's own
trainable) and as one pack, in float64. Both checkpoint the one format
(aesweep/trainables/step/members.py): ``state`` holds every tensor with a member dimension."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from aesweep.config.packs import PackPayload, pack_id
from aesweep.config.trial import TrialConfig, TrialPayload
from aesweep.data.loading import load_dataset
from aesweep.sweeps.load import load_plan
from aesweep.trainables.checkpoints import InlineCheckpoints
from aesweep.trainables.packs.trainable import train_pack
from aesweep.trainables.reporting import InlineReporter
from aesweep.trainables.step.members import STATE_FILE
from tests.trainables.trainable_helpers import MemoryRun


def grid(write_spec, model: dict[str, Any], strategy: dict[str, Any], **extra: Any) -> list:
    base = {"latent_dim": 8, "width": 0.25, "lambda": [1.0, 10.0], **model}
    spec = {
        "name": "packs",
        "data": {"dataset": "digits", "train_size": 128, "test_size": 64},
        "models": [{k: v for k, v in base.items() if v is not None}],
        "strategies": [strategy],
        "optimizer": {"name": "adam", "lr": [0.001, 0.003]},
        "seeds": [0, 1],
        "epochs": 1,
        "evaluation": {"every": 1, "latent_samples": 32},
        "checkpoint": {"every": 1, "keep": 5},
        **extra,
    }
    _, trials = load_plan(write_spec(spec))
    return trials


def float64_data(trial: TrialConfig):
    return load_dataset(trial.data).to(torch.float64)


def run_unpacked(trial: TrialConfig, folder: Path) -> tuple[MemoryRun, dict]:
    from aesweep.config.registry import import_target

    payload = TrialPayload(
        trial=trial, tracking_uri="memory", run_id="memory", inline_dir=str(folder)
    )
    reporter = InlineReporter(InlineCheckpoints(folder, keep=5))
    run = MemoryRun()
    import_target(trial.model.trainable)(trial, payload, reporter, run)
    last = sorted(folder.glob("checkpoint_*"))[-1]
    return run, torch.load(last / STATE_FILE, weights_only=True)


def pack_payload(trials: list[TrialConfig], folder: Path, resume: Path | None = None):
    members = [
        TrialPayload(trial=t, tracking_uri="memory", run_id=f"m{i}") for i, t in enumerate(trials)
    ]
    return PackPayload(
        pack_id=pack_id([t.trial_id for t in trials]),
        members=members,
        inline_dir=str(folder),
        resume_from=str(resume) if resume else None,
    )


def run_packed(
    trials: list[TrialConfig],
    folder: Path,
    data=None,
    resume: Path | None = None,
    runs: list[MemoryRun] | None = None,
) -> tuple[list[MemoryRun], dict, dict[str, str]]:
    runs = runs if runs is not None else [MemoryRun() for _ in trials]
    reporter = InlineReporter(InlineCheckpoints(folder, keep=5))
    outcomes = train_pack(pack_payload(trials, folder, resume), reporter, runs, data=data)
    last = sorted(folder.glob("checkpoint_*"))[-1]
    return runs, torch.load(last / STATE_FILE, weights_only=True), outcomes
