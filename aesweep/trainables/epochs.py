"""The epoch loop every trainable runs (:func:`train_epochs`), for one trial or a pack of N
trained as one (a trial is a pack of one): resume from a checkpoint, then per epoch the lr
schedule, the trainer's epoch, each member's metrics, divergence, the evaluation when due, and
logging, checkpointing and reporting it, or the end of a member as diverged (in a pack the
others go on). The trainer (:class:`EpochTrainer`: the one step's
:class:`aesweep.trainables.step.members.SteppedMembers`, or a module trainer for the
strategies that keep their own step loop) trains; each :class:`Member` says how its trial
evaluates, what it logs after an evaluated epoch and what runs after its last epoch.

One place for the rules that keep work safe (DESIGN: nothing finished is lost or recomputed):
a trial logs only epochs past what its run already holds (resumed, or retried from epoch 0);
every checkpoint carries a manifest (checked before it is loaded); a non-finite loss or metric
ends the trial as ``diverged`` (a result, never retried); the last epoch is always evaluated
and checkpointed.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aesweep.config.trial import TrialConfig
from aesweep.tracking.schema import TAG_DIVERGED_EPOCH, TAG_RESUMED_FROM_EPOCH, Outcome
from aesweep.tracking.store import TrialRun
from aesweep.trainables.checkpoint_files import UnreadableCheckpoint, write_manifest
from aesweep.trainables.reporting import Reporter


class EpochResult(Protocol):
    means: list[dict[str, float]]
    nonfinite: list[bool]


class EpochTrainer(Protocol):
    """What the loop needs of whatever trains the members (N >= 1)."""

    ids: list[str]

    def set_epoch(self, epoch: int) -> list[float] | None: ...

    def train_epoch(self, epoch: int, *, first: bool) -> EpochResult: ...

    def save(self, folder: Path, epoch: int) -> None: ...

    def load(self, folder: Path) -> int | None: ...

    def deactivate(self, i: int) -> None: ...

    def epoch_metrics(self) -> dict[str, float]: ...


@dataclass
class Member:
    """One trial of the loop: its config and run, and what its family does.

    ``evaluate(epoch)``: the evaluation metrics (timed as ``eval_seconds``; every
    ``evaluation.every`` epochs and the last). ``on_logged(epoch)``: after an evaluated epoch
    is logged (image grids). ``after_last(last_eval)``: after the last epoch, with the last
    evaluation's metrics (empty when a resumed trial had none left to run); False ends the
    trial as diverged (it has finished the run itself, with its own tags)."""

    cfg: TrialConfig
    run: TrialRun
    evaluate: Callable[[int], dict[str, float]]
    on_logged: Callable[[int], None] | None = None
    after_last: Callable[[dict[str, float]], bool] | None = None


def evaluation_due(cfg: TrialConfig, epoch: int) -> bool:
    """Every ``evaluation.every`` epochs, and after the last one."""
    return epoch % cfg.evaluation.every == 0 or epoch == cfg.epochs


def all_finite(metrics: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in metrics.values())


def resume(
    trainer: EpochTrainer, folder: Path | None, members: list[Member]
) -> tuple[int, list[int]]:
    """Load the checkpoint to resume from, if any: (its epoch, the last epoch each member's
    run logged). The runs are read whether or not there is a checkpoint: a trial retried
    from epoch 0 (its worker died before its first checkpoint) or resumed from an epoch before
    the last one its run logged must not log those epochs again. A checkpoint the trainer
    cannot load (torch cannot read it, or an older format) raises
    :class:`UnreadableCheckpoint`: the trial starts over in a new run."""
    start_epoch = 0
    if folder is not None:
        try:
            loaded = trainer.load(folder)
        except Exception as exc:
            raise UnreadableCheckpoint(
                f"the checkpoint did not load ({type(exc).__name__}: {exc})"[:500]
            ) from exc
        if loaded is None:
            raise UnreadableCheckpoint("the checkpoint holds no state of this format")
        for m in members:
            m.run.set_tags({TAG_RESUMED_FROM_EPOCH: loaded})
        start_epoch = loaded
    return start_epoch, [m.run.last_logged_epoch() for m in members]


def train_epochs(
    trainer: EpochTrainer,
    members: list[Member],
    *,
    reporter: Reporter,
    restore: Path | None,
    checkpoint_id: str,
    log_lr: Callable[[], float] | None = None,
    outcomes: dict[str, str] | None = None,
) -> dict[str, str]:
    """Resume from ``restore``, then train the members for the epochs left; returns each
    member's outcome by trial id (``finished`` or ``diverged``; every run is finished).

    One member reports its own metrics (what a scheduler ranks); a pack reports one line for
    all (``members_active``). ``lr`` is logged each epoch when ``optimizer.schedule`` sets
    it, or from ``log_lr`` (the generator family's per-step cosine schedule). ``outcomes`` is
    filled as members end (the caller's record when an exception cuts the loop short)."""
    cfg0 = members[0].cfg
    start_epoch, logged = resume(trainer, restore, members)
    outcomes = {} if outcomes is None else outcomes
    for m in members:
        outcomes[m.cfg.trial_id] = "running"
    last_eval: list[dict[str, float]] = [{} for _ in members]
    single = len(members) == 1
    for epoch in range(start_epoch + 1, cfg0.epochs + 1):
        t0 = time.perf_counter()
        rates = trainer.set_epoch(epoch)
        result = trainer.train_epoch(epoch, first=epoch == 1)
        seconds = time.perf_counter() - t0
        extra = trainer.epoch_metrics()
        evaluated_any, report = False, {}
        for i, m in enumerate(members):
            if outcomes[m.cfg.trial_id] != "running":
                continue
            metrics = {**result.means[i], "epoch_seconds": seconds, **extra}
            if rates is not None:
                metrics["lr"] = rates[i]
            elif log_lr is not None:
                metrics["lr"] = log_lr()
            diverged = result.nonfinite[i]
            evaluated = not diverged and evaluation_due(m.cfg, epoch)
            if evaluated:
                evaluated_any = True
                t1 = time.perf_counter()
                metrics.update(m.evaluate(epoch))
                metrics["eval_seconds"] = time.perf_counter() - t1
                diverged = not all_finite(metrics)
                last_eval[i] = metrics
            metrics["epoch"] = epoch
            if diverged:
                if epoch > logged[i]:
                    m.run.log_metrics(metrics, step=epoch)
                m.run.finish(Outcome.DIVERGED, **{TAG_DIVERGED_EPOCH: epoch})
                outcomes[m.cfg.trial_id] = Outcome.DIVERGED
                trainer.deactivate(i)
                if single:
                    reporter.report({**metrics, "diverged": 1.0})
                continue
            if evaluated and epoch > logged[i]:
                m.run.log_metrics(metrics, step=epoch)
                if m.on_logged is not None:
                    m.on_logged(epoch)
            report = metrics
        active = sum(o == "running" for o in outcomes.values())
        if active == 0:
            if not single:
                reporter.report({"epoch": float(epoch), "members_active": 0.0, "diverged": 1.0})
            return outcomes
        if not single:
            report = {"epoch": float(epoch), "members_active": float(active)}
        if epoch % cfg0.checkpoint.every == 0 or epoch == cfg0.epochs:
            with tempfile.TemporaryDirectory() as folder:
                trainer.save(Path(folder), epoch)
                write_manifest(Path(folder), checkpoint_id, epoch, trainer.ids)
                reporter.report({**report, "diverged": 0.0}, checkpoint_dir=folder)
        elif evaluated_any:
            reporter.report({**report, "diverged": 0.0})
    for i, m in enumerate(members):
        if outcomes[m.cfg.trial_id] != "running":
            continue
        if m.after_last is not None and not m.after_last(last_eval[i]):
            outcomes[m.cfg.trial_id] = Outcome.DIVERGED
            continue
        m.run.finish(Outcome.FINISHED)
        outcomes[m.cfg.trial_id] = Outcome.FINISHED
    return outcomes
