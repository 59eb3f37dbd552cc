"""The latent distances as MoW's evaluator computes them: random seeded test
subsets, the WAE distance a U-statistic averaged over 3 prior draws, the CW distance averaged
over 5 subsets; the costs of MoW's tables (aesweep/config/costs.py). Checked against float64
brute-force formulas (REFERENCE.md "Distances")."""

from __future__ import annotations

import math

import torch

from aesweep.catalog import MODELS
from aesweep.config.costs import LOG_FLOOR
from aesweep.config.evaluation import EvaluationConfig
from aesweep.data.config import DigitsConfig
from aesweep.data.loading import load_dataset
from aesweep.distances import cw_distance, latent_isotropy, mmd_imq, silverman_gamma
from aesweep.models.base import AutoencoderModel
from aesweep.models.loading import build_model
from aesweep.trainables.evaluation import EVAL_SEED, distance_subsets, evaluate_autoencoder
from tests.strategies.strategy_helpers import cw_by_hand

SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def mmd_by_hand(x: torch.Tensor, y: torch.Tensor, c_base: float, *, unbiased: bool) -> float:
    """REFERENCE's multi-scale IMQ MMD in float64; U: self terms without the diagonal."""
    x, y = x.double(), y.double()
    n = len(x)
    dxx, dyy, dxy = (torch.cdist(a, b).pow(2) for a, b in ((x, x), (y, y), (x, y)))
    total = 0.0
    for s in SCALES:
        c = c_base * s
        kxx, kyy, kxy = (c / (c + d) for d in (dxx, dyy, dxy))
        if unbiased:
            off = ~torch.eye(n, dtype=torch.bool)
            self_terms = (kxx[off].sum() + kyy[off].sum()) / (n * (n - 1))
        else:
            self_terms = (kxx.sum() + kyy.sum()) / n**2
        total += float(self_terms - 2 * kxy.sum() / n**2)
    return total


def test_the_v_statistic_reads_high_by_about_0_0035_at_n_2000() -> None:
    """Latents exactly from the prior (d = 20, n = 2,000): the U-statistic is unbiased (mean
    over draws ~ 0), the V-statistic's bias ~0.0035 (published WAE distances: 0.008-0.014)."""
    g = torch.Generator().manual_seed(0)
    u, v = [], []
    for _ in range(3):
        z, p = torch.randn(2000, 20, generator=g), torch.randn(2000, 20, generator=g)
        u.append(float(mmd_imq(z.double(), p.double(), c_base=40.0, unbiased=True)))
        v.append(float(mmd_imq(z.double(), p.double(), c_base=40.0, unbiased=False)))
        assert math.isclose(v[-1], mmd_by_hand(z, p, 40.0, unbiased=False), rel_tol=1e-9)
    assert abs(sum(u) / 3) < 5e-4
    assert 0.0030 < sum(v) / 3 - sum(u) / 3 < 0.0040


def _model_and_test(family: str = "wae_mmd") -> tuple[AutoencoderModel, torch.Tensor]:
    torch.manual_seed(0)
    data = load_dataset(DigitsConfig(train_size=128, test_size=300))
    cfg = MODELS.get(family).model_validate({"family": family, "latent_dim": 8, "width": 0.25})
    return build_model(cfg, data), data.test


def test_distances_follow_mows_evaluator_against_brute_force() -> None:
    model, test = _model_and_test()
    cfg = EvaluationConfig(latent_samples=100, images=False)
    assert (cfg.mmd_draws, cfg.cw_subsets) == (3, 5)
    got = evaluate_autoencoder(model, test, cfg, seed=4)
    model.eval()
    with torch.no_grad():
        z_all = model.encode(test).float()
        x_hat = model.decode(model.encode(test))
    subsets = distance_subsets(len(test), 100, 5, seed=4)
    assert all(len(set(s.tolist())) == 100 for s in subsets)
    assert not torch.equal(subsets[0], torch.arange(100))  # random, not the first images
    assert len({tuple(sorted(s.tolist())) for s in subsets}) == 5
    z = z_all[subsets[0]]
    g = torch.Generator().manual_seed(EVAL_SEED + 4)
    torch.randn(50, 8, generator=g)  # the SW directions come first
    priors = [torch.randn(100, 8, generator=g) for _ in range(3)]
    wae = sum(mmd_by_hand(z, p, 16.0, unbiased=True) for p in priors) / 3
    cw = sum(float(cw_by_hand(z_all[s].double())) for s in subsets) / 5
    rec = float(((test.double() - x_hat.double()) ** 2).flatten(1).sum(1).mean())
    assert math.isclose(got["wae_distance"], wae, rel_tol=1e-4, abs_tol=1e-7)
    assert math.isclose(got["cw_distance"], cw, rel_tol=1e-5)
    assert math.isclose(got["rec_error"], rec, rel_tol=1e-5)
    assert math.isclose(got["cost_wae"], rec + wae, rel_tol=1e-5)
    assert math.isclose(got["cost_mmd"], rec + math.log(max(wae, LOG_FLOOR)), rel_tol=1e-4)
    assert math.isclose(got["cost_cw"], rec + math.log(cw), rel_tol=1e-5)
    assert got["cost"] == got["cost_mmd"]  # WAE-MMD's cost takes its own distance
    assert math.isclose(got["latent_isotropy"], float(latent_isotropy(z)), rel_tol=1e-6)
    # sample_cw: decoded prior samples against the first random subset's images, not the first
    # images in order
    g = torch.Generator().manual_seed(EVAL_SEED + 1)
    with torch.no_grad():
        fake = model.decode(torch.randn(100, 8, generator=g))
    real = test[subsets[0]]
    sample_cw = float(cw_distance(fake, real, gamma=silverman_gamma(float(real.std()), 100)))
    assert math.isclose(got["sample_cw"], sample_cw, rel_tol=1e-5)
    in_order = test[:100]
    gamma = silverman_gamma(float(in_order.std()), 100)
    assert not math.isclose(got["sample_cw"], float(cw_distance(fake, in_order, gamma=gamma)))
    # Reruns agree; another seed draws other subsets.
    again = evaluate_autoencoder(model, test, cfg, seed=4)
    assert {k: v for k, v in again.items() if "seconds" not in k} == {
        k: v for k, v in got.items() if "seconds" not in k
    }
    other = evaluate_autoencoder(model, test, cfg, seed=5)
    assert other["cw_distance"] != got["cw_distance"]


def test_a_negative_u_statistic_gives_a_finite_cost() -> None:
    """A latent set that matches the prior within noise can give MMD_U < 0: the log takes
    LOG_FLOOR (1e-4), so the cost is finite (a non-finite metric would end the trial as
    diverged) and every published cost is still reproduced (the least published distance is
    0.004)."""
    from aesweep.config.costs import cost_metrics

    out = cost_metrics(
        {"rec_error": 5.0, "wae_distance": -0.001, "cw_distance": 0.02}, "wae_distance"
    )
    assert out["cost"] == out["cost_mmd"] == 5.0 + math.log(LOG_FLOOR)
    assert math.isclose(out["cost_wae"], 4.999)
    assert math.isclose(out["cost_cw"], 5.0 + math.log(0.02))
