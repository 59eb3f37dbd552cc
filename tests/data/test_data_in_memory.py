"""The in-memory image datasets besides MNIST: Fashion-MNIST (LCW) and CIFAR-10 (MoCA, RSR,
MoW). Neither is on this machine, so each loader reads files written in its exact on-disk
layout: Fashion-MNIST shares MNIST's idx format (the real MNIST files stand in for it), and
CIFAR-10's pickles are written here with known pixels."""

from __future__ import annotations

import math
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from aesweep.data.config import CIFAR10Config, FashionMNISTConfig, MNISTConfig
from aesweep.data.loading import load_dataset
from aesweep.sweeps.cli import main
from aesweep.tracking.store import SweepStore
from tests.conftest import SHARED_DATA, tiny_spec


def test_fashion_mnist_reads_its_own_folder(tmp_path) -> None:
    cfg = FashionMNISTConfig(root=str(tmp_path), train_size=100, test_size=50)
    assert "FashionMNIST not found" in (cfg.missing() or "")
    shutil.copytree(SHARED_DATA / "MNIST" / "raw", tmp_path / "FashionMNIST" / "raw")
    assert cfg.missing() is None
    data = load_dataset(cfg)
    mnist = load_dataset(MNISTConfig(root=str(SHARED_DATA), train_size=100, test_size=50))
    assert data.name == "fashion_mnist" and data.train.shape == (100, 1, 28, 28)
    assert torch.equal(data.train, mnist.train) and torch.equal(data.test, mnist.test)


def write_cifar(root: Path, per_batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """torchvision's cifar-10-batches-py: 5 train pickles and a test pickle of raw rows."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    rows = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        with (folder / name).open("wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, f)
        rows[name] = data
    train = np.concatenate([rows[f"data_batch_{i}"] for i in range(1, 6)])
    return train, rows["test_batch"]


def test_cifar10_pixels_land_where_the_format_says(tmp_path) -> None:
    cfg = CIFAR10Config(root=str(tmp_path))
    assert "data_batch_1" in (cfg.missing() or "")
    train_rows, test_rows = write_cifar(tmp_path, per_batch=8)
    assert cfg.missing() is None
    data = load_dataset(cfg)
    assert data.train.shape == (40, 3, 32, 32) and data.test.shape == (8, 3, 32, 32)
    # Row layout: 1024 red values, then green, then blue, each 32 rows of 32 (row-major).
    for i, c, h, w in [(0, 0, 0, 0), (9, 1, 2, 3), (39, 2, 31, 31), (17, 0, 5, 30)]:
        assert data.train[i, c, h, w] * 255 == pytest.approx(train_rows[i, 1024 * c + 32 * h + w])
    assert data.test[7, 2, 0, 1] * 255 == pytest.approx(test_rows[7, 2048 + 1])
    capped = load_dataset(CIFAR10Config(root=str(tmp_path), train_size=12, test_size=3))
    assert torch.equal(capped.train, data.train[:12]) and len(capped.test) == 3


def test_a_cifar10_sweep_trains_the_cifar_network(write_spec, mlflow_uri, tmp_path) -> None:
    write_cifar(tmp_path / "data", per_batch=16)
    spec = tiny_spec(mlflow_uri, tmp_path / "ray")
    spec["data"] = {"dataset": "cifar10", "root": str(tmp_path / "data")}
    spec["models"] = [
        {"family": "cwae", "latent_dim": 8, "architecture": "conv_cifar", "width": 0.1}
    ]
    spec["optimizer"] = {"name": "adam", "lr": 0.001}
    assert main(["run", str(write_spec(spec)), "--inline"]) == 0
    store = SweepStore(mlflow_uri, "tiny")
    (run,) = MlflowClient(tracking_uri=store.uri).search_runs(
        [store.experiment_id], "tags.`aesweep.kind` = 'trial'"
    )
    assert run.data.tags["aesweep.outcome"] == "finished"
    assert math.isfinite(run.data.metrics["rec_error"])
