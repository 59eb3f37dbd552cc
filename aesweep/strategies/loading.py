"""Build a strategy's implementation from its config (through the config registry)."""

from __future__ import annotations

import importlib

from aesweep.data.base import TrainSplit
from aesweep.models.base import AutoencoderModel
from aesweep.strategies.base import Strategy
from aesweep.strategies.config import StrategyConfig


def build_strategy(
    cfg: StrategyConfig,
    model: AutoencoderModel,
    train: TrainSplit,
    *,
    epochs: int | None = None,
) -> Strategy:
    """The strategy of ``cfg`` for ``model``; ``epochs``: the trial's (for whole-run schedules)."""
    module, _, cls = cfg.implementation.partition(":")
    return getattr(importlib.import_module(module), cls)(cfg, model, train, epochs=epochs)
