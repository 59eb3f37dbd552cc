"""Train one data-space generator trial (the Run-Sort-ReRun toy, RSR §3.1 and Figure 1).

noise N(0, I) -> G -> samples, trained with ``mean_l W_p^p`` against real samples, under
``minibatch`` (n generated vs n real per step) or ``run_sort_rerun`` (b vs b, chunks of m).
BatchNorm runs on running statistics (updated once per step), as in the authors' toy. Every
evaluation logs ``w1_to_target`` (1-D Wasserstein distance of generated samples to the test
split) and, for 1-D data, a histogram of generated vs target samples as a PNG. The steps are
each strategy's ``generator`` role (``aesweep/strategies/<kind>/generator.py``); the epoch
loop, divergence, checkpoints and records are the autoencoders' (:mod:`.epochs`, :mod:`.state`).
"""

from __future__ import annotations

import io
import math
from functools import partial

import torch

from aesweep.config.trial import TrialConfig, TrialPayload
from aesweep.data.config import GaussianMixtureConfig
from aesweep.data.loading import load_dataset
from aesweep.distances import random_directions, sliced_wasserstein, wasserstein_1d
from aesweep.models.generator.config import GeneratorConfig
from aesweep.models.generator.model import Generator
from aesweep.models.loading import build_model
from aesweep.strategies.loading import build_generator_strategy
from aesweep.tracking.store import TrialRun
from aesweep.trainables.checkpoints import restore_folder
from aesweep.trainables.epochs import Member, train_epochs
from aesweep.trainables.optimizers import build_optimizer, pick_device
from aesweep.trainables.reporting import Reporter
from aesweep.trainables.state import ModuleTrainer, TrialState

LR_MIN = 1e-7  # the authors' CosineAnnealingLR eta_min
EVAL_SEED = 0


@torch.no_grad()
def generate(gen: Generator, n: int) -> torch.Tensor:
    """n samples from fixed noise (seeded apart from training's RNG), in eval mode."""
    was_training = gen.training
    gen.eval()
    try:
        device = gen.param_device()
        g = torch.Generator(device=device).manual_seed(EVAL_SEED)
        return gen(torch.randn(n, gen.latent_dim, generator=g, device=device))
    finally:
        gen.train(was_training)


def w1_to_target(fake: torch.Tensor, test: torch.Tensor) -> float:
    """W1 between generated samples and the test split (1-D), or the sliced W1 over fixed
    directions for data of higher dimension."""
    f, t = fake.flatten(1).double(), test.flatten(1).double()
    if f.shape[1] == 1:
        return float(wasserstein_1d(f[:, 0], t[:, 0], p=1))
    g = torch.Generator().manual_seed(EVAL_SEED)
    theta = random_directions(100, f.shape[1], generator=g, dtype=f.dtype, device=f.device)
    return float(sliced_wasserstein(f, t, projections=theta, p=1))


def histogram_png(fake: torch.Tensor, target: torch.Tensor, title: str) -> bytes:
    """Overlaid density histograms of generated and target 1-D samples, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f, t = fake.flatten().cpu().numpy(), target.flatten().cpu().numpy()
    lo, hi = min(f.min(), t.min()), max(f.max(), t.max())
    pad = 0.05 * (hi - lo) + 1e-6
    bins = torch.linspace(float(lo - pad), float(hi + pad), 101).tolist()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.hist(t, bins=bins, density=True, alpha=0.5, label="target (test split)")
    ax.hist(f, bins=bins, density=True, alpha=0.5, label="generated")
    ax.set_title(title)
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def modes_recovered(
    samples: torch.Tensor, means: tuple[float, ...], std: float, min_share: float = 0.5
) -> int:
    """How many components of a 1-D equal-weight Gaussian mixture the samples cover: a mode
    counts when at least ``min_share`` of its weight 1/K of the samples lies within its window,
    3 std around its mean or up to half the gap to the nearest other mean (RSR Figure 1: plain
    minibatch(4) collapses modes, Run-Sort-ReRun recovers all four)."""
    x = samples.flatten().double()
    found = 0
    for i, mean in enumerate(means):
        gaps = [abs(mean - other) / 2 for j, other in enumerate(means) if j != i]
        half = min([3 * std, *gaps])
        share = float(((x - mean).abs() < half).double().mean())
        found += share >= min_share / len(means)
    return found


def evaluate_generator(
    gen: Generator,
    test: torch.Tensor,
    cfg: GeneratorConfig,
    run: TrialRun,
    mixture: GaussianMixtureConfig | None,
    epoch: int,
) -> dict[str, float]:
    """``w1_to_target`` on the test split; for 1-D data also the histogram PNG, and for the
    Gaussian-mixture target ``modes_recovered`` of its components."""
    metrics = {"w1_to_target": w1_to_target(generate(gen, len(test)), test)}
    if math.isfinite(metrics["w1_to_target"]) and test[0].numel() == 1:
        fake = generate(gen, cfg.histogram_samples)
        title = f"epoch {epoch}: W1 to target {metrics['w1_to_target']:.4f}"
        if mixture is not None:
            metrics["modes_recovered"] = float(modes_recovered(fake, mixture.means, mixture.std))
            title += f", {metrics['modes_recovered']:g} of {len(mixture.means)} modes"
        run.log_png(histogram_png(fake, test, title), f"histograms/epoch_{epoch:04d}.png")
    return metrics


def train_generator(
    cfg: TrialConfig, payload: TrialPayload, reporter: Reporter, run: TrialRun
) -> str:
    """One generator trial; returns ``finished`` or ``diverged``."""
    assert isinstance(cfg.model, GeneratorConfig)
    torch.manual_seed(cfg.seed)
    device = pick_device(payload.use_gpu)
    data = load_dataset(cfg.data).to(device)
    built = build_model(cfg.model, data)
    if not isinstance(built, Generator):
        raise TypeError(f"{cfg.model.family} is not the data-space generator family")
    gen = built.to(device)
    optimizer = build_optimizer(cfg.optimizer, gen.parameters())
    iterations = cfg.model.iterations_per_epoch
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=cfg.epochs * iterations, eta_min=LR_MIN
        )
        if cfg.model.cosine_annealing
        else None
    )
    strategy = build_generator_strategy(
        cfg.strategy,
        gen,
        data.train,
        epochs=cfg.epochs,
        after_step=None if scheduler is None else scheduler.step,
    )
    trainer = ModuleTrainer(
        cfg.trial_id,
        TrialState(gen, optimizer, strategy, scheduler),
        data.train,
        base_lr=cfg.optimizer.lr,
        schedule=cfg.optimizer.schedule,
    )
    mixture = cfg.data if isinstance(cfg.data, GaussianMixtureConfig) else None
    evaluate = partial(evaluate_generator, gen, data.test, cfg.model, run, mixture)
    with restore_folder(reporter, payload.resume_from, [cfg.trial_id], [run]) as folder:
        outcomes = train_epochs(
            trainer,
            [Member(cfg, run, evaluate)],
            reporter=reporter,
            restore=folder,
            checkpoint_id=cfg.trial_id,
            log_lr=trainer.current_lr,
        )
    return outcomes[cfg.trial_id]
