"""scikit-learn's 8x8 digits: the embedded default (no download), split with a fixed seed."""

from __future__ import annotations

import numpy as np
import sklearn.datasets
import torch

from aesweep.data.base import TensorDataset
from aesweep.data.config import DigitsConfig


def load_digits(cfg: DigitsConfig) -> TensorDataset:
    """1,797 grey 8x8 images scaled from 0..16 to [0, 1]; test split = ``test_fraction``."""
    images = sklearn.datasets.load_digits().images.astype(np.float32) / 16.0
    order = np.random.default_rng(0).permutation(len(images))
    n_test = int(round(len(images) * cfg.test_fraction))
    x = torch.from_numpy(images[order]).unsqueeze(1)
    return TensorDataset("digits", x[n_test:].contiguous(), x[:n_test].contiguous()).capped(
        cfg.train_size, cfg.test_size
    )
