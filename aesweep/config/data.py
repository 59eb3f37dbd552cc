"""The base config of datasets and their registry (datasets register in aesweep/data/config.py
with their loader as implementation: ``module:function`` returning a ``TensorDataset``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aesweep.config.base import StrictConfig
from aesweep.config.registry import Registry

READING_FIELDS = frozenset({"workers", "prefetch", "in_memory"})
"""Fields that say how images are read, not which: the same seed gives the same batches
whatever they are, so they are left out of trial ids and FID cache keys."""


class DataConfig(StrictConfig):
    """Fields shared by all datasets: optional caps on the split sizes (first N, fixed order)."""

    dataset: str
    train_size: Annotated[int, Field(gt=0)] | None = None
    test_size: Annotated[int, Field(gt=0)] | None = None

    def missing(self) -> str | None:
        """Why this dataset cannot be loaded here, checked before any trial starts (or None)."""
        return None


DATASETS: Registry[type[DataConfig]] = Registry("dataset")
