"""Test-split metrics of a stage-1 autoencoder, as MoW reports them (Table 1 columns), and of
its samplers.

rec_error: mean over all test images of the per-image sum of squared pixel errors (no sqrt).
The latent distances follow MoW's evaluator: ``evaluation.latent_samples`` (2,000) test images
drawn at random without replacement (MNIST's first 5,000 test images come from another writer
pool, so the first images in order are a biased subset), from a generator seeded from
``seed``, so every evaluation and every rerun uses the same subsets:

- wae_distance: the multi-scale IMQ MMD as a U-statistic (diagonal-free self terms, REFERENCE
  "Distances"; can be negative) of the first subset's latents against a prior sample, averaged
  over ``evaluation.mmd_draws`` (3) prior draws;
- sw_distance: SW² of the same latents against the same prior draws (averaged), 50 fixed
  directions;
- cw_distance: the Cramér-Wold distance to N(0, I), averaged over ``evaluation.cw_subsets`` (5)
  subsets;
- latent_isotropy: the effective rank of the same subset's singular values over the latent
  dimension (MoCA Figure 5 as one number: 1 for a flat spectrum; the paper uses 10,000
  training images);
- cost = rec_error + log(the distance the family regularises; CW for a family without one),
  and MoW's table costs ``cost_wae``, ``cost_mmd``, ``cost_cw`` (aesweep.config.costs; a log
  takes a distance of at least 1e-4).

Samplers (``x = decode(latent)``; the prior's, and the Latent Trick's G(ε) in stage 2, whose
metrics carry the prefix ``lt_``): sample_cw, the two-sample Cramér-Wold distance (LCW paper)
between as many decoded samples as test images used and those test images (the first random
subset, as for the latent distances), γ by Silverman from those test pixels' σ; fid, the
standard Inception FID (aesweep.fid) of ``evaluation.fid.samples`` decoded samples against the
reference split, when the spec asks.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from aesweep.config.costs import cost_metrics
from aesweep.config.evaluation import EvaluationConfig
from aesweep.config.metrics import OPTIONAL_SAMPLER_METRICS as OPTIONAL_SAMPLER_METRICS
from aesweep.config.metrics import SAMPLER_METRICS as SAMPLER_METRICS
from aesweep.distances import (
    cw_distance,
    cw_normality,
    cw_normality_supported,
    latent_isotropy,
    mmd_imq,
    random_directions,
    silverman_gamma,
    sliced_wasserstein,
)
from aesweep.models.base import AutoencoderModel

SW_DIRECTIONS = 50
EVAL_SEED = 0
SUBSET_SEED = 1000
"""Added to the trial's seed for the test subsets (EVAL_SEED + seed: the prior draws)."""
# SAMPLER_METRICS (what evaluate_sampler always measures, without prefix) and
# OPTIONAL_SAMPLER_METRICS (with evaluation.fid) are defined with every logged metric's name in
# aesweep/config/metrics.py, where plan checks selection.metric against them.
FIDScore = Callable[[torch.Tensor], float]
"""(N, C, H, W) images in [0, 1] -> FID against the trial's reference (aesweep.fid)."""

LatentSampler = Callable[[int, torch.Generator], torch.Tensor]
"""``(n, generator) -> (n, latent_dim)`` latents to decode (seeded: the same every epoch)."""


def distance_subsets(n_test: int, size: int, count: int, seed: int) -> list[torch.Tensor]:
    """``count`` random subsets of ``min(size, n_test)`` test indices (each without
    replacement), from a CPU generator seeded with ``seed``: the same on every device."""
    g = torch.Generator().manual_seed(SUBSET_SEED + seed)
    return [torch.randperm(n_test, generator=g)[: min(size, n_test)] for _ in range(count)]


def evaluation_subset(n_test: int, cfg: EvaluationConfig, seed: int) -> torch.Tensor:
    """The test indices the sample metrics compare with: the first distance subset."""
    return distance_subsets(n_test, cfg.latent_samples, 1, seed)[0]


@torch.no_grad()
def evaluate_autoencoder(
    model: AutoencoderModel,
    test: torch.Tensor,
    cfg: EvaluationConfig,
    fid: FIDScore | None = None,
    *,
    seed: int = 0,
) -> dict[str, float]:
    """The module's metrics; ``seed`` seeds the test subsets and prior draws (MoW's evaluator:
    module docstring)."""
    was_training = model.training
    model.eval()
    try:
        rec_sum = test.new_zeros((), dtype=torch.float64)
        latents = []
        for start in range(0, len(test), cfg.batch_size):
            x = test[start : start + cfg.batch_size]
            z_batch = model.encode(x)
            latents.append(z_batch.float())
            rec_sum += (x - model.decode(z_batch)).pow(2).flatten(1).sum(1).double().sum()
        z_all = torch.cat(latents)
        subsets = distance_subsets(len(z_all), cfg.latent_samples, max(cfg.cw_subsets, 1), seed)
        z = z_all[subsets[0].to(z_all.device)]
        g = torch.Generator(device=z.device).manual_seed(EVAL_SEED + seed)
        c_base = model.prior.imq_c_base(z.shape[1])
        directions = random_directions(SW_DIRECTIONS, z.shape[1], generator=g, device=z.device)
        mmd, sw = [], []
        for _ in range(cfg.mmd_draws):
            prior = model.sample_prior(len(z), device=z.device, generator=g)
            mmd.append(mmd_imq(z, prior, c_base=c_base, unbiased=True))
            sw.append(sliced_wasserstein(z, prior, projections=directions))
        values = {
            "rec_error": rec_sum / len(test),
            "wae_distance": torch.stack(mmd).mean(),
            "sw_distance": torch.stack(sw).mean(),
            "latent_isotropy": latent_isotropy(z),
        }
        if cw_normality_supported(z.shape[1]):
            cw = [cw_normality(z_all[idx.to(z_all.device)]) for idx in subsets[: cfg.cw_subsets]]
            values["cw_distance"] = torch.stack(cw).mean()
        out = {k: float(v) for k, v in values.items()}
        out.update(
            evaluate_sampler(model, model_prior_sampler(model), test, cfg, fid=fid, seed=seed)
        )
    finally:
        model.train(was_training)
    # The family's kind (aesweep.config.distances) names the distance ``cost`` takes.
    out.update(cost_metrics(out, model.cfg.distance.cost_metric))
    return out


def model_prior_sampler(model: AutoencoderModel) -> LatentSampler:
    """The prior sampler: z ~ N(0, I) (or its projection onto the sphere)."""
    return lambda n, generator: model.sample_prior(n, generator=generator)


@torch.no_grad()
def evaluate_sampler(
    model: AutoencoderModel,
    sampler: LatentSampler,
    test: torch.Tensor,
    cfg: EvaluationConfig,
    prefix: str = "",
    *,
    fid: FIDScore | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Sample-quality metrics of ``x = model.decode(sampler(n))`` against n test samples
    (n = min(latent_samples, test size): the first random subset of ``distance_subsets`` for
    ``seed``, so in-order writer pools do not bias it); the same seeded draw at every call.
    With ``fid``,
    also the FID of ``evaluation.fid.samples`` decoded samples (``{prefix}fid``, its time in
    ``{prefix}fid_seconds``). Adds ``{prefix}sample_seconds``."""
    t0 = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        real = test[evaluation_subset(len(test), cfg, seed).to(test.device)]
        n = len(real)
        g = torch.Generator(device=real.device).manual_seed(EVAL_SEED + 1)
        latents = sampler(n, g)
        fake = torch.cat(
            [model.decode(latents[s : s + cfg.batch_size]) for s in range(0, n, cfg.batch_size)]
        )
        out: dict[str, float] = {}
        dim = real[0].numel()
        sigma = float(real.std())
        if cw_normality_supported(dim) and n > 1 and sigma > 0:
            gamma = silverman_gamma(sigma, n)
            out["sample_cw"] = float(cw_distance(fake.float(), real.float(), gamma=gamma))
        if fid is not None and cfg.fid is not None:
            t1 = time.perf_counter()
            out["fid"] = fid(decode_samples(model, sampler, cfg.fid.samples, cfg.batch_size, real))
            out["fid_seconds"] = time.perf_counter() - t1
    finally:
        model.train(was_training)
    out["sample_seconds"] = time.perf_counter() - t0
    return {f"{prefix}{k}": v for k, v in out.items()}


def decode_samples(
    model: AutoencoderModel,
    sampler: LatentSampler,
    n: int,
    batch_size: int,
    like: torch.Tensor,
) -> torch.Tensor:
    """``n`` decoded samples in [0, 1] from a seeded draw of its own (the FID sample)."""
    g = torch.Generator(device=like.device).manual_seed(EVAL_SEED + 2)
    latents = sampler(n, g)
    parts = [model.decode(latents[s : s + batch_size]) for s in range(0, n, batch_size)]
    return torch.cat(parts).float().clamp_(0.0, 1.0)
