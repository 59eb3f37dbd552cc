"""The dataset every loader returns: a test tensor in memory, and the training split either as
one tensor (batched by index in the hot loop) or, when too large, streamed from disk."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aesweep.data.streaming import StreamingImages

TrainSplit = torch.Tensor | StreamingImages
"""What the strategies index: ``len``, ``train[ix]``, ``.device`` (see ``epoch_batches``)."""

PIXEL_STD_SAMPLE = 2_000
"""Images a streamed split's pixel std is estimated from (its first ones)."""


@dataclass(frozen=True)
class TensorDataset:
    """Train and test samples, float32, shape (N, C, H, W) for images or (N, D).

    ``pixel_std`` is the std of the training pixels (the LCW paper's fixed σ for γ); for a
    streamed split, of its first :data:`PIXEL_STD_SAMPLE` images.
    """

    name: str
    train: TrainSplit
    test: torch.Tensor

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.train.dim() == 4

    @property
    def pixel_std(self) -> float:
        if isinstance(self.train, StreamingImages):
            return float(self.train[:PIXEL_STD_SAMPLE].std())
        return float(self.train.std())

    def to(self, device: torch.device | str) -> TensorDataset:
        return TensorDataset(self.name, self.train.to(device), self.test.to(device))

    def capped(self, train_size: int | None, test_size: int | None) -> TensorDataset:
        if isinstance(self.train, StreamingImages):
            train: TrainSplit = self.train.first(train_size)
        else:
            train = self.train[:train_size] if train_size else self.train
        return TensorDataset(self.name, train, self.test[:test_size] if test_size else self.test)
