"""Load a dataset by its config through the registry (the loader is imported lazily)."""

from __future__ import annotations

from aesweep.config.data import DATASETS, DataConfig
from aesweep.data.base import TensorDataset


def load_dataset(cfg: DataConfig) -> TensorDataset:
    dataset: TensorDataset = DATASETS.load(cfg.dataset)(cfg)
    return dataset
