"""When a trial computes FID, and its scorer: Inception and reference statistics loaded once
per process and reused by every evaluation (and every trial a Ray worker runs)."""

from __future__ import annotations

import torch

from aesweep.config.trial import TrialConfig
from aesweep.fid.score import FIDScorer

_SCORERS: dict[tuple[object, ...], FIDScorer] = {}


def fid_due(cfg: TrialConfig, epoch: int) -> bool:
    """``evaluation.fid.every`` epochs, and after the last one."""
    fid = cfg.evaluation.fid
    return fid is not None and fid.is_due(epoch, cfg.epochs)


def fid_scorer(cfg: TrialConfig, device: torch.device) -> FIDScorer | None:
    """The trial's FID scorer, or None when the spec asks for no FID."""
    if cfg.evaluation.fid is None:
        return None
    key = (cfg.evaluation.fid, cfg.data, str(device))
    if key not in _SCORERS:
        _SCORERS[key] = FIDScorer(cfg.evaluation.fid, cfg.data, device)
    return _SCORERS[key]
