"""FID with the real Inception on real digits: orderings that any working FID shows, and the
reference cache (second call extracts nothing; a corrupt file is recomputed).

With 16 images the covariances are rank 15 and FID is biased upwards, so the tests assert
orderings and ratios, never published values.
"""

from __future__ import annotations

import numpy as np
import pytest

from aesweep.config.evaluation import FIDConfig
from aesweep.data.config import DigitsConfig
from aesweep.fid.score import FIDScorer, fid_of_samples
from aesweep.fid.stats import reference_cache_path, reference_key, reference_stats
from tests.fid.conftest import N_IMAGES, CountingExtractor


@pytest.fixture(scope="module")
def sample_fids(fid_extractor, fid_reference, sample_sets) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return {
        name: fid_of_samples(images, fid_reference.stats, fid_extractor, batch_size=8)
        for name, images in sample_sets.items()
    }


def test_reference_extracts_each_image_once(fid_reference) -> None:  # type: ignore[no-untyped-def]
    assert fid_reference.extracted == N_IMAGES
    assert fid_reference.stats.n == N_IMAGES
    assert fid_reference.stats.mu.shape == (2048,)
    assert fid_reference.stats.sigma.shape == (2048, 2048)
    # pool features are averages of ReLU outputs: non-negative, not all zero
    assert fid_reference.stats.mu.min() >= 0 and fid_reference.stats.mu.max() > 0.1


def test_train_images_are_far_closer_than_noise_or_blur(sample_fids) -> None:  # type: ignore[no-untyped-def]
    fid = sample_fids
    assert 0 < fid["train"] < fid["blurred"] / 2, fid
    assert fid["train"] < fid["noise"] / 3, fid


def test_second_reference_call_hits_the_cache(fid_extractor, fid_reference) -> None:  # type: ignore[no-untyped-def]
    counting = CountingExtractor(fid_extractor)
    again = reference_stats(
        fid_reference.data_cfg, "test", N_IMAGES, counting, fid_reference.cache_dir
    )
    assert counting.calls == 0
    np.testing.assert_array_equal(again.mu, fid_reference.stats.mu)
    np.testing.assert_array_equal(again.sigma, fid_reference.stats.sigma)


def test_other_sample_count_or_split_is_another_cache_entry(fid_reference) -> None:  # type: ignore[no-untyped-def]
    key = reference_key(fid_reference.data_cfg, "test", N_IMAGES, "net")
    paths = {
        reference_cache_path(fid_reference.cache_dir, key),
        reference_cache_path(
            fid_reference.cache_dir,
            reference_key(fid_reference.data_cfg, "test", N_IMAGES + 1, "net"),
        ),
        reference_cache_path(
            fid_reference.cache_dir, reference_key(fid_reference.data_cfg, "train", N_IMAGES, "net")
        ),
        reference_cache_path(
            fid_reference.cache_dir, reference_key(fid_reference.data_cfg, "test", N_IMAGES, "x")
        ),
    }
    assert len(paths) == 4


def test_corrupt_cache_is_recomputed(fid_extractor, tmp_path) -> None:  # type: ignore[no-untyped-def]
    digits = DigitsConfig()  # loads in milliseconds; MNIST would be read twice here
    first = CountingExtractor(fid_extractor)
    stats = reference_stats(digits, "test", 2, first, tmp_path)
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(path.read_bytes()[:100])  # a truncated write
    second = CountingExtractor(fid_extractor)
    with pytest.warns(UserWarning, match="unreadable"):
        again = reference_stats(digits, "test", 2, second, tmp_path)
    assert first.images == second.images == 2
    np.testing.assert_allclose(again.mu, stats.mu, rtol=1e-6, atol=1e-7)
    third = CountingExtractor(fid_extractor)
    reference_stats(digits, "test", 2, third, tmp_path)
    assert third.calls == 0  # the rewritten file is whole again


def test_scorer_reuses_the_process_network_and_the_cached_reference(
    fid_extractor,
    fid_reference,  # type: ignore[no-untyped-def]
) -> None:
    cfg = FIDConfig(samples=N_IMAGES, split="test", cache_dir=str(fid_reference.cache_dir))
    scorer = FIDScorer(cfg, fid_reference.data_cfg, device="cpu")
    assert scorer.extractor is fid_extractor  # lru_cache: loaded once per process
    before = sorted(fid_reference.cache_dir.glob("*.npz"))
    np.testing.assert_array_equal(scorer.reference.mu, fid_reference.stats.mu)
    assert sorted(fid_reference.cache_dir.glob("*.npz")) == before
