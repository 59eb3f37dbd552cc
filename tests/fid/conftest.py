"""Shared FID fixtures: the real Inception (loaded once) and one reference computed once.

CPU Inception at 299x299 runs at about 2-8 images/s on the two busy cores here, so every
test of this folder shares one 16-image reference and one set of extracted sample features.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits

from aesweep.data.config import DataConfig, DigitsConfig, MNISTConfig
from aesweep.fid.stats import GaussianStats, reference_stats, split_images
from tests.conftest import SHARED_DATA

N_IMAGES = 16


class CountingExtractor:
    """Delegates to the real extractor and counts the batches and images it is given."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.identity = inner.identity
        self.calls = 0
        self.images = 0

    def features(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.images += len(images)
        return self.inner.features(images)


@dataclass(frozen=True)
class Reference:
    data_cfg: DataConfig
    cache_dir: Path
    stats: GaussianStats
    extracted: int


@pytest.fixture(scope="module", autouse=True)
def _single_threaded_lapack() -> Iterator[None]:
    """One OpenBLAS thread for the 2048x2048 eigen-decompositions of the Fréchet distance: on
    two cores shared with other processes, two threads spin and take 3x the CPU time."""
    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def fid_extractor():  # type: ignore[no-untyped-def]
    from aesweep.fid.features import get_extractor
    from aesweep.fid.weights import InceptionWeightsError

    try:
        return get_extractor(device="cpu")
    except InceptionWeightsError as exc:
        pytest.skip(f"no FID Inception network here: {exc}")


@pytest.fixture(scope="session")
def fid_data_cfg() -> DataConfig:
    """MNIST from ../shared/data when present, else scikit-learn's digits."""
    if (SHARED_DATA / "MNIST" / "raw").is_dir():
        return MNISTConfig(root=str(SHARED_DATA))
    return DigitsConfig()


@pytest.fixture(scope="session")
def fid_reference(fid_extractor, fid_data_cfg, tmp_path_factory) -> Reference:  # type: ignore[no-untyped-def]
    """Test-split statistics of the first N_IMAGES images, through the on-disk cache."""
    cache_dir = tmp_path_factory.mktemp("fid-cache")
    counting = CountingExtractor(fid_extractor)
    stats = reference_stats(fid_data_cfg, "test", N_IMAGES, counting, cache_dir, batch_size=8)
    return Reference(fid_data_cfg, cache_dir, stats, counting.images)


@pytest.fixture(scope="session")
def sample_sets(fid_data_cfg) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    """Train images, uniform noise, and a blurred copy of the train images ([0, 1])."""
    train = split_images(fid_data_cfg, "train")[:N_IMAGES]
    noise = torch.rand(train.shape, generator=torch.Generator().manual_seed(0))
    taps = torch.exp(-(torch.arange(-6.0, 7.0) ** 2) / (2 * 2.0**2))  # Gaussian, σ = 2 px
    kernel = torch.outer(taps, taps) / taps.sum() ** 2
    blurred = torch.nn.functional.conv2d(train, kernel[None, None], padding=6)
    return {"train": train, "noise": noise, "blurred": blurred}
