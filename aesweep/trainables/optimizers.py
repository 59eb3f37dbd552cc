"""The optimisers of a trial, registered by name in :data:`aesweep.config.optimizer.OPTIMIZERS`
(``optimizer.name`` in a spec), and the device the trial computes on."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from aesweep.config.optimizer import OPTIMIZERS, OptimizerConfig

Params = Iterable[torch.nn.Parameter]


def sgd(params: Params, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """Plain SGD (MoW: no momentum), optional momentum and weight decay."""
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def adam(params: Params, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """Adam with the spec's betas (WAE: β1 = 0.5) and weight decay."""
    return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def build_optimizer(cfg: OptimizerConfig, params: Params) -> torch.optim.Optimizer:
    """The optimiser ``cfg.name`` names, over ``params``."""
    optimizer: torch.optim.Optimizer = OPTIMIZERS.load(cfg.name)(params, cfg)
    return optimizer


def pick_device(use_gpu: bool) -> torch.device:
    return torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")
