"""What every strategy implements: one training epoch, with metrics accumulated on device.

The strategy owns the step loop because it decides what one step is (n images, k fresh
latents plus a buffer, b/m chunks with a rerun). It never synchronises with the host: sums
stay tensors until the trainable reads them once per epoch. :class:`Strategy` trains an
autoencoder (a strategy's default role); :class:`GeneratorStrategy` the data-space generator
(its ``generator`` role), with the same interface.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

from aesweep.data.base import TrainSplit
from aesweep.data.streaming import StreamingImages
from aesweep.models.base import AutoencoderModel, LatentSet
from aesweep.models.generator.model import Generator
from aesweep.strategies.running_stats import RunningStatistics


class StepSums:
    """Device-side running sums of the per-step parts (loss, rec, latent, ...)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.steps = 0
        self.nonfinite: torch.Tensor | None = None

    def add(self, parts: dict[str, torch.Tensor]) -> None:
        for k, v in parts.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
        loss = parts.get("loss")
        if loss is not None:
            bad = ~torch.isfinite(loss)
            self.nonfinite = bad if self.nonfinite is None else self.nonfinite | bad
        self.steps += 1

    def means(self) -> dict[str, float]:
        """One host sync: the per-step means, prefixed ``train_``."""
        if not self.sums:
            return {}
        keys = list(self.sums)
        values = (torch.stack([self.sums[k].float() for k in keys]) / max(1, self.steps)).tolist()
        return {f"train_{k}": v for k, v in zip(keys, values, strict=True)}

    def diverged(self) -> bool:
        return bool(self.nonfinite) if self.nonfinite is not None else False


def epoch_batches(train: TrainSplit, n: int) -> Iterator[torch.Tensor]:
    """One epoch of full batches of ``n`` rows in a fresh random order (the last partial batch
    is dropped, so every latent distance sees exactly the rows it expects). The one place a
    step's images are drawn: strategies that consume n images per step share its RNG use.
    A streamed split gets the same order (from the same RNG) and loads it ahead in workers."""
    order = torch.randperm(len(train), device=train.device)
    chunks = [order[start : start + n] for start in range(0, len(train) - n + 1, n)]
    if isinstance(train, StreamingImages):
        yield from train.batches(chunks)
        return
    for chunk in chunks:
        yield train[chunk]


class Strategy:
    """Base class: subclasses implement :meth:`train_epoch`; stateful ones also save state.

    ``epochs`` is the trial's number of epochs (strategies with a schedule over the whole run,
    such as the momentum queue, need it; None when unknown).
    """

    def __init__(
        self,
        cfg: Any,
        model: AutoencoderModel,
        train: TrainSplit,
        *,
        epochs: int | None = None,
    ) -> None:
        self.cfg = cfg
        self.epochs = epochs

    def train_epoch(
        self,
        model: AutoencoderModel,
        optimizer: torch.optim.Optimizer,
        train: TrainSplit,
        epoch: int,
    ) -> StepSums:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


Tensors = dict[str, torch.Tensor]


class SetStrategy(Strategy):
    """A strategy of the one training step (aesweep/trainables/step/): it reads ``fresh``
    images per step and hands F a set of ``set_rows`` latents. Its state is a dict of tensors
    for one member (a pack stacks it): :meth:`init_state` when the trial starts,
    :meth:`epoch_state` at each epoch start (on the host, outside the step), and inside the
    step :meth:`keys` (before the update), :meth:`latent_set` and :meth:`advance` (after the
    update). Every method is a pure function of its arguments."""

    fresh: int
    set_rows: int

    def init_state(
        self, model: AutoencoderModel, generator: torch.Generator, device: torch.device
    ) -> Tensors:
        return {}

    def epoch_state(
        self,
        state: Tensors,
        model: AutoencoderModel,
        generator: torch.Generator,
        device: torch.device,
        *,
        first: bool,
    ) -> Tensors:
        """The state at an epoch's start; ``first``: the trial's first epoch."""
        return state

    def keys(self, calls: Any, state: Tensors, x: torch.Tensor) -> torch.Tensor | None:
        """Latents of this step's images computed from the state (a momentum encoder)."""
        return None

    def latent_set(self, z: torch.Tensor, state: Tensors, keys: torch.Tensor | None) -> LatentSet:
        return LatentSet(z)

    def advance(
        self,
        state: Tensors,
        z: torch.Tensor,
        keys: torch.Tensor | None,
        params: Tensors,
        buffers: Tensors,
    ) -> Tensors:
        """The state after the step (``z`` detached; ``params``/``buffers``: updated)."""
        return state


def real_sample(train: TrainSplit, n: int) -> torch.Tensor:
    """n training samples drawn with replacement (the toy samples the target afresh)."""
    return train[torch.randint(len(train), (n,), device=train.device)]


class GeneratorStrategy:
    """Base class of a strategy's ``generator`` role: how the data-space generator trains
    under it. An epoch is the family's ``iterations_per_epoch`` optimiser steps (no pass over
    a dataset); subclasses implement :meth:`step`. BatchNorm runs on running statistics
    (updated once per step, as in the authors' toy). ``after_step`` runs after every
    optimiser step (the family's per-step cosine lr schedule)."""

    def __init__(
        self,
        cfg: Any,
        model: Generator,
        train: TrainSplit,
        *,
        epochs: int | None = None,
        after_step: Callable[[], object] | None = None,
    ) -> None:
        self.cfg = cfg
        self.epochs = epochs
        self.model_cfg = model.cfg
        self.dim = train[0].numel()
        self.stats = RunningStatistics(model)
        self.after_step = after_step

    def train_epoch(
        self,
        model: Generator,
        optimizer: torch.optim.Optimizer,
        train: TrainSplit,
        epoch: int,
    ) -> StepSums:
        sums = StepSums()
        for _ in range(self.model_cfg.iterations_per_epoch):
            sums.add(self.step(model, optimizer, train))
            if self.after_step is not None:
                self.after_step()
        return sums

    def step(
        self, gen: Generator, optimizer: torch.optim.Optimizer, train: TrainSplit
    ) -> dict[str, torch.Tensor]:
        """One optimiser step; its parts (at least ``loss``) as device tensors."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None
