"""CIFAR-10 held in memory: the five training batches and the test batch of torchvision's
``cifar-10-batches-py`` pickles, read directly (MoCA §4, RSR §4, the MoW CIFAR-10 network).
The pickles are read as plain data only (:mod:`aesweep.data.safe_pickle`): a file where the
spec's ``data.root`` points cannot run code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from aesweep.data.base import TensorDataset
from aesweep.data.config import CIFAR10_TEST_BATCH, CIFAR10_TRAIN_BATCHES, CIFAR10Config
from aesweep.data.safe_pickle import load_plain_data

ROW = 3 * 32 * 32


def read_batch(path: Path) -> torch.Tensor:
    """One pickle's images, (N, 3, 32, 32) uint8 (rows are 1024 red, green, blue values);
    ValueError, one line, for a file that is not such a batch."""
    batch = load_plain_data(path)
    data = batch.get(b"data") if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.shape[-1:] != (ROW,):
        raise ValueError(f"{path}: not a CIFAR-10 batch (no b'data' array of uint8 rows of {ROW})")
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())


def load_cifar10(cfg: CIFAR10Config) -> TensorDataset:
    """50,000 train and 10,000 test images in [0, 1] (train batches in order 1..5)."""
    root = Path(cfg.root).expanduser()
    if cfg.download:
        import torchvision

        torchvision.datasets.CIFAR10(str(root), train=True, download=True)
    folder = root / "cifar-10-batches-py"
    train = torch.cat([read_batch(folder / name) for name in CIFAR10_TRAIN_BATCHES])
    test = read_batch(folder / CIFAR10_TEST_BATCH)
    train, test = (x.to(torch.float32).div_(255.0) for x in (train, test))
    return TensorDataset("cifar10", train, test).capped(cfg.train_size, cfg.test_size)
