"""The evaluation protocol a trial records with its run, as plain data: what
its numbers mean, so they are set beside published ones only where the protocol agrees.

- the latent distances (MoW's evaluator, aesweep.trainables.evaluation): subset size, the
  number of prior draws of the WAE distance (U-statistic) and of CW subsets;
- FID (aesweep.fid; REFERENCE "Fréchet distance": "the split used must be a recorded
  parameter"): the Inception file and its SHA-256, the preprocessing (8-bit quantisation, TF1
  bilinear resize to 299, grey to 3 channels), the sample count, the reference split and the
  SHA-256 of its statistics (logged as an MLflow dataset input: the reference data).

MLflow calls stay in aesweep.tracking: this module builds dicts, TrialRun logs them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from aesweep.config.evaluation import EvaluationConfig
from aesweep.config.trial import TrialConfig
from aesweep.fid.score import FIDScorer
from aesweep.fid.stats import PREPROCESSING, GaussianStats
from aesweep.fid.weights import INPUT_SIZE, locate_weights
from aesweep.tracking.schema import PARAM_PROTOCOL
from aesweep.tracking.store import TrialRun


def distance_protocol(ev: EvaluationConfig) -> dict[str, Any]:
    """The latent distances' protocol (aesweep.trainables.evaluation)."""
    return {
        "distances.subsets": "random, seeded",
        "distances.subset_size": ev.latent_samples,
        "distances.wae": "IMQ MMD U-statistic",
        "distances.mmd_draws": ev.mmd_draws,
        "distances.cw_subsets": ev.cw_subsets,
    }


def fid_settings(ev: EvaluationConfig) -> dict[str, Any]:
    """What the spec fixes of FID (before any network is loaded)."""
    if ev.fid is None:
        return {"fid": "off"}
    return {
        "fid.samples": ev.fid.samples,
        "fid.split": ev.fid.split,
        "fid.preprocessing": PREPROCESSING,
        "fid.quantisation": "8-bit (round(255 x))",
        "fid.resize": f"TF1 bilinear to {INPUT_SIZE}x{INPUT_SIZE}",
    }


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def stats_digest(stats: GaussianStats) -> str:
    """SHA-256 of the reference statistics (μ and Σ as float64 bytes, then n)."""
    h = hashlib.sha256()
    for a in (stats.mu, stats.sigma):
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    h.update(str(stats.n).encode())
    return h.hexdigest()


def fid_record(cfg: TrialConfig, scorer: FIDScorer) -> tuple[dict[str, Any], dict[str, Any]]:
    """After the trial computed FID: the network file and its SHA-256, and the reference
    statistics as a dataset input (name, digest, source, profile)."""
    fid = cfg.evaluation.fid
    assert fid is not None
    weights = locate_weights(fid.weights, cache_dir=fid.cache_dir, download=False)
    reference: GaussianStats = scorer.reference
    digest = stats_digest(reference)
    params = {
        "fid.weights": weights.name,
        "fid.weights_sha256": sha256_file(weights),
        "fid.reference_sha256": digest,
    }
    dataset = {
        "name": f"{cfg.data.dataset}-{fid.split}-fid-reference",
        "digest": digest[:36],
        "source": f"{cfg.data.dataset} {fid.split} split, first {reference.n} images",
        "profile": {
            "samples": reference.n,
            "features": int(reference.mu.shape[0]),
            "preprocessing": PREPROCESSING,
            "sha256": digest,
        },
    }
    return params, dataset


def protocol_params(cfg: TrialConfig) -> dict[str, Any]:
    """Everything known before training, as ``protocol.*`` params."""
    values = {**distance_protocol(cfg.evaluation), **fid_settings(cfg.evaluation)}
    return {PARAM_PROTOCOL + k: v for k, v in values.items()}


def record_fid_protocol(cfg: TrialConfig, scorer: FIDScorer | None, run: TrialRun) -> None:
    """Log the FID network and reference of a scorer that has computed (nothing otherwise:
    a trial that never reached its FID loaded no network)."""
    if scorer is None or "reference" not in scorer.__dict__:
        return
    params, dataset = fid_record(cfg, scorer)
    run.log_protocol({PARAM_PROTOCOL + k: v for k, v in params.items()}, dataset=dataset)
