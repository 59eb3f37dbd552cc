"""Feature statistics (μ, Σ) of image sets, and the on-disk cache of reference statistics.

Moments are accumulated batch by batch in float64 around the first batch's mean (so no
feature matrix is kept and Σ does not lose digits to cancellation); Σ uses n - 1 like
``np.cov`` in pytorch-fid. Reference statistics are keyed by (dataset config, split, sample
count, Inception file, preprocessing), written atomically (temp file + ``os.replace``) as a
pytorch-fid style ``.npz`` (``mu``, ``sigma``), and recomputed when a file is unreadable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aesweep.config.data import READING_FIELDS, DataConfig
from aesweep.config.evaluation import FIDSplit
from aesweep.data.base import TensorDataset
from aesweep.data.loading import load_dataset
from aesweep.fid.features import Extractor

PREPROCESSING = "uint8-tf1bilinear299-grey3-v1"
"""Bumped whenever :mod:`aesweep.fid.features` changes what the network sees."""

SPLITS: dict[str, Callable[[TensorDataset, int | None], torch.Tensor]] = {
    # The first ``limit`` images (all when None); a streamed train split loads only those.
    "train": lambda ds, limit: ds.train[:limit],
    "test": lambda ds, limit: ds.test[:limit],
    "train+test": lambda ds, limit: _train_then_test(ds, limit),
}


def _train_then_test(ds: TensorDataset, limit: int | None) -> torch.Tensor:
    train = ds.train[:limit]
    rest = None if limit is None else limit - len(train)
    return torch.cat([train, ds.test[:rest]]) if rest != 0 else train


@dataclass(frozen=True)
class GaussianStats:
    """Mean (d,) and covariance (d, d) of n feature vectors, float64."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    def save_npz(self, path: str | Path, **meta: str) -> None:
        """Write ``mu``, ``sigma``, ``n`` (and string ``meta``) atomically to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                arrays: dict[str, Any] = {"mu": self.mu, "sigma": self.sigma, "n": np.int64(self.n)}
                np.savez(f, **{**arrays, **meta})
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    @classmethod
    def load_npz(cls, path: str | Path) -> GaussianStats:
        """Read pytorch-fid style statistics (``mu``, ``sigma``; ``n`` when present)."""
        with np.load(path, allow_pickle=False) as data:
            mu = np.asarray(data["mu"], dtype=np.float64)
            sigma = np.asarray(data["sigma"], dtype=np.float64)
            n = int(data["n"]) if "n" in data.files else 0
        d = mu.shape[0] if mu.ndim == 1 else -1
        if d < 1 or sigma.shape != (d, d):
            raise ValueError(f"{path}: mu {mu.shape} and sigma {sigma.shape} do not fit")
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise ValueError(f"{path}: non-finite statistics")
        return cls(mu, sigma, n)


class MomentAccumulator:
    """Running Σx and Σxxᵀ of shifted features, float64 on the features' device."""

    def __init__(self) -> None:
        self.n = 0
        self._moments: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        """(shift, Σ(x - shift), Σ(x - shift)(x - shift)ᵀ), set by the first update."""

    def update(self, features: torch.Tensor) -> None:
        f = features.detach().to(torch.float64)
        if self._moments is None:
            shift = f.mean(0)
            outer = torch.zeros(f.shape[1], f.shape[1], dtype=f.dtype, device=f.device)
            self._moments = (shift, torch.zeros_like(shift), outer)
        shift, total, outer = self._moments
        f = f - shift
        total += f.sum(0)
        outer.addmm_(f.T, f)
        self.n += len(f)

    def result(self) -> GaussianStats:
        if self.n < 2 or self._moments is None:
            raise ValueError(f"FID statistics need at least 2 images, got {self.n}")
        shift, total, outer = self._moments
        mean_shifted = total / self.n
        sigma = (outer - self.n * torch.outer(mean_shifted, mean_shifted)) / (self.n - 1)
        mu = shift + mean_shifted
        return GaussianStats(mu.cpu().numpy(), sigma.cpu().numpy(), self.n)


def show_progress(progress: bool | None) -> bool:
    """``None``: a bar only when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else progress


def tensor_batches(images: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, len(images), batch_size):
        yield images[start : start + batch_size]


def stats_of_batches(
    batches: Iterable[torch.Tensor],
    extractor: Extractor,
    *,
    total: int | None = None,
    progress: bool | None = None,
    desc: str = "FID features",
) -> GaussianStats:
    """μ and Σ of the Inception features of every image in ``batches``."""
    from tqdm.auto import tqdm

    acc = MomentAccumulator()
    with tqdm(
        total=total, disable=not show_progress(progress), unit="img", desc=desc, file=sys.stderr
    ) as bar:
        for batch in batches:
            acc.update(extractor.features(batch))
            bar.update(len(batch))
    return acc.result()


def stats_of_images(
    images: torch.Tensor,
    extractor: Extractor,
    *,
    batch_size: int = 50,
    progress: bool | None = None,
    desc: str = "FID features",
) -> GaussianStats:
    """μ and Σ of the features of (N, C, H, W) images in [0, 1] (or uint8), batched."""
    return stats_of_batches(
        tensor_batches(images, batch_size),
        extractor,
        total=len(images),
        progress=progress,
        desc=desc,
    )


def split_images(data_cfg: DataConfig, split: FIDSplit, limit: int | None = None) -> torch.Tensor:
    """The first ``limit`` images (all when None) of one split of a dataset (raises for a
    dataset that is not images)."""
    dataset = load_dataset(data_cfg)
    if not dataset.is_image:
        raise ValueError(
            f"FID needs an image dataset; {data_cfg.dataset} has samples of shape "
            f"{dataset.sample_shape}"
        )
    return SPLITS[split](dataset, limit)


def reference_key(
    data_cfg: DataConfig, split: FIDSplit, samples: int, extractor_identity: str
) -> dict[str, Any]:
    return {
        "data": data_cfg.model_dump(mode="json", exclude=set(READING_FIELDS)),
        "split": split,
        "samples": samples,
        "inception": extractor_identity,
        "preprocessing": PREPROCESSING,
    }


def reference_cache_path(cache_dir: str | Path, key: dict[str, Any]) -> Path:
    blob = json.dumps(key, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    name = f"{key['data']['dataset']}-{key['split']}-{key['samples']}-{digest}.npz"
    return Path(cache_dir).expanduser() / name


def _read_cached(path: Path, key: dict[str, Any], *, warn: bool) -> GaussianStats | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            stored_key = json.loads(str(data["key"]))
        stats = GaussianStats.load_npz(path)
    except Exception as exc:  # truncated, not a zip, missing arrays, bad JSON: recompute
        if warn:
            warnings.warn(f"FID cache {path} unreadable ({exc!r}); recomputing", stacklevel=3)
        return None
    if stored_key != key or stats.n < 2:
        if warn:
            warnings.warn(f"FID cache {path} holds other statistics; recomputing", stacklevel=3)
        return None
    return stats


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One process computes a reference at a time (trials sharing a machine); others wait."""
    try:
        import fcntl
    except ImportError:  # not POSIX: atomic writes still keep the cache consistent
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def reference_stats(
    data_cfg: DataConfig,
    split: FIDSplit,
    samples: int,
    extractor: Extractor,
    cache_dir: str | Path,
    *,
    batch_size: int = 50,
    progress: bool | None = None,
) -> GaussianStats:
    """Statistics of the first ``samples`` images of ``split``, computed once per cache."""
    key = reference_key(data_cfg, split, samples, extractor.identity)
    path = reference_cache_path(cache_dir, key)
    cached = _read_cached(path, key, warn=False)
    if cached is not None:
        return cached
    with _exclusive(path):
        cached = _read_cached(path, key, warn=True)  # another process may have just written it
        if cached is not None:
            return cached
        images = split_images(data_cfg, split, samples)
        stats = stats_of_images(
            images,
            extractor,
            batch_size=batch_size,
            progress=progress,
            desc=f"FID reference {data_cfg.dataset}:{split}",
        )
        stats.save_npz(path, key=json.dumps(key, sort_keys=True))
    return stats
