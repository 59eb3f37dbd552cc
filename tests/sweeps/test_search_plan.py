"""Random search planned before the run (reproducible, in range), lists mixed with
distributions, distributions refused under grid, Optuna's space and sampled trial ids."""

from __future__ import annotations

import math

import pytest

from aesweep.sweeps.cli import main
from aesweep.sweeps.load import SpecError, load_plan
from aesweep.sweeps.plan import optuna_space, plan, sampled_trials
from aesweep.sweeps.spec import SweepSpec

BASE = {
    "name": "search",
    "data": {"dataset": "digits", "train_size": 256, "test_size": 128},
    "models": [{"family": "wae_mmd", "latent_dim": 8, "lambda": {"loguniform": [1, 100]}}],
    "optimizer": {"name": "adam", "lr": {"loguniform": [0.0001, 0.03]}},
    "epochs": 2,
    "evaluation": {"every": 1, "latent_samples": 64},
    "search": {"algorithm": "random", "num_samples": 20, "seed": 0},
}


def _spec(**changes: object) -> SweepSpec:
    return SweepSpec.model_validate({**BASE, **changes})


def test_random_search_plans_the_same_trials_in_range() -> None:
    first, again = plan(_spec()), plan(_spec())
    assert len(first) == 20
    assert [t.trial_id for t in first] == [t.trial_id for t in again]
    lrs = [t.optimizer.lr for t in first]
    lams = [t.model.latent_weight for t in first]
    assert all(1e-4 <= lr <= 0.03 for lr in lrs)
    assert all(1 <= lam <= 100 for lam in lams)
    assert len(set(lrs)) == 20  # continuous draws: no two alike
    # log-uniform: about as many draws below the geometric mean of the bounds as above
    below = sum(lr < math.sqrt(1e-4 * 0.03) for lr in lrs)
    assert 4 <= below <= 16
    other = plan(_spec(search={"algorithm": "random", "num_samples": 20, "seed": 1}))
    assert {t.trial_id for t in other}.isdisjoint({t.trial_id for t in first})


def test_lists_are_sampled_from_and_seeds_replicate_each_draw() -> None:
    spec = _spec(
        models=[{"family": "wae_mmd", "latent_dim": [8, 16], "lambda": {"uniform": [1, 10]}}],
        seeds=[0, 1],
        search={"algorithm": "random", "num_samples": 12, "seed": 3},
    )
    trials = plan(spec)
    assert len(trials) == 24
    assert {t.model.latent_dim for t in trials} == {8, 16}
    by_draw: dict[tuple, list[int]] = {}
    for t in trials:
        by_draw.setdefault((t.model.latent_dim, t.model.latent_weight, t.optimizer.lr), []).append(
            t.seed
        )
    assert len(by_draw) == 12 and all(sorted(s) == [0, 1] for s in by_draw.values())


def test_a_distribution_under_grid_is_refused_naming_the_field(write_spec, capsys) -> None:
    spec = {**BASE, "search": {"algorithm": "grid"}, "optimizer": {"lr": [0.001, 0.01]}}
    path = write_spec(spec)
    with pytest.raises(SpecError) as exc:
        load_plan(path)
    (line,) = exc.value.lines
    assert "models[0].lambda: a distribution (loguniform(1, 100))" in line
    assert main(["validate", str(path)]) == 2
    assert "models[0].lambda" in capsys.readouterr().err


def test_bad_distributions_name_the_field(write_spec, capsys) -> None:
    path = write_spec({**BASE, "optimizer": {"lr": {"loguniform": [0.01, 0.001]}}})
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "optimizer.lr" in err[0] and "low < high" in err[0]
    path = write_spec({**BASE, "search": {"algorithm": "random"}})
    assert main(["validate", str(path)]) == 2
    assert "num_samples" in capsys.readouterr().err


def test_asha_rungs_must_be_evaluation_epochs(write_spec, capsys) -> None:
    sched = {"kind": "asha", "grace_period": 3, "reduction_factor": 3}
    search = {"algorithm": "random", "num_samples": 4, "scheduler": sched}
    path = write_spec({**BASE, "epochs": 20, "evaluation": {"every": 2}, "search": search})
    assert main(["validate", str(path)]) == 2
    assert "search.scheduler.grace_period" in capsys.readouterr().err


def test_plan_prints_draws_and_optuna_prints_its_space(write_spec, capsys) -> None:
    path = write_spec(BASE)
    assert main(["plan", str(path)]) == 0
    out = [
        ln for ln in capsys.readouterr().out.splitlines() if not ln.startswith(("pack-", "step "))
    ]
    assert out[0].startswith("20 trials: random search, 20 samples")
    assert len(out) == 21 and all("optimizer.lr=" in line for line in out[1:])
    optuna = {**BASE, "search": {"algorithm": "optuna", "num_samples": 5}}
    path = write_spec(optuna)
    assert main(["plan", str(path)]) == 0
    text = capsys.readouterr().out
    assert "optuna search" in text and "5 samples" in text
    assert "optimizer.lr ~ loguniform(0.0001, 0.03)" in text


def test_a_sampled_trial_has_the_id_a_planned_one_would() -> None:
    spec = _spec(search={"algorithm": "optuna", "num_samples": 3})
    assert set(optuna_space(spec)) == {"model.lambda", "optimizer.lr"}
    sampled = sampled_trials(spec).trial({"model.lambda": 10.0, "optimizer.lr": 0.001})
    grid = plan(
        _spec(
            models=[{"family": "wae_mmd", "latent_dim": 8, "lambda": 10.0}],
            optimizer={"name": "adam", "lr": 0.001},
            search={"algorithm": "grid"},
        )
    )
    assert [sampled.trial_id] == [t.trial_id for t in grid]
