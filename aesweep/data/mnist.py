"""MNIST and Fashion-MNIST through torchvision, held in memory as one float tensor per split."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision

from aesweep.data.base import TensorDataset
from aesweep.data.config import MNISTConfig


class DatasetNotFoundError(FileNotFoundError):
    """The dataset is neither under ``root`` nor allowed to download."""


def load_mnist(cfg: MNISTConfig) -> TensorDataset:
    """60,000 train and 10,000 test 28x28 images in [0, 1]; reads ``root``/<folder>/raw
    (``MNIST`` or ``FashionMNIST``: torchvision's class of that name)."""
    root = Path(cfg.root).expanduser()
    dataset_class = getattr(torchvision.datasets, cfg.folder)
    try:
        splits = [
            dataset_class(str(root), train=train, download=cfg.download) for train in (True, False)
        ]
    except RuntimeError as exc:
        raise DatasetNotFoundError(
            f"{cfg.folder} not found under {root} (expected {root}/{cfg.folder}/raw/*-ubyte); "
            "set data.root to its folder or data.download: true"
        ) from exc
    train, test = (s.data.to(torch.float32).div_(255.0).unsqueeze(1) for s in splits)
    return TensorDataset(cfg.dataset, train, test).capped(cfg.train_size, cfg.test_size)
