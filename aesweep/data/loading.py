"""Load a dataset by its config through the registry (the loader is imported lazily)."""

from __future__ import annotations

import importlib

from aesweep.data.base import TensorDataset
from aesweep.data.config import DataConfig


def load_dataset(cfg: DataConfig) -> TensorDataset:
    module, _, func = cfg.loader.partition(":")
    return getattr(importlib.import_module(module), func)(cfg)
