"""The trial ids of every shipped spec are those recorded in shipped_trial_ids.json beside this
file: a resubmitted sweep finds its finished trials across refactorings. Recorded last when
the evaluation took MoW's protocol (evaluation.mmd_draws and cw_subsets are part of
every id, so trials evaluated the old way are not taken for new ones); before that, the ids
were unchanged since the config layer was split into per-family configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aesweep.sweeps.load import load_plan
from tests.conftest import REPO

RECORDED = json.loads((Path(__file__).parent / "shipped_trial_ids.json").read_text())


def test_every_shipped_spec_has_recorded_ids() -> None:
    assert sorted(RECORDED) == sorted(p.name for p in (REPO / "specs").glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_shipped_spec_plans_the_recorded_ids(name: str) -> None:
    _, trials = load_plan(REPO / "specs" / name)
    assert [t.trial_id for t in trials] == RECORDED[name]
