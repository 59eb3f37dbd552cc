"""``compute.pack: auto`` for trials that will run compiled decides by what will run: a
compiled pack timed against a compiled trial (real compiles, Inductor's C++ wrapper on this
CPU), or, where the eager pack already does not pay, no pack and no compile at all."""

from __future__ import annotations

import pytest
import torch

import aesweep.catalog  # noqa: F401  (every component registered)
from aesweep.config.trial import TrialConfig
from aesweep.data.loading import load_dataset
from aesweep.trainables.packs import timing

pytestmark = pytest.mark.slow


def group(compile_mode: str) -> list[TrialConfig]:
    """Four digits trials that differ only in lr and seed (one pack key)."""
    return [
        TrialConfig.model_validate(
            {
                "trial_id": f"t{i}",
                "sweep": "s",
                "data": {"dataset": "digits", "train_size": 128, "test_size": 32},
                "model": {"family": "cwae", "latent_dim": 8, "width": 0.25},
                "strategy": {"kind": "minibatch", "batch_size": 16},
                "optimizer": {"name": "adam", "lr": lr},
                "epochs": 1,
                "seed": i,
                "evaluation": {},
                "checkpoint": {},
                "compute": {"compile": compile_mode},
            }
        )
        for i, lr in enumerate([0.001, 0.002, 0.003, 0.004])
    ]


def decide(trials: list[TrialConfig]) -> tuple[int, str, dict]:
    data = load_dataset(trials[0].data)
    size, record = timing.decide(trials, data, torch.device("cpu"), budget_s=1.0)
    return size.size, size.why, record


@pytest.mark.compile_matrix  # two cold compiles of a pack and a trial: make test-compile
def test_compiled_trials_are_packed_by_a_compiled_timing(monkeypatch) -> None:
    # the eager pack is let through (its ratio varies with the load): the compiled one decides
    monkeypatch.setattr(timing, "COMPILED_GATE", 0.0)
    size, why, record = decide(group("on"))
    assert record["executor"] == "compiled x1" and "compile_fallback" not in record
    assert record["compiled_single"] > 0 and record["compiled_packed"] > 0
    assert record["compile_seconds"] > 0
    ratio = record["compiled_packed"] / record["compiled_single"]
    assert record["compiled_ratio"] == pytest.approx(ratio, abs=1e-3)
    assert size == (4 if ratio > timing.MARGIN else 1)
    assert "compiled" in why


def test_compiled_trials_are_not_packed_when_the_eager_pack_does_not_pay(monkeypatch) -> None:
    monkeypatch.setattr(timing, "COMPILED_GATE", float("inf"))
    monkeypatch.setattr(timing, "MARGIN", float("inf"))

    def no_compile(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled although the eager pack does not pay")

    monkeypatch.setattr(timing, "decide_compiled", no_compile)
    size, why, record = decide(group("on"))
    assert size == 1 and "not timed compiled" in why and "compiled_ratio" not in record
    assert record["single"] > 0 and record["packed"] > 0

    # eager trials: the eager timing decides, as before
    size, why, record = decide(group("off"))
    assert size == 1 and "compiled" not in why
