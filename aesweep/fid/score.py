"""FID of generated images against cached reference statistics: what a trainable calls.

FID = ||μ_r - μ_g||² + Tr(Σ_r + Σ_g - 2 (Σ_r Σ_g)^½) over Inception pool features
(Heusel et al. 2017; REFERENCE.md "Fréchet distance"), via
:func:`aesweep.distances.frechet_distance`. The reference side is computed once per
(dataset, split, sample count, network) and cached; each call processes only the samples.
"""

from __future__ import annotations

from functools import cached_property

import torch

from aesweep.config.evaluation import FIDConfig
from aesweep.data.config import DataConfig
from aesweep.distances import frechet_distance
from aesweep.fid.features import Extractor, FeatureExtractor, get_extractor
from aesweep.fid.stats import GaussianStats, reference_stats, stats_of_images


def fid_from_stats(a: GaussianStats, b: GaussianStats) -> float:
    """The Fréchet distance of two feature Gaussians."""
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)


def fid_of_samples(
    images: torch.Tensor,
    reference: GaussianStats,
    extractor: Extractor,
    *,
    batch_size: int = 50,
    progress: bool | None = None,
) -> float:
    """FID of (N, C, H, W) images in [0, 1] against ``reference`` (N >= 2)."""
    samples = stats_of_images(
        images, extractor, batch_size=batch_size, progress=progress, desc="FID samples"
    )
    return fid_from_stats(reference, samples)


class FIDScorer:
    """``evaluation.fid`` of one trial: network and reference loaded on first use, then reused.

    ``scorer(images)`` returns the FID of ``images`` (give it ``cfg.samples`` of them) against
    the first ``cfg.samples`` images of ``cfg.split`` of the trial's dataset.
    """

    def __init__(
        self, cfg: FIDConfig, data_cfg: DataConfig, device: torch.device | str | None = None
    ) -> None:
        self.cfg = cfg
        self.data_cfg = data_cfg
        self.device = device

    @cached_property
    def extractor(self) -> FeatureExtractor:
        return get_extractor(self.cfg.weights, self.device, cache_dir=self.cfg.cache_dir)

    @cached_property
    def reference(self) -> GaussianStats:
        return reference_stats(
            self.data_cfg,
            self.cfg.split,
            self.cfg.samples,
            self.extractor,
            self.cfg.cache_dir,
            batch_size=self.cfg.batch_size,
        )

    def __call__(self, images: torch.Tensor, *, progress: bool | None = None) -> float:
        return fid_of_samples(
            images,
            self.reference,
            self.extractor,
            batch_size=self.cfg.batch_size,
            progress=progress,
        )
