"""Build a strategy's implementation from its config (through the registry)."""

from __future__ import annotations

from aesweep.config.strategies import STRATEGIES, StrategyConfig
from aesweep.data.base import TrainSplit
from aesweep.models.base import AutoencoderModel
from aesweep.strategies.base import Strategy


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
