"""Build a strategy's implementation from its config (through the registry): its default role
for an autoencoder, its ``generator`` role for the data-space generator."""

from __future__ import annotations

from collections.abc import Callable

from aesweep.config.strategies import STRATEGIES, StrategyConfig
from aesweep.data.base import TrainSplit
from aesweep.models.base import AutoencoderModel
from aesweep.models.generator.model import Generator
from aesweep.strategies.base import GeneratorStrategy, Strategy


def build_strategy(
    cfg: StrategyConfig,
    model: AutoencoderModel,
    train: TrainSplit,
    *,
    epochs: int | None = None,
) -> Strategy:
    """The strategy of ``cfg`` for ``model``; ``epochs``: the trial's (for whole-run schedules)."""
    strategy: Strategy = STRATEGIES.load(cfg.kind)(cfg, model, train, epochs=epochs)
    return strategy


def build_generator_strategy(
    cfg: StrategyConfig,
    model: Generator,
    train: TrainSplit,
    *,
    epochs: int | None = None,
    after_step: Callable[[], object] | None = None,
) -> GeneratorStrategy:
    """The ``generator`` role of ``cfg``'s strategy for ``model``; ``after_step`` runs after
    every optimiser step (the family's per-step lr schedule)."""
    cls = STRATEGIES.load(cfg.kind, "generator")
    strategy: GeneratorStrategy = cls(cfg, model, train, epochs=epochs, after_step=after_step)
    return strategy
