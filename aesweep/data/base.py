"""The in-memory dataset every loader returns: two tensors, batched by index in the hot loop."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TensorDataset:
    """Train and test samples as float32 tensors, shape (N, C, H, W) for images or (N, D).

    ``pixel_std`` is the std of the training pixels (the LCW paper's fixed σ for γ).
    """

    name: str
    train: torch.Tensor
    test: torch.Tensor

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.train.dim() == 4

    @property
    def pixel_std(self) -> float:
        return float(self.train.std())

    def to(self, device: torch.device | str) -> TensorDataset:
        return TensorDataset(self.name, self.train.to(device), self.test.to(device))

    def capped(self, train_size: int | None, test_size: int | None) -> TensorDataset:
        return TensorDataset(
            self.name,
            self.train[:train_size] if train_size else self.train,
            self.test[:test_size] if test_size else self.test,
        )
