"""Test-split metrics of a stage-1 autoencoder, as MoW reports them (Table 1 columns).

rec_error: mean over test images of the per-image sum of squared pixel errors (no sqrt);
cw_distance: Cramér-Wold distance of test latents to N(0, I); wae_distance: the V-statistic
IMQ MMD against a prior sample (non-negative, so its log exists); cost = rec_error +
log(distance the family regularises; CW for a family without one).
"""

from __future__ import annotations

import math

import torch

from aesweep.distances import cw_normality, cw_normality_supported, mmd_imq
from aesweep.models.base import AutoencoderModel
from aesweep.sweeps.spec import EvaluationConfig

COST_DISTANCE = {"mmd": "wae_distance", "cw": "cw_distance", None: "cw_distance"}


@torch.no_grad()
def evaluate_autoencoder(
    model: AutoencoderModel, test: torch.Tensor, cfg: EvaluationConfig
) -> dict[str, float]:
    was_training = model.training
    model.eval()
    try:
        rec_sum = test.new_zeros((), dtype=torch.float64)
        for start in range(0, len(test), cfg.batch_size):
            x = test[start : start + cfg.batch_size]
            x_hat = model.decode(model.encode(x))
            rec_sum += (x - x_hat).pow(2).flatten(1).sum(1).double().sum()
        z = torch.cat(
            [
                model.encode(test[s : s + cfg.batch_size])
                for s in range(0, min(len(test), cfg.latent_samples), cfg.batch_size)
            ]
        )[: cfg.latent_samples].float()
        g = torch.Generator(device=z.device).manual_seed(0)
        prior = torch.randn(z.shape, generator=g, device=z.device)
        if model.cfg.prior == "sphere":
            prior = torch.nn.functional.normalize(prior, dim=1)
        c_base = 2.0 if model.cfg.prior == "sphere" else 2.0 * z.shape[1]
        values = {
            "rec_error": rec_sum / len(test),
            "wae_distance": mmd_imq(z, prior, c_base=c_base, unbiased=False),
        }
        if cw_normality_supported(z.shape[1]):
            values["cw_distance"] = cw_normality(z)
        out = {k: float(v) for k, v in values.items()}
    finally:
        model.train(was_training)
    distance = out.get(COST_DISTANCE.get(model.cfg.distance, "cw_distance"))
    if distance is not None:
        out["cost"] = out["rec_error"] + (math.log(distance) if distance > 0 else -math.inf)
    return out
