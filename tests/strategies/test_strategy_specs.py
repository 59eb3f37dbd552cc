"""The shipped strategy specs: the moving-window paper's MNIST grid (planned, one trial run for
one step), the Run-Sort-ReRun toy (histogram and W1 logged) and MoCA's λ grid (on digits)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan
from aesweep.tracking.store import SweepStore
from tests.conftest import REPO, SHARED_DATA

SPECS = REPO / "specs"
MNIST_RAW = SHARED_DATA / "MNIST" / "raw"


def _tracking(tmp_path: Path, experiment: str) -> list[str]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return [
        f"tracking.uri={uri}",
        f"tracking.experiment={experiment}",
        f"tracking.storage={tmp_path / 'ray'}",
    ]


def _finished_children(tmp_path: Path, experiment: str) -> list:
    store = SweepStore(f"sqlite:///{tmp_path / 'mlflow.db'}", experiment)
    runs = MlflowClient(tracking_uri=store.uri).search_runs(
        [store.experiment_id], "tags.`aesweep.kind` = 'trial'"
    )
    for run in runs:
        assert run.data.tags["aesweep.outcome"] == "finished", run.data.tags
        assert all(math.isfinite(v) for v in run.data.metrics.values()), run.data.metrics
    return runs


def _argv(command: str, spec: Path, overrides: list[str]) -> list[str]:
    return [command, str(spec)] + [a for o in overrides for a in ("--set", o)]


def test_mow_mnist_plans_the_papers_grid() -> None:
    spec, trials = load_plan(SPECS / "mow_mnist.yaml")
    assert len(trials) == 3 * 3 * 5 == 45
    assert {t.model.family for t in trials} == {"wae_mmd", "cwae", "swae"}
    assert {(t.strategy.window, t.strategy.fresh) for t in trials} == {(64, 64), (64, 32), (64, 1)}
    assert {t.optimizer.lr for t in trials} == {0.01, 0.0075, 0.005, 0.0025, 0.001}
    for t in trials:
        assert (t.model.latent_dim, t.model.architecture, t.optimizer.name) == (20, "mlp", "sgd")
        assert t.optimizer.momentum == 0.0 and t.epochs == 500
        assert t.model.reconstruction == "sqrt_sum" and t.strategy.reset_each_epoch
    assert len({t.trial_id for t in trials}) == 45


@pytest.mark.skipif(not MNIST_RAW.is_dir(), reason=f"MNIST raw files not found at {MNIST_RAW}")
def test_mow_mnist_runs_one_trial_for_one_step(tmp_path: Path, capsys) -> None:
    first_model = yaml.safe_load((SPECS / "mow_mnist.yaml").read_text())["models"][0]
    overrides = [
        f"data.root={SHARED_DATA}",
        "data.train_size=1",  # MoW(64, 1): one new image, one step
        "data.test_size=100",
        f"models=[{json.dumps(first_model)}]",
        "strategies.0.fresh=[1]",
        "optimizer.lr=[0.0025]",
        "epochs=1",
        "evaluation.latent_samples=100",
        *_tracking(tmp_path, "mow"),
    ]
    assert main(_argv("validate", SPECS / "mow_mnist.yaml", overrides)) == 0
    assert capsys.readouterr().out.startswith("1 trial: 1 model x 1 strategy x 1 lr x 1 seed")
    assert main(_argv("run", SPECS / "mow_mnist.yaml", overrides) + ["--inline"]) == 0
    (run,) = _finished_children(tmp_path, "mow")
    assert run.data.params["strategy.fresh"] == "1" and run.data.params["data.dataset"] == "mnist"
    assert {"rec_error", "wae_distance", "cw_distance", "cost"} <= set(run.data.metrics)


def test_rsr_toy_logs_w1_and_histograms(tmp_path: Path) -> None:
    overrides = ["epochs=1", "models.0.iterations_per_epoch=3", *_tracking(tmp_path, "toy")]
    assert main(_argv("run", SPECS / "rsr_toy.yaml", overrides) + ["--inline"]) == 0
    runs = _finished_children(tmp_path, "toy")
    assert {r.data.params["strategy.kind"] for r in runs} == {"minibatch", "run_sort_rerun"}
    store = SweepStore(f"sqlite:///{tmp_path / 'mlflow.db'}", "toy")
    for run in runs:
        assert 0 < run.data.metrics["w1_to_target"] < 10
        png = MlflowClient(tracking_uri=store.uri).download_artifacts(
            run.info.run_id, "histograms/epoch_0001.png", str(tmp_path / run.info.run_id)
        )
        assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_moca_spec_runs_on_digits(tmp_path: Path) -> None:
    overrides = [
        "data={dataset: digits, train_size: 128, test_size: 64}",
        "models.0.latent_dim=8",
        "models.0.lambda=[100, 1000]",
        "strategies.0.size=256",
        "epochs=1",
        "evaluation.latent_samples=64",
        *_tracking(tmp_path, "moca"),
    ]
    spec, trials = load_plan(SPECS / "moca_mnist.yaml")
    assert sorted(t.model.lambda_ for t in trials) == [100, 1000, 3000, 6000]
    assert {(t.model.tau, t.strategy.momentum, t.strategy.batch_size) for t in trials} == {
        (0.05, 0.99, 64)
    }
    assert main(_argv("run", SPECS / "moca_mnist.yaml", overrides) + ["--inline"]) == 0
    runs = _finished_children(tmp_path, "moca")
    assert sorted(float(r.data.params["model.lambda"]) for r in runs) == [100.0, 1000.0]
