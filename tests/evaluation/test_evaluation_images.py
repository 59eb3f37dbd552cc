"""Image grids (aesweep/trainables/images.py): each cell of a decoded PNG is checked against the
model's own output, placed where a grid of ``nrow`` cells with 2-pixel padding puts it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aesweep.config.models import LatentTrickConfig
from aesweep.config.trial import trial_id
from aesweep.data.loading import load_dataset
from aesweep.models.latent_trick.model import LatentGenerator
from aesweep.models.loading import build_model
from aesweep.sweeps.load import load_plan
from aesweep.trainables import images
from tests.evaluation.conftest import open_png, sweep_spec

PAD = 2


@pytest.fixture(scope="module")
def trial_model(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("images")
    path = root / "spec.yaml"
    import yaml

    path.write_text(yaml.safe_dump(sweep_spec(f"sqlite:///{root / 'x.db'}", root)))
    _, trials = load_plan(path)
    cfg = trials[0]
    data = load_dataset(cfg.data)
    torch.manual_seed(0)
    model = build_model(cfg.model, data).eval()
    return cfg, data, model


def cell(png: bytes, row: int, col: int, size: int) -> np.ndarray:
    """The (size x size) RGB cell at (row, col) of a grid PNG (2-pixel padding)."""
    pixels = np.asarray(open_png(png).convert("RGB"))
    top, left = PAD + row * (size + PAD), PAD + col * (size + PAD)
    return pixels[top : top + size, left : left + size]


def expected(image: torch.Tensor, scale: int) -> np.ndarray:
    """A (1, H, W) image in [0, 1] as the grid shows it: enlarged, grey in RGB, 8-bit."""
    x = image.clamp(0, 1).repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    grey = (x[0] * 255).round().to(torch.uint8).numpy()
    return np.stack([grey] * 3, axis=-1)


def assert_cell(png: bytes, row: int, col: int, image: torch.Tensor) -> None:
    scale = math.ceil(images.MIN_CELL / image.shape[-1])
    got = cell(png, row, col, image.shape[-1] * scale).astype(int)
    assert np.abs(got - expected(image, scale).astype(int)).max() <= 1, (row, col)


def test_image_data_means_grey_or_rgb_and_at_least_8_pixels() -> None:
    assert images.is_image_data(torch.zeros(2, 1, 8, 8))
    assert images.is_image_data(torch.zeros(2, 3, 32, 32))
    assert not images.is_image_data(torch.zeros(2, 1))  # the 1-D generator family
    assert not images.is_image_data(torch.zeros(2, 2, 8, 8))
    assert not images.is_image_data(torch.zeros(2, 1, 4, 8))


def test_the_fixed_draw_depends_on_the_sweep_only() -> None:
    assert images.sweep_seed("mow-mnist") == images.sweep_seed("mow-mnist")
    assert images.sweep_seed("mow-mnist") != images.sweep_seed("mow-mnist2")
    assert images.sweep_seed("a", 0) != images.sweep_seed("a", 1)
    a = torch.randn(4, 8, generator=images.fixed_generator("s"))
    b = torch.randn(4, 8, generator=images.fixed_generator("s"))
    assert torch.equal(a, b)


def test_samples_decode_the_sweeps_fixed_prior_draw(trial_model) -> None:
    cfg, _, model = trial_model
    pngs = images.evaluation_pngs(model, load_dataset(cfg.data).test, cfg.sweep)
    z = model.sample_prior(images.SAMPLES, generator=images.fixed_generator(cfg.sweep))
    with torch.no_grad():
        decoded = model.decode(z)
    png = pngs["samples"]
    side = images.NROW * (32 + PAD) + PAD  # 8x8 digits enlarged to 32 pixels
    assert open_png(png).size == (side, side)
    for i in (0, 9, 63):
        assert_cell(png, i // images.NROW, i % images.NROW, decoded[i])
    # Another trial of the same sweep decodes the same z; another sweep another z.
    again = images.evaluation_pngs(model, load_dataset(cfg.data).test, cfg.sweep)
    assert again["samples"] == png
    other = images.evaluation_pngs(model, load_dataset(cfg.data).test, "another-sweep")
    assert other["samples"] != png


def test_reconstructions_odd_rows_real_even_rows_reconstructed(trial_model) -> None:
    _, data, model = trial_model
    x = data.test[:20]  # 2 whole rows of 8; the last 4 left out
    png = images.reconstructions_png(model, x)
    with torch.no_grad():
        x_hat = model.decode(model.encode(x))
    assert open_png(png).size[1] == 4 * (32 + PAD) + PAD
    for i in (0, 7, 8, 15):
        row, col = 2 * (i // 8), i % 8
        assert_cell(png, row, col, x[i])  # rows 1, 3 (1-based): real
        assert_cell(png, row + 1, col, x_hat[i])  # rows 2, 4: their reconstructions


def test_interpolations_run_from_one_test_image_to_the_other(trial_model) -> None:
    _, data, model = trial_model
    a, b = data.test[:3], data.test[3:6]
    steps = 5
    png = images.interpolations_png(model, a, b, steps)
    with torch.no_grad():
        za, zb = model.encode(a), model.encode(b)
        for k, t in enumerate([0.0, 0.25, 0.5, 0.75, 1.0]):
            decoded = model.decode((1 - t) * za + t * zb)
            for pair in range(3):
                assert_cell(png, pair, k + 1, decoded[pair])
    for pair in range(3):
        assert_cell(png, pair, 0, a[pair])
        assert_cell(png, pair, steps + 1, b[pair])


def test_latent_trick_rows_linear_in_latent_then_through_g(trial_model) -> None:
    """LCW Figure 7: D(lerp(G(ε₁), G(ε₂))) above D(G(lerp(ε₁, ε₂)))."""
    _, _, model = trial_model
    torch.manual_seed(1)
    gen = LatentGenerator(LatentTrickConfig(hidden=16, layers=2, noise_dim=4), 8).eval()
    eps_a, eps_b = torch.randn(2, 4), torch.randn(2, 4)
    png = images.latent_trick_interpolations_png(model, gen, eps_a, eps_b, steps=3)
    with torch.no_grad():
        for k, t in enumerate([0.0, 0.5, 1.0]):
            linear = model.decode((1 - t) * gen(eps_a) + t * gen(eps_b))
            density = model.decode(gen((1 - t) * eps_a + t * eps_b))
            for pair in range(2):
                assert_cell(png, 2 * pair, k, linear[pair])
                assert_cell(png, 2 * pair + 1, k, density[pair])
    out = images.latent_trick_pngs(model, gen, 4, "s")
    assert set(out) == {"lt_samples", "lt_interpolations"}
    grid_of_64 = images.samples_png(model, torch.zeros(64, 8))
    assert open_png(out["lt_samples"]).size == open_png(grid_of_64).size


def test_images_due_and_spec_fields_keep_trial_ids(write_spec, tmp_path) -> None:
    spec = sweep_spec(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    _, trials = load_plan(write_spec(spec))
    cfg = trials[0]
    assert "images" not in cfg.resolved()["evaluation"]  # defaults: ids as before the field
    assert cfg.trial_id == trial_id(cfg.resolved())
    assert all(images.images_due(cfg, e) for e in (1, 2))
    spec["evaluation"].update({"images_every": 5})
    spec["epochs"] = 12
    _, trials = load_plan(write_spec(spec))
    due = [e for e in range(1, 13) if images.images_due(trials[0], e)]
    assert due == [5, 10, 12]
    assert trials[0].resolved()["evaluation"]["images_every"] == 5
    spec["evaluation"].update({"images": False})
    _, trials = load_plan(write_spec(spec))
    assert not any(images.images_due(trials[0], e) for e in range(1, 13))
    assert trials[0].trial_id != cfg.trial_id
