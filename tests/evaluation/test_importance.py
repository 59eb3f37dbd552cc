"""Hyperparameter importance (``results --importance``): on synthetic finished trials where
one axis decides the metric and another is noise, and on records written into a real MLflow
store, read back through the command."""

from __future__ import annotations

import json
import random

import pytest
import yaml
from mlflow.tracking import MlflowClient

from aesweep.sweeps.cli import main
from aesweep.sweeps.importance import EVALUATORS, importance, sweep_importance
from aesweep.sweeps.load import load_plan
from aesweep.sweeps.results import result_groups
from aesweep.tracking.store import SweepStore, TrialRun
from tests.conftest import tiny_spec
from tests.evaluation.conftest import open_png

LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]


def _synthetic(n_noise: int = 4) -> list[tuple[dict, float]]:
    """lr decides the metric (lowest at 1e-3); seed and the noise axis only jitter it."""
    rng = random.Random(0)
    points = []
    for lr in LRS:
        for seed in range(n_noise):
            for noise in ("a", "b"):
                value = abs(LRS.index(lr) - 2) * 10.0 + rng.random()
                points.append(({"optimizer.lr": lr, "seed": seed, "strategy.noise": noise}, value))
    return points


@pytest.mark.parametrize("name", ["ped-anova", "fanova"])
def test_the_deciding_axis_comes_out_on_top(name: str) -> None:
    result = importance("synthetic", _synthetic(), "min", EVALUATORS.get(name))
    assert result.too_few is None and result.trials == len(LRS) * 8
    assert set(result.axes) == {"optimizer.lr", "seed", "strategy.noise"}
    top, *rest = sorted(result.axes, key=result.axes.__getitem__, reverse=True)
    assert top == "optimizer.lr"
    assert result.axes["optimizer.lr"] > 2 * max(result.axes[a] for a in rest)
    assert sum(result.axes.values()) == pytest.approx(1.0)


def test_maximising_reads_the_metric_the_other_way() -> None:
    """With mode max the best trials are the highest: lr still decides."""
    flipped = [(f, -v) for f, v in _synthetic()]
    result = importance("synthetic", flipped, "max", EVALUATORS.get("ped-anova"))
    assert max(result.axes, key=result.axes.__getitem__) == "optimizer.lr"


def test_too_few_trials_say_so_instead_of_a_number() -> None:
    result = importance("small", _synthetic()[:5], "min", EVALUATORS.get("ped-anova"))
    assert result.axes == {} and result.trials == 5
    assert result.too_few == "too few finished trials (5; PED-ANOVA needs 8)"


# A real MLflow store: (family, lr, seed) -> final cost; lr decides, family barely matters.
FAMILIES = ("cwae", "ae")
SPEC_LRS = [0.0001, 0.001, 0.01, 0.1]
SEEDS = [0, 1, 2]


def _cost(family: str, lr: float, seed: int) -> float:
    return abs(SPEC_LRS.index(lr) - 1) * 5.0 + 0.1 * seed + (0.05 if family == "ae" else 0.0)


@pytest.fixture(scope="module")
def recorded_sweep(tmp_path_factory):  # type: ignore[no-untyped-def]
    """Finished records of a 2 families x 4 lrs x 3 seeds grid, written once for the module."""
    tmp_path = tmp_path_factory.mktemp("importance")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = {
        "name": "importance",
        "data": {"dataset": "digits"},
        "models": [{"family": "cwae"}, {"family": "ae"}],
        "optimizer": {"lr": SPEC_LRS},
        "seeds": SEEDS,
        "epochs": 1,
        "tracking": {"uri": uri, "experiment": "importance", "storage": str(tmp_path)},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    spec, trials = load_plan(path)
    store = SweepStore(uri, "importance")
    parent = store.open_parent("importance", "hash", "spec", "summary")
    for t in trials:
        run_id = store.create_trial_run(parent, t.trial_id, t.trial_id, t.flat(), "g")
        run = TrialRun(store.uri, run_id)
        run.log_metrics({"cost": _cost(t.model.family, t.optimizer.lr, t.seed)}, step=1)
        run.finish("finished")
    store.close_parent(parent)
    return path, spec, trials, store, parent


def test_per_row_and_whole_sweep_through_the_command(recorded_sweep, capsys, tmp_path) -> None:
    path, spec, trials, store, parent = recorded_sweep
    assert main(["results", str(path), "--importance", "--format", "json"]) == 0
    captured = capsys.readouterr()
    cwae, ae, whole = json.loads(captured.out)
    assert [r["scope"] for r in (cwae, ae, whole)] == [
        "digits / cwae / minibatch(64)",
        "digits / ae / minibatch(64)",
        "whole sweep",
    ]
    assert (cwae["trials"], ae["trials"], whole["trials"]) == (12, 12, 24)
    for row in (cwae, ae):
        assert set(row["axes"]) == {"optimizer.lr", "seed"}
        assert row["axes"]["optimizer.lr"] > row["axes"]["seed"]
    # The whole sweep adds the family (categorical) and the family's own fields.
    assert "model.family" in whole["axes"]
    assert max(whole["axes"], key=whole["axes"].get) == "optimizer.lr"
    assert f"in run {parent}" in captured.err
    # The parent run carries the same figures and the bar chart.
    run = MlflowClient(tracking_uri=store.uri).get_run(parent)
    assert run.data.metrics["importance.optimizer.lr"] == pytest.approx(
        whole["axes"]["optimizer.lr"]
    )
    assert run.data.metrics["importance.trials"] == 24
    assert run.data.metrics["importance.digits.cwae.minibatch_64_.seed"] == pytest.approx(
        cwae["axes"]["seed"]
    )
    local = MlflowClient(tracking_uri=store.uri).download_artifacts(
        parent, "plots/importance.png", str(tmp_path)
    )
    image = open_png(local)
    assert image.size[0] >= 500 and image.size[1] >= 300


def test_text_output_names_the_trials_used(recorded_sweep, capsys) -> None:
    path, *_ = recorded_sweep
    assert main(["results", str(path), "--importance", "--set", "seeds=[0]"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "importance of each varying axis for cost (min), PED-ANOVA"
    # one seed: 4 trials per row is too few, the whole sweep (8) is enough
    assert out[1] == "digits / cwae / minibatch(64): too few finished trials (4; PED-ANOVA needs 8)"
    assert out[2] == "digits / ae / minibatch(64): too few finished trials (4; PED-ANOVA needs 8)"
    assert out[3] == "whole sweep (8 trials):"
    assert out[4].split()[0] == "optimizer.lr"


def test_an_unknown_evaluator_is_bad_input(recorded_sweep, capsys) -> None:
    path, *_ = recorded_sweep
    assert main(["results", str(path), "--importance", "--evaluator", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("--evaluator: unknown importance evaluator 'nope'")


def test_groups_drive_the_scopes(recorded_sweep) -> None:
    _, spec, trials, store, _ = recorded_sweep
    groups = result_groups(spec, trials, store)
    results = sweep_importance(groups, "cost", "min", EVALUATORS.get("ped-anova"))
    assert len(results) == len(groups) + 1


@pytest.mark.slow
def test_a_small_real_sweep(write_spec, mlflow_uri, tmp_path, capsys) -> None:
    """Digits, 3 lrs x 3 seeds of one epoch, run inline; its importance read back from MLflow."""
    spec = tiny_spec(mlflow_uri, tmp_path / "ray", seeds=[0, 1, 2])
    spec["optimizer"]["lr"] = [0.0001, 0.001, 0.01]
    spec["tracking"]["system_metrics"] = False
    path = write_spec(spec)
    assert main(["run", str(path), "--inline"]) == 0
    capsys.readouterr()
    assert main(["results", str(path), "--importance"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[1] == "digits / cwae / minibatch(32) (9 trials):"
    assert sorted(ln.split()[0] for ln in lines[2:]) == ["optimizer.lr", "seed"]
    figures = {ln.split()[0]: float(ln.split()[1]) for ln in lines[2:]}
    assert sum(figures.values()) == pytest.approx(1.0, abs=2e-3)
    parent = SweepStore(mlflow_uri, "tiny").latest_parent_run("tiny")
    assert f"in run {parent}" in err
    client = MlflowClient(tracking_uri=mlflow_uri)
    metrics = client.get_run(parent).data.metrics
    assert metrics["importance.optimizer.lr"] == pytest.approx(figures["optimizer.lr"], abs=1e-3)
    assert metrics["importance.trials"] == 9
    assert "plots/importance.png" in [a.path for a in client.list_artifacts(parent, "plots")]
