"""Plan expansion: counts, the summary line, stable ids, overrides, --json."""

from __future__ import annotations

import json

from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan

SPEC = {
    "name": "grid",
    "models": [
        {"family": "ae", "latent_dim": 8},
        {"family": "wae_mmd", "latent_dim": 8, "lambda": [1.0, 10.0]},
        {"family": "cwae", "latent_dim": [8, 16]},
    ],
    "strategies": [{"kind": "minibatch", "batch_size": [32, 64]}],
    "optimizer": {"name": "sgd", "lr": [0.01, 0.005, 0.001]},
    "seeds": [0, 1],
}


def test_cartesian_product_counts_and_summary(write_spec, capsys) -> None:
    spec, trials = load_plan(write_spec(SPEC))
    # models: 1 + 2 (lambda) + 2 (latent_dim) = 5; strategies 2; lr 3; seeds 2
    assert len(trials) == 5 * 2 * 3 * 2
    assert main(["validate", str(write_spec(SPEC))]) == 0
    assert capsys.readouterr().out.strip() == "60 trials: 5 models x 2 strategies x 3 lr x 2 seeds"
    combos = {
        (
            t.model.family,
            t.model.latent_dim,
            t.model.latent_weight,
            t.strategy.batch_size,
            t.optimizer.lr,
            t.seed,
        )
        for t in trials
    }
    assert len(combos) == 60


def test_ids_are_stable_unique_and_depend_only_on_what_is_computed(write_spec) -> None:
    _, first = load_plan(write_spec(SPEC))
    _, again = load_plan(write_spec(SPEC))
    ids = [t.trial_id for t in first]
    assert ids == [t.trial_id for t in again]
    assert len(set(ids)) == len(ids) and all(len(i) == 10 for i in ids)
    renamed = {**SPEC, "name": "other", "tracking": {"experiment": "elsewhere"}}
    _, moved = load_plan(write_spec(renamed))
    assert [t.trial_id for t in moved] == ids
    _, fewer = load_plan(write_spec({**SPEC, "optimizer": {"name": "sgd", "lr": [0.01]}}))
    assert {t.trial_id for t in fewer} < set(ids)
    _, longer = load_plan(write_spec({**SPEC, "epochs": 11}))
    assert not {t.trial_id for t in longer} & set(ids)


def test_overrides_replace_fields_and_axes(write_spec) -> None:
    _, trials = load_plan(write_spec(SPEC), ["optimizer.lr=[0.1]", "seeds=3", "models.1.lambda=5"])
    assert {t.optimizer.lr for t in trials} == {0.1}
    assert {t.seed for t in trials} == {3}
    assert {t.model.lambda_ for t in trials if t.model.family == "wae_mmd"} == {5.0}
    assert len(trials) == 4 * 2


def test_plan_lists_varying_values_and_json(write_spec, capsys) -> None:
    path = write_spec(SPEC)
    assert main(["plan", str(path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    # The summary, one line per trial, then the packs (and why the rest stay unpacked).
    after = lines[61:]  # the packs, the trials left unpacked, each trial's step executor
    assert len(lines) > 61 and all(
        line.startswith(("pack-", "unpacked", "step ")) for line in after
    )
    assert all(line.endswith("[eager]") for line in lines[1:61])  # digits: too short to compile
    steps = [line for line in after if line.startswith("step ")]
    assert steps and all("too few to repay a compile (auto)): " in line for line in steps)
    assert sum(len(line.split("): ")[1].split()) for line in steps) == 60  # every trial once
    first = lines[1].split()
    assert len(first[0]) == 10
    assert "model.family=ae" in first and "optimizer.lr=0.01" in first and "seed=0" in first
    assert not any(tok.startswith("model.architecture=") for tok in first)
    assert main(["plan", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 60
    assert rows[0]["config"]["model"]["family"] == "ae"
    assert rows[0]["config"]["optimizer"]["lr"] == 0.01
    assert len({r["trial_id"] for r in rows}) == 60
