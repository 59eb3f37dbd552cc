"""Image datasets read from files: any folder of PNG/JPEG images, and CelebA.

The training split streams from disk (:class:`aesweep.data.streaming.StreamingImages`) unless
``in_memory``; the test split is decoded once into memory for evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from aesweep.data.base import TensorDataset, TrainSplit
from aesweep.data.config import CelebAConfig, ImageFolderConfig, StreamedImagesConfig
from aesweep.data.image_files import ImageFiles, list_images
from aesweep.data.streaming import StreamingImages

CELEBA_TRAIN, CELEBA_TEST = 0, 2  # list_eval_partition.txt: 0 train, 1 valid, 2 test


def decode_all(files: ImageFiles, workers: int, batch_size: int = 256) -> torch.Tensor:
    """Every file as one float32 tensor in [0, 1] (decoded by ``workers`` processes)."""
    if len(files) == 0:
        raise ValueError("no images to load")
    loader = DataLoader(
        files, batch_size=batch_size, num_workers=workers, generator=torch.Generator()
    )
    return torch.cat([x.float().div_(255.0) for x in loader])


def build(
    name: str,
    cfg: StreamedImagesConfig,
    train_files: Sequence[Path],
    test_files: Sequence[Path],
) -> TensorDataset:
    reader = ImageFiles(train_files[: cfg.train_size], cfg.channels, cfg.crop, cfg.size)
    test = decode_all(reader.subset(list(test_files)[: cfg.test_size]), cfg.workers)
    if cfg.in_memory:
        train: TrainSplit = decode_all(reader, cfg.workers)
    else:
        train = StreamingImages(reader, workers=cfg.workers, prefetch=cfg.prefetch)
    return TensorDataset(name, train, test)


def load_image_folder(cfg: ImageFolderConfig) -> TensorDataset:
    files = list_images(Path(cfg.path).expanduser())
    order = np.random.default_rng(0).permutation(len(files))
    n_test = max(1, int(round(len(files) * cfg.test_fraction)))
    shuffled = [files[i] for i in order]
    return build("image_folder", cfg, shuffled[n_test:], shuffled[:n_test])


def load_celeba(cfg: CelebAConfig) -> TensorDataset:
    images = cfg.folder / "img_align_celeba"
    split: dict[int, list[Path]] = {CELEBA_TRAIN: [], CELEBA_TEST: []}
    for line in (cfg.folder / "list_eval_partition.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and int(parts[1]) in split:
            split[int(parts[1])].append(images / parts[0])
    return build("celeba", cfg, split[CELEBA_TRAIN], split[CELEBA_TEST])
