"""The epoch loop every trainable runs (:func:`train_epochs`): resume from a checkpoint, then
per epoch the lr schedule, the strategy's epoch, its metrics, divergence, the evaluation when
due, and logging, checkpointing and reporting it (:func:`record_epoch`), or the end of the
trial as diverged. The families pass what differs: how to evaluate, what to log after an
evaluated epoch, what runs after the last epoch.

One place for the rules that keep work safe (DESIGN: nothing finished is lost or recomputed):
a resumed trial logs only epochs past what its run already holds; a non-finite loss or metric
ends the trial as ``diverged`` (a result, never retried); the last epoch is always evaluated
and checkpointed.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from aesweep.config.trial import TrialConfig, TrialPayload
from aesweep.data.base import TrainSplit
from aesweep.models.base import AutoencoderModel
from aesweep.tracking.store import TAG_DIVERGED_EPOCH, TrialRun
from aesweep.trainables.checkpoint_files import write_meta
from aesweep.trainables.checkpoints import restore_folder
from aesweep.trainables.reporting import Reporter
from aesweep.trainables.state import TrialState


class TrialStateLike(Protocol):
    def save(self, folder: Path, epoch: int) -> None: ...

    def load(self, folder: Path) -> int: ...


def resume(
    state: TrialStateLike, reporter: Reporter, payload: TrialPayload, run: TrialRun
) -> tuple[int, int]:
    """Load the checkpoint to resume from, if any: (its epoch, the last epoch the run logged)."""
    start_epoch = 0
    with restore_folder(reporter, payload) as folder:
        if folder is not None:
            start_epoch = state.load(folder)
            run.set_tags({"aesweep.resumed_from_epoch": start_epoch})
    return start_epoch, run.last_logged_step() if start_epoch else 0


def evaluation_due(cfg: TrialConfig, epoch: int) -> bool:
    """Every ``evaluation.every`` epochs, and after the last one."""
    return epoch % cfg.evaluation.every == 0 or epoch == cfg.epochs


def all_finite(metrics: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in metrics.values())


def record_epoch(
    cfg: TrialConfig,
    epoch: int,
    metrics: dict[str, float],
    *,
    diverged: bool,
    evaluated: bool,
    state: TrialStateLike,
    run: TrialRun,
    reporter: Reporter,
    logged_up_to: int,
    on_logged: Callable[[], None] | None = None,
) -> bool:
    """Log (evaluated epochs not yet in the run), checkpoint (every ``checkpoint.every`` and
    the last) and report one epoch; ``on_logged`` runs after logging (image grids). A diverged
    epoch is logged, ends the run as diverged and returns False."""
    metrics["epoch"] = epoch
    if diverged:
        run.log_metrics(metrics, step=epoch)
        run.finish("diverged", **{TAG_DIVERGED_EPOCH: epoch})
        reporter.report({**metrics, "diverged": 1.0})
        return False
    if evaluated and epoch > logged_up_to:
        run.log_metrics(metrics, step=epoch)
        if on_logged is not None:
            on_logged()
    if epoch % cfg.checkpoint.every == 0 or epoch == cfg.epochs:
        with tempfile.TemporaryDirectory() as folder:
            state.save(Path(folder), epoch)
            write_meta(Path(folder), cfg.trial_id, epoch)
            reporter.report({**metrics, "diverged": 0.0}, checkpoint_dir=folder)
    elif evaluated:
        reporter.report({**metrics, "diverged": 0.0})
    return True


def apply_lr_schedule(
    cfg: TrialConfig, optimizer: torch.optim.Optimizer, model: nn.Module, epoch: int
) -> float | None:
    """Set this epoch's rates from ``optimizer.schedule``: the model's, and those of
    optimisers an autoencoder family owns (WAE-GAN's discriminator), by the same factor.
    Returns the model's rate (None without a schedule)."""
    if cfg.optimizer.schedule is None:
        return None
    factor = cfg.optimizer.schedule.factor(epoch)
    for group in optimizer.param_groups:
        group["lr"] = cfg.optimizer.lr * factor
    if isinstance(model, AutoencoderModel):
        model.scale_extra_lr(factor)
    return cfg.optimizer.lr * factor


def train_epochs(
    cfg: TrialConfig,
    state: TrialState,
    train: TrainSplit,
    *,
    payload: TrialPayload,
    reporter: Reporter,
    run: TrialRun,
    evaluate: Callable[[int], dict[str, float]],
    on_logged: Callable[[int], None] | None = None,
    after_last: Callable[[dict[str, float]], bool] | None = None,
    autocast: contextlib.AbstractContextManager[Any] | None = None,
    log_lr: bool = False,
) -> str:
    """Resume, then train ``state`` on ``train`` for the epochs left; returns ``finished`` or
    ``diverged`` (the run is finished either way).

    ``evaluate(epoch)``: the family's evaluation metrics (timed as ``eval_seconds``; every
    ``evaluation.every`` epochs and the last). ``on_logged(epoch)``: after an evaluated epoch
    is logged (image grids). ``after_last(last_eval)``: after the last epoch, with the last
    evaluation's metrics (empty when a resumed trial had none left to run); False ends the
    trial as diverged (it has finished the run itself, with its own tags). ``autocast``: the
    context of every training epoch (mixed precision). ``lr`` is logged each epoch when
    ``optimizer.schedule`` sets it, or, with ``log_lr``, as the optimiser's rate after the
    epoch (the generator family's per-step cosine schedule)."""
    start_epoch, logged_up_to = resume(state, reporter, payload, run)
    model, optimizer, strategy = state.model, state.optimizer, state.strategy
    last_eval: dict[str, float] = {}
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        lr = apply_lr_schedule(cfg, optimizer, model, epoch)
        model.train()
        with autocast if autocast is not None else contextlib.nullcontext():
            sums = strategy.train_epoch(model, optimizer, train, epoch)
        metrics = sums.means()
        metrics["epoch_seconds"] = time.perf_counter() - t0
        if lr is None and log_lr:
            lr = optimizer.param_groups[0]["lr"]
        if lr is not None:
            metrics["lr"] = lr
        diverged = sums.diverged()
        evaluated = not diverged and evaluation_due(cfg, epoch)
        if evaluated:
            t1 = time.perf_counter()
            metrics.update(evaluate(epoch))
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
            on_logged=None if on_logged is None else partial(on_logged, epoch),
        ):
            return "diverged"
    if after_last is not None and not after_last(last_eval):
        return "diverged"
    run.finish("finished")
    return "finished"
