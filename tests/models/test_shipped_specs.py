"""Every spec in specs/ plans; the model zoo's paper specs (WAE MNIST, LCW MNIST) plan the
papers' configurations and run one of their trials for one epoch on a small MNIST subset."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan, load_spec
from aesweep.tracking.store import SweepStore
from tests.conftest import REPO, SHARED_DATA

SPECS = REPO / "specs"
MNIST_RAW = SHARED_DATA / "MNIST" / "raw"
needs_mnist = pytest.mark.skipif(
    not MNIST_RAW.is_dir(), reason=f"MNIST raw files not found at {MNIST_RAW} (../shared/data)"
)


@pytest.mark.parametrize("path", sorted(SPECS.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_spec_plans(path: Path) -> None:
    spec, trials = load_plan(path)
    assert trials, path.name
    assert len({t.trial_id for t in trials}) == len(trials)
    assert spec.name


def test_wae_mnist_is_the_papers_setup() -> None:
    _, trials = load_plan(SPECS / "wae_mnist.yaml")
    assert sorted(t.model.family for t in trials) == ["wae_gan", "wae_mmd"]
    for t in trials:
        m = t.model
        assert (m.latent_dim, m.architecture, m.lambda_, m.reconstruction) == (
            8,
            "dcgan",
            10.0,
            "wae_scaled",
        )
        assert t.strategy.batch_size == 100
        assert (t.optimizer.name, t.optimizer.lr, t.optimizer.betas) == ("adam", 1e-3, (0.5, 0.999))
    gan = next(t.model for t in trials if t.model.family == "wae_gan")
    d = gan.discriminator
    assert (d.width, d.layers, d.lr, d.betas) == (512, 4, 5e-4, (0.5, 0.999))


def test_wae_celeba_is_the_authors_celeba_config() -> None:
    """tolstikhin/wae configs.py config_celebA (validated only: CelebA is not on this machine)."""
    spec, (trial,) = load_plan(SPECS / "repro" / "wae_celeba.yaml")
    m = trial.model
    assert (trial.data.dataset, trial.data.crop, trial.data.size) == ("celeba", 140, 64)
    assert (m.family, m.latent_dim, m.prior, m.architecture, m.kernel) == (
        "wae_gan",
        64,
        "gaussian",
        "dcgan",
        5,
    )
    assert (m.lambda_, m.reconstruction, m.prior_trick) == (100.0, "wae_scaled", True)
    assert (m.init.kind, m.init.std, m.init.truncated) == ("normal", 0.01, ("conv",))
    assert m.e_pretrain is not None and m.e_pretrain.sample_size == 256 and m.e_add_noise == 0.01
    d = m.discriminator
    assert (d.width, d.layers, d.lr, d.betas) == (1024, 4, 1e-3, (0.5, 0.999))
    assert trial.strategy.batch_size == 100
    assert (trial.optimizer.lr, trial.optimizer.betas) == (3e-4, (0.5, 0.999))
    assert trial.optimizer.schedule is not None
    assert trial.optimizer.schedule.factor(51) == pytest.approx(0.01, rel=1e-6)  # 100x in 50
    assert trial.epochs == 50
    resolved = trial.resolved()["model"]
    assert (resolved["kernel"], resolved["prior_trick"]) == (5, True)


def test_lcw_mnist_is_the_papers_grid() -> None:
    spec, trials = load_plan(SPECS / "lcw_mnist.yaml")
    assert len(trials) == 6 * 4 * 5
    labels = {t.model.label for t in trials}
    assert labels == {"ae", "ae+lt", "cwae", "cwae+lt", "cw2", "cw2+lt"}
    assert {t.strategy.batch_size for t in trials} == {64, 128, 256, 512}
    assert {t.optimizer.lr for t in trials} == {0.005, 0.0025, 0.001, 0.0005, 0.00025}
    assert {t.model.latent_dim for t in trials} == {8}
    for t in trials:
        lt = t.model.latent_trick
        if lt is not None:
            assert (lt.lr, lt.noise_dim) == (5e-4, 8)
    assert (spec.selection.metric, spec.selection.mode) == ("gen_sample_cw", "min")


def one_trial_overrides(path: Path, entry: int, tmp_path: Path) -> list[str]:
    """One model entry, the first value of each axis, one epoch on 128 + 64 MNIST images."""
    raw = yaml.safe_load(path.read_text())
    model = dict(raw["models"][entry])
    if model.get("architecture", "mlp") != "mlp":
        model["width"] = 0.05
    if model.get("latent_trick"):
        model["latent_trick"] = {**model["latent_trick"], "epochs": 1, "hidden": 64}
    spec = load_spec(path)
    batch = spec.strategies[0].batch_size[0]
    return [
        f"data.root={SHARED_DATA}",
        "data.train_size=128",
        "data.test_size=64",
        f"models=[{json.dumps(model)}]",
        f"strategies.0.batch_size=[{min(batch, 64)}]",
        f"optimizer.lr=[{spec.optimizer.lr[0]}]",
        "epochs=1",
        "evaluation.latent_samples=64",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        "tracking.experiment=shipped",
        f"tracking.storage={tmp_path / 'ray'}",
    ]


@needs_mnist
@pytest.mark.parametrize(
    ("name", "entry", "expected"),
    [
        ("wae_mnist.yaml", 1, {"train_disc_acc", "sample_cw", "gen_sample_cw"}),
        ("lcw_mnist.yaml", 5, {"lt_cw_distance", "lt_sample_cw", "sample_cw", "gen_sample_cw"}),
    ],
)
def test_a_trial_of_the_spec_runs_on_mnist(
    name: str, entry: int, expected: set[str], tmp_path: Path, capsys
) -> None:
    overrides = one_trial_overrides(SPECS / name, entry, tmp_path)
    argv = ["run", str(SPECS / name), "--inline"] + [a for o in overrides for a in ("--set", o)]
    assert main(argv) == 0
    assert "1 finished" in capsys.readouterr().out
    store = SweepStore(f"sqlite:///{tmp_path / 'mlflow.db'}", "shipped")
    (run,) = MlflowClient(tracking_uri=store.uri).search_runs(
        [store.experiment_id], "tags.`aesweep.kind` = 'trial'"
    )
    assert run.data.tags["aesweep.outcome"] == "finished"
    assert run.data.params["data.dataset"] == "mnist"
    assert expected <= set(run.data.metrics)
    assert all(math.isfinite(v) for v in run.data.metrics.values()), run.data.metrics
