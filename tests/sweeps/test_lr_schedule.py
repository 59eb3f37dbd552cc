"""optimizer.schedule: the papers' learning-rate decays (WAE §4 multistep, MoCA §4 halving),
checked against torch's own schedulers, applied to a trial's optimisers (WAE-GAN's
discriminator included), logged, checkpointed, and left out of trial ids while unset."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from aesweep.config.optimizer import MultiStepSchedule, StepSchedule
from aesweep.data.config import DigitsConfig
from aesweep.data.loading import load_dataset
from aesweep.models.wae_gan.model import WAEGAN
from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan
from aesweep.tracking.store import SweepStore
from aesweep.trainables.checkpoint_files import find_latest
from aesweep.trainables.step.members import STATE_FILE, SteppedMembers
from tests.conftest import tiny_spec


def torch_rates(scheduler_cls, epochs: int, **kwargs) -> list[float]:
    """The rate torch's scheduler gives each epoch when stepped once per epoch (base 1)."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = scheduler_cls(opt, **kwargs)
    rates = []
    for _ in range(epochs):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def test_step_schedule_matches_torch_step_lr() -> None:
    ours = StepSchedule(every=60, gamma=0.5)  # MoCA: halved every 60 epochs
    expected = torch_rates(torch.optim.lr_scheduler.StepLR, 200, step_size=60, gamma=0.5)
    assert [ours.factor(e) for e in range(1, 201)] == pytest.approx(expected, rel=1e-12)
    assert (ours.factor(60), ours.factor(61), ours.factor(121)) == (1.0, 0.5, 0.25)


def test_step_schedule_stops_decaying_after_until() -> None:
    ours = StepSchedule(every=40, gamma=0.5, until=400)  # MoCA's CelebA-HQ run
    assert ours.factor(400) == 0.5**9 and ours.factor(401) == 0.5**10
    assert ours.factor(1000) == 0.5**10


def test_multistep_matches_torch_and_reads_as_the_wae_paper() -> None:
    halving = MultiStepSchedule(milestones=(30, 50), factors=(0.5, 0.25))
    expected = torch_rates(torch.optim.lr_scheduler.MultiStepLR, 80, milestones=[30, 50], gamma=0.5)
    assert [halving.factor(e) for e in range(1, 81)] == pytest.approx(expected, rel=1e-12)
    wae = MultiStepSchedule(milestones=(30, 50), factors=(0.5, 0.1))  # 1e-3 → 5e-4 → 1e-4
    assert [1e-3 * wae.factor(e) for e in (30, 31, 50, 51)] == pytest.approx(
        [1e-3, 5e-4, 5e-4, 1e-4]
    )


def test_bad_schedules_are_spec_errors(write_spec, capsys) -> None:
    spec = {"name": "s", "models": [{"family": "cwae"}]}
    bad = {"kind": "multistep", "milestones": [30, 50], "factors": [0.5]}
    assert main(["validate", str(write_spec({**spec, "optimizer": {"schedule": bad}}))]) == 2
    err = capsys.readouterr().err
    assert "optimizer.schedule.factors: " in err and "same length" in err
    assert "Traceback" not in err
    unsorted = {"kind": "multistep", "milestones": [50, 30], "factors": [0.5, 0.1]}
    assert main(["validate", str(write_spec({**spec, "optimizer": {"schedule": unsorted}}))]) == 2
    assert "optimizer.schedule.milestones: milestones must increase" in capsys.readouterr().err
    assert main(["validate", str(write_spec({**spec, "optimizer": {"schedule": {"kind": "x"}}}))])
    assert "optimizer.schedule" in capsys.readouterr().err
    # The RSR toy's generator has its own schedule (cosine annealing): refused, not ignored.
    gen = {"name": "g", "models": [{"family": "generator"}], "optimizer": {"schedule": bad}}
    gen["optimizer"]["schedule"] = {"kind": "step", "every": 10}
    gen["data"] = {"dataset": "gaussian_mixture"}
    assert main(["validate", str(write_spec(gen))]) == 2
    assert "optimizer.schedule: applies to autoencoder training" in capsys.readouterr().err


def test_unset_schedule_keeps_trial_ids(write_spec) -> None:
    spec = {"name": "s", "models": [{"family": "cwae"}]}
    _, plain = load_plan(write_spec(spec))
    assert "schedule" not in plain[0].resolved()["optimizer"]
    _, explicit = load_plan(write_spec({**spec, "optimizer": {"schedule": None}}))
    assert explicit[0].trial_id == plain[0].trial_id
    step = {"kind": "step", "every": 10}
    _, scheduled = load_plan(write_spec({**spec, "optimizer": {"schedule": step}}))
    assert scheduled[0].trial_id != plain[0].trial_id


def test_schedule_sets_the_autoencoder_and_discriminator_rates(write_spec) -> None:
    model = {"family": "wae_gan", "latent_dim": 4, "discriminator": {"lr": 2e-4}}
    schedule = {"kind": "multistep", "milestones": [3], "factors": [0.1]}
    spec = {"name": "s", "models": [model], "optimizer": {"lr": 1e-3, "schedule": schedule}}
    spec["selection"] = {"metric": "rec_error"}  # no cost: no CW distance in 4 dimensions
    _, (trial,) = load_plan(write_spec(spec))
    data = load_dataset(DigitsConfig(train_size=64, test_size=16))
    members = SteppedMembers([trial], data, torch.device("cpu"))
    net = members.models[0]
    assert isinstance(net, WAEGAN)
    rates = []
    for epoch in (1, 3, 4, 9):
        (rate,) = members.set_epoch(epoch) or []
        assert float(members._hp()["lr"]) == pytest.approx(rate)  # what the step's update reads
        rates.append(rate)
        rates.append(net.discriminator_optimizer.param_groups[0]["lr"])
    assert rates == pytest.approx([1e-3, 2e-4, 1e-3, 2e-4, 1e-4, 2e-5, 1e-4, 2e-5])


def test_scheduled_trial_logs_its_rate_and_checkpoints_it(write_spec, mlflow_uri, tmp_path):
    spec = tiny_spec(mlflow_uri, tmp_path / "ray", epochs=3)
    spec["optimizer"] = {
        "name": "adam",
        "lr": 0.002,
        "schedule": {"kind": "step", "every": 1, "gamma": 0.5},
    }
    path = write_spec(spec)
    assert main(["run", str(path), "--inline"]) == 0
    store = SweepStore(mlflow_uri, "tiny")
    (run,) = MlflowClient(tracking_uri=store.uri).search_runs(
        [store.experiment_id], "tags.`aesweep.kind` = 'trial'"
    )
    history = store.metric_history(run.info.run_id, "lr")
    assert history == [(1, pytest.approx(0.002)), (2, pytest.approx(0.001)), (3, 0.0005)]
    _, (trial,) = load_plan(path)
    folder = find_latest(tmp_path / "ray", trial.trial_id)
    assert folder is not None
    state = torch.load(Path(folder) / STATE_FILE, weights_only=True)
    assert state["epoch"] == 3
    # the rate is the schedule's at each epoch (set again on resume); Adam's state went on
    steps = trial.data.train_size_bound() // trial.strategy.images_per_step
    assert float(state["state"]["optim"]["step"]["count"][0]) == 3 * steps
