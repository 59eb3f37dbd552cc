"""Image files on disk as a map-style torch Dataset: decode, centre-crop, resize, uint8 out.

The reader behind the streamed datasets (CelebA: 140x140 centre crop, then 64x64, as in
WAE §4 and the MoCA/RSR papers) and behind ``aesweep fid`` folders. Items stay uint8 so the
DataLoader workers ship 4x fewer bytes; the trial converts to float on its device.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from aesweep.data.config import IMAGE_SUFFIXES

GREY_MODES = frozenset({"1", "L", "LA"})


def list_images(folder: Path) -> list[Path]:
    """PNG/JPEG files under ``folder`` (recursively), in sorted path order."""
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )


def read_image(path: Path, channels: int | None = None) -> torch.Tensor:
    """(C, H, W) uint8. ``channels`` 1 or 3 converts; None keeps grey files grey (1 channel)
    and makes everything else RGB (alpha dropped)."""
    from PIL import Image

    with Image.open(path) as image:
        grey = image.mode in GREY_MODES if channels is None else channels == 1
        converted = image.convert("L" if grey else "RGB")
        pixels = torch.from_numpy(np.array(converted, dtype=np.uint8))
    return pixels.unsqueeze(0) if pixels.dim() == 2 else pixels.permute(2, 0, 1).contiguous()


class ImageFiles(torch.utils.data.Dataset[torch.Tensor]):
    """``files[i]`` decoded to (channels, size, size) uint8: centre crop of ``crop`` pixels
    (None: none), then an antialiased bilinear resize to ``size`` (None: keep)."""

    def __init__(
        self,
        files: Sequence[Path],
        channels: int,
        crop: int | None = None,
        size: int | None = None,
    ) -> None:
        self.files = list(files)
        self.channels, self.crop, self.size = channels, crop, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as F

        image = read_image(self.files[i], self.channels)
        if self.crop is not None:
            image = F.center_crop(image, [self.crop, self.crop])
        if self.size is not None and tuple(image.shape[1:]) != (self.size, self.size):
            image = F.resize(image, [self.size, self.size], antialias=True)
        return image

    def subset(self, files: Sequence[Path]) -> ImageFiles:
        return ImageFiles(files, self.channels, self.crop, self.size)
