"""What every trainable does around its epochs: resume from a checkpoint, decide when to
evaluate, and after each epoch log, checkpoint and report it, or end the trial as diverged.

One place for the rules that keep work safe (DESIGN: nothing finished is lost or recomputed):
a resumed trial logs only epochs past what its run already holds; a non-finite loss or metric
ends the trial as ``diverged`` (a result, never retried); the last epoch is always evaluated
and checkpointed.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from aesweep.config.trial import TrialConfig, TrialPayload
from aesweep.tracking.store import TAG_DIVERGED_EPOCH, TrialRun
from aesweep.trainables.checkpoint_files import write_meta
from aesweep.trainables.checkpoints import restore_folder
from aesweep.trainables.reporting import Reporter


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
