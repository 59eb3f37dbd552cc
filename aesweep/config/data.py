"""The base config of datasets and their registry (datasets register in aesweep/data/config.py
with their loader as implementation: ``module:function`` returning a ``TensorDataset``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field

from aesweep.config.base import StrictConfig
from aesweep.config.registry import Registry

READING_FIELDS = frozenset({"workers", "prefetch", "in_memory"})
"""Fields that say how images are read, not which: the same seed gives the same batches
whatever they are, so they are left out of trial ids and FID cache keys."""


class DataConfig(StrictConfig):
    """Fields shared by all datasets: optional caps on the split sizes (first N, fixed order)."""

    dataset: str
    train_size: Annotated[int, Field(gt=0)] | None = Field(
        None, description="use the first N training samples (null: all)"
    )
    test_size: Annotated[int, Field(gt=0)] | None = Field(
        None, description="use the first N test samples (null: all)"
    )

    images: ClassVar[bool]
    """Whether the samples are images (C, H, W): convolutional architectures and FID need them."""
    samples: ClassVar[str]
    """What one sample is, for messages (``28x28 grey images``)."""
    location_field: ClassVar[str] = "root"
    """The field that says where the files are (named when they are missing)."""

    def located(self, base: Path) -> DataConfig:
        """This config with a relative :attr:`location_field` made absolute against ``base``
        (the directory the spec was submitted from): a Ray worker runs in a directory of its
        own, where ``root: ../shared/data`` would name nothing."""
        if self.location_field not in type(self).model_fields:
            return self
        where = Path(str(getattr(self, self.location_field))).expanduser()
        if where.is_absolute():
            return self
        return self.model_copy(update={self.location_field: str((base / where).resolve())})

    def missing(self) -> str | None:
        """Why this dataset cannot be loaded here, checked before any trial starts (or None);
        the problem is with :attr:`location_field`."""
        return None

    def full_train_size(self) -> int | None:
        """The training split's size before ``train_size``, when known without loading."""
        return None

    def train_size_bound(self) -> int | None:
        """At most this many training samples (the split capped by ``train_size``; None:
        unknown without loading the data)."""
        known = [n for n in (self.full_train_size(), self.train_size) if n is not None]
        return min(known) if known else None


def _check_dataset(name: str, cls: type[DataConfig]) -> None:
    for attr in ("images", "samples"):
        if not hasattr(cls, attr):
            raise TypeError(f"dataset {name!r}: {cls.__name__} must declare {attr}")


DATASETS: Registry[type[DataConfig]] = Registry("dataset", check=_check_dataset)
