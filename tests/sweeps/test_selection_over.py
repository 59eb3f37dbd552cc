"""``selection.over``: the axes the selection chooses over. LCW picks the best
(batch size, lr) pair by the samples' quality (LCW, experiments); by default (MoW §4) lr and λ
are chosen and every batch size is a row of its own. Validated against the spec's fields;
read back from a real (SQLite) MLflow store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aesweep.sweeps.load import SpecError, load_plan
from aesweep.sweeps.results import group_row, result_groups, table_columns
from aesweep.tracking.store import SweepStore, TrialRun
from tests.conftest import REPO

# (batch size, lr) -> gen_sample_cw: the best pair is (128, 0.001); batch 64's best lr is 0.01.
SCORES = {(64, 0.01): 0.30, (64, 0.001): 0.40, (128, 0.01): 0.50, (128, 0.001): 0.20}


def _spec(tmp_path: Path, **selection: Any) -> dict[str, Any]:
    return {
        "name": "sel",
        "data": {"dataset": "digits"},
        "models": [{"family": "cwae", "latent_dim": 8}],
        "strategies": [{"kind": "minibatch", "batch_size": [64, 128]}],
        "optimizer": {"name": "adam", "lr": [0.01, 0.001]},
        "epochs": 1,
        "selection": {"metric": "gen_sample_cw", "mode": "min", **selection},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'm.db'}", "experiment": "sel"},
    }


def _store_with_results(spec_path: Path) -> tuple[Any, list[Any], SweepStore]:
    spec, trials = load_plan(spec_path)
    store = SweepStore(spec.tracking.uri, spec.tracking.experiment or spec.name)
    parent = store.open_parent(spec.name, "h", "spec", "4 trials")
    for t in trials:
        run_id = store.create_trial_run(parent, t.trial_id, t.trial_id, t.flat(), "g")
        run = TrialRun(store.uri, run_id)
        run.start()
        score = SCORES[(t.strategy.batch_size, t.optimizer.lr)]
        run.log_metrics({"gen_sample_cw": score, "rec_error": 1.0}, step=1)
        run.finish("finished")
    return spec, trials, store


def test_default_selection_gives_each_batch_size_its_own_lr(write_spec, tmp_path) -> None:
    spec, trials, store = _store_with_results(write_spec(_spec(tmp_path)))
    rows = [group_row(g) for g in result_groups(spec, trials, store)]
    assert {(r["strategy"], r["lr"]) for r in rows} == {
        ("minibatch(64)", 0.01),
        ("minibatch(128)", 0.001),
    }


def test_selection_over_batch_size_picks_the_best_pair(write_spec, tmp_path) -> None:
    over = ["optimizer.lr", "model.lambda", "strategy.batch_size"]
    spec, trials, store = _store_with_results(write_spec(_spec(tmp_path, over=over)))
    groups = result_groups(spec, trials, store)
    rows = [group_row(g) for g in groups]
    assert len(rows) == 1
    row = rows[0]
    assert (row["strategy"], row["lr"], row["batch_size"]) == ("minibatch", 0.001, 128)
    assert groups[0].best is not None
    assert groups[0].best.values("gen_sample_cw") == [pytest.approx(0.20)]
    assert row["gen_sample_cw"] == pytest.approx(0.20)  # the value it was selected on
    assert "batch_size" in table_columns(rows)
    assert "gen_sample_cw" not in table_columns(rows)  # a row value, not a column


def test_selection_over_is_validated_against_the_specs_fields(write_spec, tmp_path) -> None:
    with pytest.raises(SpecError) as err:
        load_plan(write_spec(_spec(tmp_path, over=["optimizer.lr", "strategy.window"])))
    assert "selection.over: 'strategy.window' is no field of this spec's trials" in str(err.value)
    with pytest.raises(SpecError, match="seeds are averaged"):
        load_plan(write_spec(_spec(tmp_path, over=["seed"])))


def test_the_lcw_spec_selects_over_batch_size_and_lr() -> None:
    spec, _ = load_plan(REPO / "specs" / "lcw_mnist.yaml")
    assert {"optimizer.lr", "strategy.batch_size"} <= set(spec.selection.over)
