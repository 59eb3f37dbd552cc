"""Preprocessing (8-bit quantisation, TF1 bilinear resize to 299, grey to RGB), the moment
accumulator, the .npz statistics and the spec's ``evaluation.fid`` (no network forward here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aesweep.config.evaluation import FIDConfig
from aesweep.fid.features import quantize, tf1_bilinear_matrix
from aesweep.fid.stats import GaussianStats, MomentAccumulator
from aesweep.sweeps.spec import EvaluationConfig, SweepSpec


def _tf1_resize_by_grid_sample(x: torch.Tensor, size: int) -> torch.Tensor:
    """TF1 resize_bilinear (src = dst * in/out, edges clamped) through grid_sample."""
    h, w = x.shape[-2:]
    ys = torch.arange(size, dtype=torch.float64) * h / size
    xs = torch.arange(size, dtype=torch.float64) * w / size
    gy = (2 * ys + 1) / h - 1  # pixel coordinate -> grid_sample's [-1, 1] (align_corners=False)
    gx = (2 * xs + 1) / w - 1
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)[None]
    return F.grid_sample(
        x.double(), grid.expand(len(x), -1, -1, -1), "bilinear", "border", align_corners=False
    )


@pytest.mark.parametrize(("n_in", "n_out"), [(28, 299), (8, 299), (5, 12), (12, 5), (64, 299)])
def test_resize_matrix_is_tf1_bilinear(n_in: int, n_out: int) -> None:
    x = torch.rand(
        2, 1, n_in, n_in, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    rows = tf1_bilinear_matrix(n_in, n_out)
    got = rows @ x @ rows.T
    torch.testing.assert_close(got, _tf1_resize_by_grid_sample(x, n_out), rtol=0, atol=1e-12)


def test_doubling_interleaves_pixels_and_midpoints() -> None:
    m = tf1_bilinear_matrix(4, 8)
    v = torch.tensor([0.0, 4.0, 8.0, 20.0], dtype=torch.float64)
    assert (m @ v).tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 14.0, 20.0, 20.0]


def test_quantize_rounds_to_8_bits_and_clamps() -> None:
    x = torch.tensor([-0.1, 0.0, 0.2, 100.4 / 255, 100.6 / 255, 1.0, 1.3])
    assert quantize(x).tolist() == [0, 0, 51, 100, 101, 255, 255]
    u = torch.arange(256, dtype=torch.uint8)
    assert quantize(u) is u


def test_inception_input_from_grey_floats_and_uint8(fid_extractor) -> None:  # type: ignore[no-untyped-def]
    grey = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    pixels = fid_extractor.pixels(grey)
    assert pixels.shape == (3, 3, 299, 299) and pixels.dtype == torch.float32
    assert torch.equal(pixels[:, 0], pixels[:, 1]) and torch.equal(pixels[:, 0], pixels[:, 2])
    assert pixels.min() >= 0 and pixels.max() <= 255
    assert torch.equal(pixels, fid_extractor.pixels(quantize(grey)))
    rows = tf1_bilinear_matrix(28, 299)
    expected = rows @ quantize(grey)[:, 0].double() @ rows.T
    torch.testing.assert_close(pixels[:, 0].double(), expected, rtol=0, atol=1e-3)
    full = torch.randint(0, 256, (1, 3, 299, 299), dtype=torch.uint8)
    assert torch.equal(fid_extractor.pixels(full), full.float())
    with pytest.raises(ValueError, match="1 or 3"):
        fid_extractor.pixels(torch.rand(1, 2, 8, 8))


def test_moments_match_numpy_across_batches_with_a_large_offset() -> None:
    rng = np.random.default_rng(0)
    feats = 1e3 + rng.standard_normal((70, 6)) @ rng.standard_normal((6, 6))
    acc = MomentAccumulator()
    for start in range(0, 70, 32):
        acc.update(torch.from_numpy(feats[start : start + 32]))
    stats = acc.result()
    assert stats.n == 70
    np.testing.assert_allclose(stats.mu, feats.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.sigma, np.cov(feats, rowvar=False), rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="at least 2"):
        MomentAccumulator().result()


def test_npz_round_trip_is_atomic(tmp_path: Path) -> None:
    stats = GaussianStats(np.arange(3.0), np.eye(3) * 2, 5)
    stats.save_npz(tmp_path / "s.npz", note="x")
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]  # no temp file left
    back = GaussianStats.load_npz(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.sigma, stats.sigma)
    assert back.n == 5
    np.savez(tmp_path / "bad.npz", mu=np.zeros(3), sigma=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="do not fit"):
        GaussianStats.load_npz(tmp_path / "bad.npz")


def test_spec_fid_is_off_by_default_and_recorded_when_on() -> None:
    assert "fid" not in EvaluationConfig().model_dump()  # trial ids without FID unchanged
    spec = SweepSpec.model_validate(
        {
            "name": "f",
            "models": [{"family": "cwae"}],
            "evaluation": {"fid": {"samples": 500, "split": "test", "every": 5}},
        }
    )
    from aesweep.sweeps.plan import plan

    flat = plan(spec)[0].flat()
    assert flat["evaluation.fid.samples"] == 500
    assert flat["evaluation.fid.split"] == "test"
    with pytest.raises(ValueError, match="fid.split"):
        EvaluationConfig.model_validate({"fid": {"split": "valid"}})
    with pytest.raises(ValueError, match="extra"):
        EvaluationConfig.model_validate({"fid": {"sample": 10}})


def test_fid_is_due_every_n_epochs_and_after_the_last() -> None:
    assert [e for e in range(1, 8) if FIDConfig(every=3).is_due(e, 7)] == [3, 6, 7]
    assert [e for e in range(1, 8) if FIDConfig().is_due(e, 7)] == [7]
