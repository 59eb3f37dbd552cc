"""The CPU's default network (aesweep.fid.fast: the TorchScript rebuilt eager, batch norms
folded, channels-last) against the TorchScript as loaded, on real images."""

from __future__ import annotations

import torch

from aesweep.fid.fast import FoldedInception
from aesweep.fid.stats import split_images
from aesweep.fid.weights import FEATURE_DIM


def test_folded_network_is_the_cpu_default_and_keeps_the_features(
    fid_extractor,
    fid_data_cfg,  # type: ignore[no-untyped-def]
) -> None:
    assert isinstance(fid_extractor.forward, FoldedInception)
    images = split_images(fid_data_cfg, "test")[:6]
    with torch.inference_mode():
        plain = fid_extractor.net(fid_extractor.pixels(images)).reshape(-1, FEATURE_DIM)
    got = fid_extractor.features(images)
    assert got.shape == plain.shape == (6, FEATURE_DIM)
    assert plain.abs().max() > 0.1  # real activations, not an all-zero comparison
    assert (got - plain).abs().max().item() <= 1e-4
