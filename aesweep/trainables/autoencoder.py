"""Stage 1: train one autoencoder trial (data + model + strategy -> epochs -> evaluate -> report).

Called through :mod:`aesweep.trainables.entry` (Ray Tune or inline). A non-finite loss or
metric ends the trial as ``diverged`` (a result, never retried).
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import torch

from aesweep.config.trial import TrialConfig, TrialPayload
from aesweep.data.loading import load_dataset
from aesweep.models.base import AutoencoderModel
from aesweep.models.loading import build_model
from aesweep.strategies.base import Strategy
from aesweep.strategies.loading import build_strategy
from aesweep.tracking.store import TAG_DIVERGED_EPOCH, TrialRun
from aesweep.trainables.checkpoints import (
    load_state,
    save_state,
)
from aesweep.trainables.epochs import all_finite, evaluation_due, record_epoch, resume
from aesweep.trainables.evaluation import evaluate_autoencoder
from aesweep.trainables.fid_scoring import fid_due, fid_scorer
from aesweep.trainables.images import log_evaluation_images
from aesweep.trainables.latent_generator import TAG_DIVERGED_STAGE, finish_samplers
from aesweep.trainables.optimizers import build_optimizer, pick_device
from aesweep.trainables.reporting import Reporter


def mixed_precision(cfg: TrialConfig, device: torch.device) -> torch.autocast:
    """bfloat16 autocast of the networks on a GPU when ``compute.amp`` (a no-op otherwise)."""
    enabled = cfg.compute.amp and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def apply_lr_schedule(
    cfg: TrialConfig, optimizer: torch.optim.Optimizer, model: AutoencoderModel, epoch: int
) -> float | None:
    """Set this epoch's rates from ``optimizer.schedule``: the autoencoder's, and those of
    optimisers the family owns (WAE-GAN's discriminator), by the same factor. Returns the
    autoencoder's rate (None without a schedule)."""
    if cfg.optimizer.schedule is None:
        return None
    factor = cfg.optimizer.schedule.factor(epoch)
    for group in optimizer.param_groups:
        group["lr"] = cfg.optimizer.lr * factor
    model.scale_extra_lr(factor)
    return cfg.optimizer.lr * factor


class TrialState:
    """Everything a checkpoint holds: networks, optimiser, strategy state, RNG, epoch."""

    def __init__(
        self, model: AutoencoderModel, optimizer: torch.optim.Optimizer, strategy: Strategy
    ) -> None:
        self.model, self.optimizer, self.strategy = model, optimizer, strategy

    def save(self, folder: Path, epoch: int) -> None:
        state = {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "strategy": self.strategy.state_dict(),
            "model_extra": self.model.extra_state_dict(),
        }
        save_state(folder, state)

    def load(self, folder: Path) -> int:
        state = load_state(folder)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.strategy.load_state_dict(state["strategy"])
        self.model.load_extra_state_dict(state.get("model_extra", {}))
        return int(state["epoch"])


def train_autoencoder(
    cfg: TrialConfig, payload: TrialPayload, reporter: Reporter, run: TrialRun
) -> str:
    """Stage 1 of every autoencoder family; returns ``finished`` or ``diverged``."""
    torch.manual_seed(cfg.seed)
    device = pick_device(payload.use_gpu)
    data = load_dataset(cfg.data).to(device)
    model = build_model(cfg.model, data).to(device)
    autocast = mixed_precision(cfg, device)
    strategy = build_strategy(cfg.strategy, model, data.train, epochs=cfg.epochs)
    if cfg.compute.compile:
        # After the strategy (a momentum encoder is a deep copy of the uncompiled encoder).
        # In place, so state_dict keys (checkpoints) are unchanged; the families call the
        # encoder and decoder directly, so those are what gets compiled.
        model.net.encoder.compile()
        model.net.decoder.compile()
    optimizer = build_optimizer(cfg.optimizer, model.autoencoder_parameters())
    state = TrialState(model, optimizer, strategy)

    start_epoch, logged_up_to = resume(state, reporter, payload, run)
    last_eval: dict[str, float] = {}
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        lr = apply_lr_schedule(cfg, optimizer, model, epoch)
        model.train()
        with autocast:
            sums = strategy.train_epoch(model, optimizer, data.train, epoch)
        metrics = sums.means()
        metrics["epoch_seconds"] = time.perf_counter() - t0
        if lr is not None:
            metrics["lr"] = lr
        diverged = sums.diverged()
        evaluated = not diverged and evaluation_due(cfg, epoch)
        if evaluated:
            t1 = time.perf_counter()
            fid = fid_scorer(cfg, device) if fid_due(cfg, epoch) else None
            metrics.update(evaluate_autoencoder(model, data.test, cfg.evaluation, fid))
            metrics["eval_seconds"] = time.perf_counter() - t1
            diverged = not all_finite(metrics)
            last_eval = metrics
        if not record_epoch(
            cfg,
            epoch,
            metrics,
            diverged=diverged,
            evaluated=evaluated,
            state=state,
            run=run,
            reporter=reporter,
            logged_up_to=logged_up_to,
            on_logged=partial(log_evaluation_images, run, model, data.test, cfg, epoch),
        ):
            return "diverged"
    if not finish_samplers(model, data, cfg, run, reporter, last_eval):  # Latent Trick, gen_*
        run.finish("diverged", **{TAG_DIVERGED_EPOCH: cfg.epochs, TAG_DIVERGED_STAGE: "lt"})
        return "diverged"
    run.finish("finished")
    return "finished"
