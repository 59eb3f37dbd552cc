"""What a checkpoint holds and that loading it restores each part: WAE-GAN's discriminator and
its optimiser (a model's extra state, in the one step's checkpoint), and for the module
trainer (aesweep/trainables/state.py) the keys, the generator's cosine schedule and
Algorithm 2's directions."""

from __future__ import annotations

from pathlib import Path

import torch

from aesweep.catalog import MODELS, STRATEGIES
from aesweep.data.config import GaussianMixtureConfig
from aesweep.data.loading import load_dataset
from aesweep.models.loading import build_model
from aesweep.models.wae_gan.model import WAEGAN
from aesweep.strategies.loading import build_generator_strategy
from aesweep.trainables.checkpoints import CHECKPOINT_FILE
from aesweep.trainables.state import TrialState
from tests.strategies.strategy_helpers import stepped

BASE_KEYS = {"epoch", "model", "optimizer", "strategy", "rng_cpu"} | (
    {"rng_cuda"} if torch.cuda.is_available() else set()
)


def saved_keys(folder: Path) -> set[str]:
    return set(torch.load(folder / CHECKPOINT_FILE, weights_only=True))


def test_checkpoint_restores_the_discriminator_and_its_optimiser(tmp_path: Path) -> None:
    spec = {"kind": "minibatch", "batch_size": 32}
    disc = {"width": 64, "lr": 2e-3}
    members = stepped("wae_gan", spec, discriminator=disc)
    members.train_epoch(1, first=True)
    members.save(tmp_path, 1)
    model = members.models[0]
    assert isinstance(model, WAEGAN)

    again = stepped("wae_gan", spec, seed=1, discriminator=disc)
    fresh = again.models[0]
    assert isinstance(fresh, WAEGAN)
    assert not torch.equal(fresh.discriminator.net[0].weight, model.discriminator.net[0].weight)
    assert again.load(tmp_path) == 1
    assert torch.equal(fresh.discriminator.net[0].weight, model.discriminator.net[0].weight)
    saved = model.discriminator_optimizer.state_dict()
    loaded = fresh.discriminator_optimizer.state_dict()
    assert saved["param_groups"] == loaded["param_groups"]
    assert loaded["state"], "Adam moments restored"
    for key, state in saved["state"].items():
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(state[name], loaded["state"][key][name])


def generator_state(seed: int, *, cosine: bool) -> tuple[TrialState, object]:
    torch.manual_seed(seed)
    data = load_dataset(GaussianMixtureConfig(train_size=256, test_size=64))
    gen = build_model(MODELS.get("generator")(iterations_per_epoch=3), data)
    optimizer = torch.optim.Adam(gen.parameters(), lr=1e-3)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=6, eta_min=1e-7)
        if cosine
        else None
    )
    cfg = STRATEGIES.get("run_sort_rerun").model_validate(
        {"effective_batch": 32, "chunk": 8, "projections": 3}
    )
    step = None if scheduler is None else scheduler.step
    strategy = build_generator_strategy(cfg, gen, data.train, epochs=2, after_step=step)
    return TrialState(gen, optimizer, strategy, scheduler), data


def test_generator_checkpoint_restores_its_schedule_and_directions(tmp_path: Path) -> None:
    state, data = generator_state(0, cosine=True)
    state.strategy.train_epoch(state.model, state.optimizer, data.train, 1)
    state.save(tmp_path, 1)
    assert saved_keys(tmp_path) == BASE_KEYS | {"scheduler"}  # no model_extra: no encoder

    fresh, _ = generator_state(1, cosine=True)
    assert fresh.scheduler is not None and fresh.scheduler.last_epoch == 0
    assert fresh.load(tmp_path) == 1
    assert fresh.scheduler.last_epoch == 3  # one step per optimiser step, 3 per epoch
    assert fresh.optimizer.param_groups[0]["lr"] == state.optimizer.param_groups[0]["lr"] < 1e-3
    directions = state.strategy.state_dict()["directions"]
    assert torch.equal(fresh.strategy.state_dict()["directions"], directions)
    pairs = zip(state.model.parameters(), fresh.model.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_no_scheduler_no_scheduler_entry(tmp_path: Path) -> None:
    state, _ = generator_state(0, cosine=False)
    state.save(tmp_path, 0)  # before any step: Algorithm 2's directions are not drawn yet
    assert saved_keys(tmp_path) == BASE_KEYS
    fresh, _ = generator_state(1, cosine=False)
    assert fresh.load(tmp_path) == 0
    assert fresh.strategy.state_dict() == {}
