"""The data-space generator trains through each strategy's ``generator`` role: exactly the
strategies that can feed its distance (``sliced_data``) have one, and each trains an epoch of
``iterations_per_epoch`` steps with a hook after every step (the per-step cosine schedule)."""

from __future__ import annotations

import pytest
import torch

from aesweep.catalog import MODELS, STRATEGIES
from aesweep.config.distances import SLICED_DATA
from aesweep.data.config import GaussianMixtureConfig
from aesweep.data.loading import load_dataset
from aesweep.models.loading import build_model
from aesweep.strategies.base import GeneratorStrategy
from aesweep.strategies.loading import build_generator_strategy

GENERATOR_KINDS = [k for k in STRATEGIES if STRATEGIES.has_role(k, "generator")]
SMALL = {
    "minibatch": {"batch_size": 8},
    "run_sort_rerun": {"effective_batch": 32, "chunk": 8, "projections": 3},
}


def test_a_generator_role_exactly_where_sliced_data_is_supported() -> None:
    supporting = {k for k in STRATEGIES if SLICED_DATA in STRATEGIES.get(k).supports}
    assert {"minibatch", "run_sort_rerun"} <= supporting
    assert set(GENERATOR_KINDS) == supporting
    assert MODELS.get("generator").distance is SLICED_DATA


@pytest.mark.parametrize("kind", GENERATOR_KINDS)
def test_generator_role_trains_an_epoch_with_a_hook_after_every_step(kind: str) -> None:
    cls = STRATEGIES.load(kind, "generator")
    assert issubclass(cls, GeneratorStrategy) and cls.step is not GeneratorStrategy.step
    data = load_dataset(GaussianMixtureConfig(train_size=256, test_size=64))
    torch.manual_seed(0)
    model_cfg = MODELS.get("generator")(iterations_per_epoch=4)
    gen = build_model(model_cfg, data)
    optimizer = torch.optim.Adam(gen.parameters(), lr=1e-3)
    cfg = STRATEGIES.get(kind).model_validate(SMALL.get(kind, {}))
    calls: list[int] = []
    strategy = build_generator_strategy(
        cfg, gen, data.train, epochs=2, after_step=lambda: calls.append(len(calls))
    )
    assert isinstance(strategy, cls)
    before = [p.detach().clone() for p in gen.parameters()]
    sums = strategy.train_epoch(gen, optimizer, data.train, 1)
    assert calls == [0, 1, 2, 3] and sums.steps == 4
    assert set(sums.means()) == {"train_loss"} and not sums.diverged()
    assert all(not torch.equal(a, b) for a, b in zip(before, gen.parameters(), strict=True))
    state = strategy.state_dict()
    if kind == "run_sort_rerun":  # Algorithm 2's directions carry over to the next step
        assert state["directions"].shape == (3, 1)
        fresh = build_generator_strategy(cfg, gen, data.train)
        fresh.load_state_dict(state)
        assert torch.equal(fresh.state_dict()["directions"], state["directions"])
