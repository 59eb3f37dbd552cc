"""Image grids of a trial's evaluation, as PNG bytes (MoW Figure 2, LCW Figures 3, 5-7).

samples: D(z) for a fixed prior draw seeded from the sweep's name, so that every trial of a
sweep decodes the same z and the grids compare side by side; reconstructions: fixed test
images, odd rows real and even rows reconstructed; interpolations: decoded linear paths between
the latents of fixed test pairs, each row from one real image to the other. With the Latent
Trick (LCW, "Interpolations"): samples D(G(ε)) and, for fixed ε pairs, two rows each: the
GAN-like path D(lerp(G(ε₁), G(ε₂))) above the density-following D(G(lerp(ε₁, ε₂))).
Only image data (C in {1, 3}, H and W >= 8) gets grids; pixels are expected in [0, 1].
"""

from __future__ import annotations

import hashlib
import io
import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from aesweep.models.base import AutoencoderModel

if TYPE_CHECKING:
    from aesweep.config.trial import TrialConfig
    from aesweep.tracking.store import TrialRun

SAMPLES = 64  # an 8 x 8 grid
RECONSTRUCTIONS = 32  # 4 pairs of rows of 8
PAIRS = 8  # interpolation rows
STEPS = 8  # decoded points per interpolation path (end points included)
NROW = 8
MIN_CELL = 32  # smaller images are enlarged (nearest neighbour) to at least this many pixels
SEED_SALT = "aesweep.images"


def is_image_data(x: torch.Tensor) -> bool:
    """(N, C, H, W) with C grey or RGB and H, W >= 8: what an image grid can show."""
    return x.dim() == 4 and x.shape[1] in (1, 3) and min(x.shape[2:]) >= 8


def sweep_seed(sweep: str, stream: int = 0) -> int:
    """A seed derived from the sweep's name (``stream`` separates independent draws)."""
    digest = hashlib.sha256(f"{SEED_SALT}:{sweep}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % (2**63)


def fixed_generator(sweep: str, stream: int = 0) -> torch.Generator:
    """A CPU generator seeded from the sweep: the same draw on every device and trial."""
    return torch.Generator().manual_seed(sweep_seed(sweep, stream))


def png_grid(images: torch.Tensor, nrow: int) -> bytes:
    """``images`` (N, C, H, W) in [0, 1] as one PNG grid, ``nrow`` images per row, white
    padding; images smaller than ``MIN_CELL`` pixels are enlarged by an integer factor."""
    from PIL import Image
    from torchvision.utils import make_grid

    x = images.detach().float().cpu().clamp(0, 1)
    scale = max(1, math.ceil(MIN_CELL / min(x.shape[2:])))
    if scale > 1:
        x = F.interpolate(x, scale_factor=scale, mode="nearest")
    grid = make_grid(x, nrow=nrow, padding=2, pad_value=1.0)
    pixels = grid.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def lerp_rows(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """(P, D), (P, D) -> (P * steps, D): for each pair the ``steps`` points
    (1 - t) a + t b, t = 0 ... 1, one pair after the other."""
    t = torch.linspace(0, 1, steps, device=a.device, dtype=a.dtype).view(1, steps, 1)
    return ((1 - t) * a.unsqueeze(1) + t * b.unsqueeze(1)).flatten(0, 1)


@torch.no_grad()
def samples_png(model: AutoencoderModel, latents: torch.Tensor, nrow: int = NROW) -> bytes:
    """D(z) for the given latents."""
    return png_grid(model.decode(latents), nrow)


@torch.no_grad()
def reconstructions_png(model: AutoencoderModel, images: torch.Tensor, nrow: int = NROW) -> bytes:
    """Rows of ``nrow`` real images (odd rows) each followed by their reconstructions (even
    rows); images beyond a whole row are left out."""
    nrow = min(nrow, len(images))
    x = images[: len(images) - len(images) % nrow]
    x_hat = model.decode(model.encode(x))
    rows = torch.stack([x.unflatten(0, (-1, nrow)), x_hat.unflatten(0, (-1, nrow))], dim=1)
    return png_grid(rows.flatten(0, 2), nrow)


@torch.no_grad()
def interpolations_png(
    model: AutoencoderModel, a: torch.Tensor, b: torch.Tensor, steps: int = STEPS
) -> bytes:
    """One row per pair: the real a, D of ``steps`` points on the line from E(a) to E(b)
    (projected onto the prior's support, e.g. the sphere), the real b."""
    path = model.project_latent(lerp_rows(model.encode(a), model.encode(b), steps))
    decoded = model.decode(path).unflatten(0, (len(a), steps))
    rows = torch.cat([a.unsqueeze(1), decoded, b.unsqueeze(1)], dim=1)
    return png_grid(rows.flatten(0, 1), steps + 2)


@torch.no_grad()
def latent_trick_interpolations_png(
    model: AutoencoderModel,
    generator: nn.Module,
    eps_a: torch.Tensor,
    eps_b: torch.Tensor,
    steps: int = STEPS,
) -> bytes:
    """Two rows per noise pair (LCW Figure 7): D(lerp(G(ε₁), G(ε₂))), a straight line in the
    latent space, then D(G(lerp(ε₁, ε₂))), which follows the latent density."""
    linear = lerp_rows(generator(eps_a), generator(eps_b), steps)
    density = generator(lerp_rows(eps_a, eps_b, steps))
    rows = torch.stack(
        [
            model.decode(model.project_latent(linear)).unflatten(0, (len(eps_a), steps)),
            model.decode(model.project_latent(density)).unflatten(0, (len(eps_a), steps)),
        ],
        dim=1,
    )
    return png_grid(rows.flatten(0, 2), steps)


def evaluation_pngs(model: AutoencoderModel, test: torch.Tensor, sweep: str) -> dict[str, bytes]:
    """``{"samples", "reconstructions", "interpolations"}`` -> PNG of the model in eval mode,
    from the sweep's fixed prior draw and the first test images."""
    was_training = model.training
    model.eval()
    try:
        z = model.sample_prior(SAMPLES, generator=fixed_generator(sweep))
        pairs = min(PAIRS, len(test) // 2)
        out = {
            "samples": samples_png(model, z),
            "reconstructions": reconstructions_png(model, test[:RECONSTRUCTIONS]),
        }
        if pairs:
            out["interpolations"] = interpolations_png(model, test[:pairs], test[pairs : 2 * pairs])
        return out
    finally:
        model.train(was_training)


def latent_trick_pngs(
    model: AutoencoderModel, generator: nn.Module, noise_dim: int, sweep: str
) -> dict[str, bytes]:
    """``{"lt_samples", "lt_interpolations"}`` -> PNG of D(G(ε)), ε fixed by the sweep."""
    was = model.training, generator.training
    model.eval()
    generator.eval()
    try:
        device = next(generator.parameters()).device
        eps = torch.randn(SAMPLES + 2 * PAIRS, noise_dim, generator=fixed_generator(sweep, 1))
        eps = eps.to(device)
        with torch.no_grad():
            samples = model.decode(model.project_latent(generator(eps[:SAMPLES])))
        a, b = eps[SAMPLES : SAMPLES + PAIRS], eps[SAMPLES + PAIRS :]
        return {
            "lt_samples": png_grid(samples, NROW),
            "lt_interpolations": latent_trick_interpolations_png(model, generator, a, b),
        }
    finally:
        model.train(was[0])
        generator.train(was[1])


def artifact_path(kind: str, epoch: int) -> str:
    """Where an image of one evaluation goes in the trial's run: ``samples/epoch_0005.png``."""
    return f"{kind}/epoch_{epoch:04d}.png"


def images_due(cfg: TrialConfig, epoch: int) -> bool:
    """Whether the evaluation after ``epoch`` logs image grids (``evaluation.images``, every
    ``images_every`` epochs when set, and always after the last)."""
    ev = cfg.evaluation
    every = ev.images_every
    return ev.images and (every is None or epoch % every == 0 or epoch == cfg.epochs)


def log_evaluation_images(
    run: TrialRun, model: AutoencoderModel, test: torch.Tensor, cfg: TrialConfig, epoch: int
) -> None:
    """Log the evaluation's grids to the trial's run (image data only, when due)."""
    if not (is_image_data(test) and images_due(cfg, epoch)):
        return
    for kind, png in evaluation_pngs(model, test, cfg.sweep).items():
        run.log_png(png, artifact_path(kind, epoch))


def log_latent_trick_images(
    run: TrialRun,
    model: AutoencoderModel,
    generator: nn.Module,
    noise_dim: int,
    test: torch.Tensor,
    cfg: TrialConfig,
) -> None:
    """The hook for stage 2 (:mod:`aesweep.trainables.latent_generator`): D(G(ε)) samples and
    both interpolations, at step = the trial's last epoch."""
    if not (is_image_data(test) and cfg.evaluation.images):
        return
    for kind, png in latent_trick_pngs(model, generator, noise_dim, cfg.sweep).items():
        run.log_png(png, artifact_path(kind, cfg.epochs))
