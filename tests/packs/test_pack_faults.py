"""Faults per member and resume: a member that turns non-finite is recorded as diverged at
that epoch and masked while the others go on (computing what they compute without it); a
pack resumed from its checkpoint, also as a pack of some of its members (the unfinished ones
of a resubmitted spec), ends where an uninterrupted pack does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aesweep.trainables.step import members as stepped
from tests.packs.pack_helpers import grid, run_packed
from tests.trainables.trainable_helpers import MemoryRun

MODEL = {"family": "cwae"}
STRATEGY = {"kind": "minibatch", "batch_size": 32}


def _close(a: dict, b: dict, rows_a: list[int], rows_b: list[int]) -> None:
    for key in b:
        torch.testing.assert_close(a[key][rows_a], b[key][rows_b], rtol=0, atol=1e-12)


def test_a_diverging_member_is_masked_and_the_others_go_on(
    write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trials = grid(write_spec, MODEL, STRATEGY, epochs=2)[:4]
    _, clean, _ = run_packed([trials[i] for i in (0, 2, 3)], tmp_path / "clean")
    build = stepped.build_members

    def poisoned(members, data, device):  # type: ignore[no-untyped-def]
        models, generators = build(members, data, device)
        with torch.no_grad():
            next(iter(models[1].parameters())).fill_(float("nan"))
        return models, generators

    monkeypatch.setattr(stepped, "build_members", poisoned)
    runs, state, outcomes = run_packed(trials, tmp_path / "pack")
    assert outcomes[trials[1].trial_id] == "diverged"
    assert runs[1].outcome == "diverged" and runs[1].tags["aesweep.diverged_epoch"] == 1
    assert sorted(runs[1].metrics) == [1]
    for i in (0, 2, 3):
        assert runs[i].outcome == "finished" and sorted(runs[i].metrics) == [1, 2]
    assert state["active"].tolist() == [True, False, True, True]
    _close(state["state"]["params"], clean["state"]["params"], [0, 2, 3], [0, 1, 2])


def test_a_pack_resumes_from_its_checkpoint_also_with_fewer_members(
    write_spec, tmp_path: Path
) -> None:
    trials = grid(write_spec, MODEL, STRATEGY, epochs=2)[:4]
    straight_runs, straight, _ = run_packed(trials, tmp_path / "straight")
    first = tmp_path / "straight" / "checkpoint_000001"
    # All four resume (a retried pack), then three of them (a resubmission after one finished).
    for rows in ([0, 1, 2, 3], [0, 2, 3]):
        members = [trials[i] for i in rows]
        logged = [MemoryRun({1: straight_runs[i].metrics[1]}) for i in rows]
        runs, state, outcomes = run_packed(
            members, tmp_path / f"resumed{len(rows)}", resume=first, runs=logged
        )
        assert set(outcomes.values()) == {"finished"}
        _close(state["state"]["params"], straight["state"]["params"], list(range(len(rows))), rows)
        for run in runs:
            assert run.logged_steps == [2, 2] and run.tags["aesweep.resumed_from_epoch"] == 1
