"""Stage 2, the Latent Trick (LCW paper, "Latent Trick"): a latent generator G on a frozen
autoencoder.

Encode the training set once with the trained (frozen, eval-mode) encoder; train G: ε ~ N(0, I)
-> latent space to minimise the two-sample Cramér-Wold distance cw(G(ε), Z_batch; γ) (no log)
with Adam, γ = silverman_gamma(σ of the training latents, batch size) (LCW, "Cramer-Wold
distance"). Logged per stage-2 epoch (MLflow step = stage-2 epoch): ``lt_train_loss`` and
``lt_cw_distance`` = cw(G(ε), Z_test) on the test latents with a fixed ε. At the end, the
sampler x = D(G(ε)) is evaluated with every sampler metric, prefixed ``lt_`` (step = the
trial's last epoch, next to the prior sampler's). Stage 2 is short and not checkpointed: a trial
resumed after stage 1 runs it again from the start.

Every trial ends with ``gen_*``: the sampler metrics of the trial's own generator, D(G(ε)) with
the Latent Trick and D(z), z ~ prior, without; a spec that compares models with and without the
trick selects on them (LCW selects by the samples' quality).
"""

from __future__ import annotations

import math
import time

import torch

from aesweep.config.metrics import LATENT_TRICK_PREFIX as PREFIX
from aesweep.config.metrics import OPTIONAL_SAMPLER_METRICS, SAMPLER_METRICS
from aesweep.config.metrics import OWN_SAMPLER_PREFIX as GENERATOR_PREFIX
from aesweep.config.models import AutoencoderConfig, LatentTrickConfig
from aesweep.config.trial import TrialConfig
from aesweep.data.base import TensorDataset, TrainSplit
from aesweep.distances import cw_distance, silverman_gamma
from aesweep.models.base import AutoencoderModel
from aesweep.models.latent_trick.model import LatentGenerator
from aesweep.strategies.base import epoch_batches
from aesweep.tracking.store import TrialRun
from aesweep.trainables.evaluation import (
    EVAL_SEED,
    evaluate_sampler,
    evaluation_subset,
    model_prior_sampler,
)
from aesweep.trainables.fid_scoring import fid_scorer
from aesweep.trainables.images import log_latent_trick_images
from aesweep.trainables.reporting import Reporter

ALL_SAMPLER_METRICS = (*SAMPLER_METRICS, *OPTIONAL_SAMPLER_METRICS)


@torch.no_grad()
def encode_all(model: AutoencoderModel, x: TrainSplit, batch_size: int) -> torch.Tensor:
    """The frozen encoder's latents of ``x`` (eval mode: BatchNorm on running statistics)."""
    return torch.cat([model.encode(x[s : s + batch_size]) for s in range(0, len(x), batch_size)])


def stage_batch_size(lt: LatentTrickConfig, cfg: TrialConfig, n_train: int) -> int:
    """Latents per step: the config's, else the stage-1 strategy's images per step; at least
    2 (BatchNorm) and at most the training set."""
    wanted = lt.batch_size or max(2, cfg.strategy.images_per_step)
    return max(2, min(wanted, n_train))


class LatentTrick:
    """G, its optimiser and the fixed quantities of stage 2 (latents, bandwidths, eval noise)."""

    def __init__(self, model: AutoencoderModel, data: TensorDataset, cfg: TrialConfig) -> None:
        lt = cfg.model.latent_trick if isinstance(cfg.model, AutoencoderConfig) else None
        if lt is None:
            raise ValueError("the trial's model has no latent_trick")
        self.model, self.cfg, self.lt = model, cfg, lt
        model.eval()
        model.requires_grad_(False)
        batch = cfg.evaluation.batch_size
        self.z_train = encode_all(model, data.train, batch).float()
        subset = evaluation_subset(len(data.test), cfg.evaluation, cfg.seed).to(data.test.device)
        self.z_test = encode_all(model, data.test[subset], batch).float()
        self.batch = stage_batch_size(lt, cfg, len(self.z_train))
        sigma = float(self.z_train.std())
        self.gamma = silverman_gamma(sigma, self.batch)
        self.test_gamma = silverman_gamma(sigma, len(self.z_test))
        device = self.z_train.device
        self.generator = LatentGenerator(lt, cfg.model.latent_dim).to(device)
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=lt.lr)
        g = torch.Generator(device=device).manual_seed(EVAL_SEED + 2)
        self.test_noise = self.generator.sample_noise(len(self.z_test), generator=g)

    def latents(self, noise: torch.Tensor) -> torch.Tensor:
        """G(ε) as a latent of the model: onto the unit sphere for a sphere prior (MoCA), where
        the encoder's latents live, unchanged otherwise."""
        return self.model.project_latent(self.generator(noise))

    def train_epoch(self) -> float:
        """One pass over the shuffled training latents; the mean loss (one host sync)."""
        self.generator.train()
        total = self.z_train.new_zeros(())
        steps = 0
        for z in epoch_batches(self.z_train, self.batch):
            fake = self.latents(self.generator.sample_noise(len(z)))
            loss = cw_distance(fake, z, gamma=self.gamma)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.detach()
            steps += 1
        return float(total) / max(1, steps)

    @torch.no_grad()
    def test_distance(self) -> float:
        """cw(G(ε), Z_test; γ) with the fixed ε (eval mode)."""
        self.generator.eval()
        return float(cw_distance(self.latents(self.test_noise), self.z_test, gamma=self.test_gamma))

    def sample_latents(self, n: int, generator: torch.Generator) -> torch.Tensor:
        self.generator.eval()
        return self.latents(self.generator.sample_noise(n, generator=generator))


def train_latent_generator(
    model: AutoencoderModel, data: TensorDataset, cfg: TrialConfig, run: TrialRun
) -> dict[str, float]:
    """Run stage 2 and return the ``lt_`` sampler metrics (non-finite ones mean divergence:
    training stops at the first non-finite epoch and its metrics are returned)."""
    trick = LatentTrick(model, data, cfg)
    for epoch in range(1, trick.lt.epochs + 1):
        t0 = time.perf_counter()
        loss = trick.train_epoch()
        metrics = {
            f"{PREFIX}train_loss": loss,
            f"{PREFIX}epoch_seconds": time.perf_counter() - t0,
            f"{PREFIX}cw_distance": trick.test_distance(),
        }
        run.log_metrics(metrics, step=epoch)
        if not all(math.isfinite(v) for v in metrics.values()):
            return metrics
    log_latent_trick_images(run, model, trick.generator, trick.lt.noise_dim, data.test, cfg)
    fid = fid_scorer(cfg, data.test.device)
    final = evaluate_sampler(
        model, trick.sample_latents, data.test, cfg.evaluation, PREFIX, fid=fid, seed=cfg.seed
    )
    run.log_metrics(final, step=cfg.epochs)
    return {**final, f"{PREFIX}cw_distance": metrics[f"{PREFIX}cw_distance"]}


def finish_samplers(
    model: AutoencoderModel,
    data: TensorDataset,
    cfg: TrialConfig,
    run: TrialRun,
    reporter: Reporter,
    last_eval: dict[str, float],
) -> bool:
    """After stage 1: the Latent Trick if the model enables it, then the ``gen_`` metrics
    (step = the last epoch). ``last_eval``: the last stage-1 evaluation (empty when a resumed
    trial had none left to run). False if stage 2 diverged."""
    if isinstance(cfg.model, AutoencoderConfig) and cfg.model.latent_trick is not None:
        lt = train_latent_generator(model, data, cfg, run)
        if not all(math.isfinite(v) for v in lt.values()):
            return False
        own = {k: lt[PREFIX + k] for k in ALL_SAMPLER_METRICS if PREFIX + k in lt}
    else:
        if "sample_cw" not in last_eval:  # a resumed trial with no evaluation left to run
            last_eval = evaluate_sampler(
                model,
                model_prior_sampler(model),
                data.test,
                cfg.evaluation,
                fid=fid_scorer(cfg, data.test.device),
                seed=cfg.seed,
            )
        own = {k: last_eval[k] for k in ALL_SAMPLER_METRICS if k in last_eval}
        lt = {}
    generator = {GENERATOR_PREFIX + k: v for k, v in own.items()}
    run.log_metrics(generator, step=cfg.epochs)
    reporter.report({**lt, **generator, "epoch": cfg.epochs, "diverged": 0.0})
    return True
