"""A training split too large to hold in memory (CelebA), streamed through a DataLoader.

It answers what the strategies ask of an in-memory tensor: ``len``, rows by index
(``train[ix]``, for Run-Sort-ReRun's run and rerun and the generators' random draws) and an
epoch of batches in a given order (:func:`aesweep.strategies.base.epoch_batches`). Files are
decoded by ``workers`` persistent worker processes, ``prefetch`` batches ahead; batches come
back as float32 in [0, 1] on the trial's device (pinned and copied without blocking on a GPU).
The order is drawn by the trial's RNG, so a seeded trial sees the same batches as it would
from memory, and a resumed one the same as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Sampler

from aesweep.data.image_files import ImageFiles

RANDOM_CHUNK = 256
"""Rows a worker decodes at a time when ``train[ix]`` asks for many (FID's reference)."""


class _Chunks(Sampler[list[int]]):
    """A batch sampler whose batches are set before each pass (so the workers can persist)."""

    def __init__(self) -> None:
        self.chunks: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)


@dataclass
class _ChunkLoader:
    """One DataLoader over ``files`` that loads whichever index chunks it is handed."""

    files: ImageFiles
    workers: int
    prefetch: int
    pin: bool
    sampler: _Chunks = field(default_factory=_Chunks)
    loader: DataLoader[torch.Tensor] | None = None

    def load(self, chunks: Sequence[torch.Tensor]) -> Iterator[torch.Tensor]:
        if self.loader is None:
            self.loader = DataLoader(
                self.files,
                batch_sampler=self.sampler,
                num_workers=self.workers,
                pin_memory=self.pin,
                persistent_workers=self.workers > 0,
                prefetch_factor=self.prefetch if self.workers > 0 else None,
                # Its own generator: each pass seeds its workers from it, which would
                # otherwise draw from the trial's RNG and change every later random number.
                generator=torch.Generator(),
            )
        self.sampler.chunks = [c.tolist() for c in chunks]
        return iter(self.loader)


class StreamingImages:
    """Training images read from disk on demand; see the module docstring."""

    def __init__(
        self,
        files: ImageFiles,
        *,
        workers: int = 2,
        prefetch: int = 4,
        device: torch.device | str = "cpu",
    ) -> None:
        self.files = files
        self.workers, self.prefetch = workers, prefetch
        self.device = torch.device(device)
        pin = self.device.type == "cuda"
        # Two loaders: an epoch's batches and random access may interleave (a generator step
        # draws rows while an epoch is under way), and each loader serves one pass at a time.
        self._epoch = _ChunkLoader(files, workers, prefetch, pin)
        self._random = _ChunkLoader(files, workers, prefetch, pin)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self.files[0].shape))

    def dim(self) -> int:
        return 1 + self.files[0].dim()

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, non_blocking=True).float().div_(255.0)

    def batches(self, chunks: Sequence[torch.Tensor]) -> Iterator[torch.Tensor]:
        """The rows of each chunk of indices in turn, loaded ahead by the workers."""
        for x in self._epoch.load([c.cpu() for c in chunks]):
            yield self._to_device(x)

    def __getitem__(self, index: int | slice | torch.Tensor) -> torch.Tensor:
        """One image (int) or a batch of rows (slice or index tensor), float32 on the device."""
        if isinstance(index, int):
            return self._to_device(self.files[index])
        if isinstance(index, slice):
            index = torch.arange(len(self))[index]
        index = index.cpu()
        if len(index) == 0:
            return torch.empty((0, *self.shape[1:]), device=self.device)
        chunks = index.split(RANDOM_CHUNK)  # large requests spread over the workers
        return torch.cat([self._to_device(x) for x in self._random.load(chunks)])

    def to(self, device: torch.device | str) -> StreamingImages:
        return StreamingImages(
            self.files, workers=self.workers, prefetch=self.prefetch, device=device
        )

    def first(self, n: int | None) -> StreamingImages:
        """The first ``n`` files (all when None): ``data.train_size``."""
        if n is None or n >= len(self):
            return self
        return StreamingImages(
            self.files.subset(self.files.files[:n]),
            workers=self.workers,
            prefetch=self.prefetch,
            device=self.device,
        )
