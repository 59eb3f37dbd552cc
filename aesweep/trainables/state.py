"""The trainer of the strategies that keep their own step loop with ``torch.optim`` (Run-Sort-
ReRun's chunked reruns, the data-space generator): :class:`ModuleTrainer`, one member of the
epoch loop. What its checkpoint holds, for those families: networks, optimiser, strategy state, an
optional lr scheduler, a family's own extra state (WAE-GAN's discriminator optimiser), RNG and
epoch.

Keys of ``trial.pt``: ``epoch``, ``model``, ``optimizer``, ``strategy``; ``model_extra`` for an
autoencoder family (:meth:`AutoencoderModel.extra_state_dict`); ``scheduler`` when the trial
has a per-step lr scheduler (the generator family's cosine annealing); ``rng_cpu`` and
``rng_cuda`` (:func:`aesweep.trainables.checkpoints.save_state`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from aesweep.data.base import TrainSplit
from aesweep.models.base import AutoencoderModel
from aesweep.strategies.base import StepSums
from aesweep.trainables.checkpoints import CHECKPOINT_FILE, load_state, save_state


class EpochStrategy(Protocol):
    """What the epoch loop needs of a strategy: an autoencoder's
    (:class:`aesweep.strategies.base.Strategy`) or the generator's
    (:class:`aesweep.strategies.base.GeneratorStrategy`)."""

    def train_epoch(
        self, model: Any, optimizer: torch.optim.Optimizer, train: TrainSplit, epoch: int
    ) -> StepSums: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class TrialState:
    """Everything a checkpoint holds; :meth:`save` and :meth:`load` by the keys above."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        strategy: EpochStrategy,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    ) -> None:
        self.model, self.optimizer, self.strategy = model, optimizer, strategy
        self.scheduler = scheduler

    def save(self, folder: Path, epoch: int) -> None:
        state = {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "strategy": self.strategy.state_dict(),
        }
        if isinstance(self.model, AutoencoderModel):
            state["model_extra"] = self.model.extra_state_dict()
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        save_state(folder, state)

    def load(self, folder: Path) -> int:
        """Restore from ``folder`` (the RNG states too); returns the checkpoint's epoch."""
        state = load_state(folder)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.strategy.load_state_dict(state["strategy"])
        if isinstance(self.model, AutoencoderModel):
            self.model.load_extra_state_dict(state.get("model_extra", {}))
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        return int(state["epoch"])


@dataclass
class ModuleResult:
    means: list[dict[str, float]]
    nonfinite: list[bool]


class ModuleTrainer:
    """One trial trained by its strategy's own ``train_epoch`` (an :class:`EpochTrainer` of
    :mod:`aesweep.trainables.epochs` with one member). ``autocast``: the context of every
    training epoch (mixed precision)."""

    def __init__(
        self,
        trial_id: str,
        state: TrialState,
        train: TrainSplit,
        *,
        base_lr: float,
        schedule: Any,
        autocast: contextlib.AbstractContextManager[Any] | None = None,
    ) -> None:
        self.ids = [trial_id]
        self.state, self.train = state, train
        self.base_lr, self.schedule = base_lr, schedule
        self.autocast = autocast

    def set_epoch(self, epoch: int) -> list[float] | None:
        """This epoch's rates from ``optimizer.schedule``: the model's, and those of
        optimisers an autoencoder family owns, by the same factor."""
        if self.schedule is None:
            return None
        factor = self.schedule.factor(epoch)
        for group in self.state.optimizer.param_groups:
            group["lr"] = self.base_lr * factor
        if isinstance(self.state.model, AutoencoderModel):
            self.state.model.scale_extra_lr(factor)
        return [self.base_lr * factor]

    def train_epoch(self, epoch: int, *, first: bool) -> ModuleResult:
        model = self.state.model
        model.train()
        with self.autocast if self.autocast is not None else contextlib.nullcontext():
            sums = self.state.strategy.train_epoch(model, self.state.optimizer, self.train, epoch)
        return ModuleResult([sums.means()], [sums.diverged()])

    def current_lr(self) -> float:
        return float(self.state.optimizer.param_groups[0]["lr"])

    def save(self, folder: Path, epoch: int) -> None:
        self.state.save(folder, epoch)

    def load(self, folder: Path) -> int | None:
        return self.state.load(folder) if (folder / CHECKPOINT_FILE).exists() else None

    def deactivate(self, i: int) -> None:
        return None

    def epoch_metrics(self) -> dict[str, float]:
        return {}
