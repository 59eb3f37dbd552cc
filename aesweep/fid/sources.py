"""The sides of ``aesweep fid A B``: a dataset split, a folder of images, or saved statistics.

``mnist:test``, ``digits:train``, ``mnist:train+test``: a registered image dataset and a split,
read through :mod:`aesweep.data` and the reference cache. A folder: its PNG/JPEG files, searched
recursively and taken in sorted path order. A ``.npz``: ``mu`` and ``sigma`` as pytorch-fid
saves them. This is how our numbers are checked against another FID tool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import torch
from pydantic import ValidationError

from aesweep.config.evaluation import FIDSplit
from aesweep.data.config import DATASETS, DataConfig
from aesweep.data.image_files import list_images, read_image
from aesweep.fid.features import Extractor
from aesweep.fid.stats import SPLITS, GaussianStats, reference_stats, stats_of_batches


class SourceError(ValueError):
    """A source that names nothing usable; the message is one line for the CLI."""


@dataclass(frozen=True)
class Request:
    """How many images, in which batches, with which network (loaded only when needed)."""

    samples: int
    batch_size: int
    cache_dir: Path
    extractor: Callable[[], Extractor]
    progress: bool | None = None


class Source(Protocol):
    @property
    def label(self) -> str: ...

    def stats(self, request: Request) -> GaussianStats: ...


@dataclass(frozen=True)
class StatsFile:
    path: Path

    @property
    def label(self) -> str:
        return str(self.path)

    def stats(self, request: Request) -> GaussianStats:
        try:
            return GaussianStats.load_npz(self.path)
        except (OSError, ValueError, KeyError) as exc:
            raise SourceError(
                f"{self.path}: not FID statistics (need mu and sigma): {exc}"
            ) from None


def image_batches(files: list[Path], batch_size: int) -> Iterator[torch.Tensor]:
    """Consecutive files stacked into uint8 batches of one shape each (sizes may differ)."""
    batch: list[torch.Tensor] = []
    for path in files:
        image = read_image(path)
        if batch and (len(batch) == batch_size or image.shape != batch[0].shape):
            yield torch.stack(batch)
            batch = []
        batch.append(image)
    if batch:
        yield torch.stack(batch)


@dataclass(frozen=True)
class ImageFolder:
    path: Path

    @property
    def label(self) -> str:
        return str(self.path)

    def files(self) -> list[Path]:
        return list_images(self.path)

    def stats(self, request: Request) -> GaussianStats:
        files = self.files()[: request.samples]
        if len(files) < 2:
            raise SourceError(
                f"{self.path}: FID needs at least 2 PNG/JPEG images, found {len(files)}"
            )
        return stats_of_batches(
            image_batches(files, request.batch_size),
            request.extractor(),
            total=len(files),
            progress=request.progress,
            desc=f"FID {self.path.name}",
        )


@dataclass(frozen=True)
class DatasetSplit:
    data_cfg: DataConfig
    split: FIDSplit

    @property
    def label(self) -> str:
        return f"{self.data_cfg.dataset}:{self.split}"

    def stats(self, request: Request) -> GaussianStats:
        return reference_stats(
            self.data_cfg,
            self.split,
            request.samples,
            request.extractor(),
            request.cache_dir,
            batch_size=request.batch_size,
            progress=request.progress,
        )


def parse_source(text: str, *, data_root: str | None = None) -> Source:
    """A ``.npz`` file, a folder, or ``dataset:split``; :class:`SourceError` otherwise."""
    path = Path(text).expanduser()
    if path.suffix == ".npz":
        if not path.is_file():
            raise SourceError(f"{text}: no such statistics file")
        return StatsFile(path)
    if path.is_dir():
        return ImageFolder(path)
    name, _, split = text.partition(":")
    if name in DATASETS.names():
        if split not in SPLITS:
            raise SourceError(
                f"{text}: name a split after the dataset: "
                + ", ".join(f"{name}:{s}" for s in SPLITS)
            )
        cls = DATASETS.get(name)
        fields = {"root": data_root} if data_root and "root" in cls.model_fields else {}
        try:
            data_cfg = cls(**fields)
        except ValidationError:
            raise SourceError(
                f"{text}: {name} has no default location; give its folder of images instead"
            ) from None
        problem = data_cfg.missing()
        if problem is not None:
            raise SourceError(f"{text}: {problem}")
        return DatasetSplit(data_cfg, cast(FIDSplit, split))
    if path.exists():
        raise SourceError(f"{text}: not a folder of images or a .npz of statistics")
    datasets = ", ".join(f"{n}:test" for n in DATASETS.names())
    raise SourceError(
        f"{text}: unknown FID source: no such folder or .npz file, and not a dataset with a "
        f"split ({datasets}, ...)"
    )
