"""N >= 1 members of one family x set strategy trained by the one step (a trial is a pack of
one): their state, their random streams, an epoch as blocks of steps, and their checkpoint.

Member i is built as its trial builds it (``torch.manual_seed(seed_i)``, then the networks);
its random stream then moves to a generator of its own (:func:`build_members`). The RNG
protocol (README "Random numbers"): per epoch and member, first the strategy's epoch draws
(the moving window's refill), then the epoch's image order (``randperm``), then per block of
:data:`DRAW_BLOCK` steps the family's draws for the whole block (``step_draws``: prior
samples, then SW directions). The protocol does not depend on the executor, so eager,
packed and compiled runs of a trial compute the same numbers, float reassociation aside.

One member's state is a tree of tensors (``params``, ``buffers``, ``optim``, ``strategy``);
a pack stacks every tensor along a leading member dimension. A checkpoint always holds the
stacked form (format :data:`STATE_FORMAT`), members by trial id, so a trial's checkpoint and
a pack's are one format and a pack of some of its members resumes from it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch.utils._pytree import tree_map

from aesweep.config.trial import TrialConfig
from aesweep.data.base import TensorDataset
from aesweep.data.streaming import StreamingImages
from aesweep.models.base import AutoencoderModel, Draws
from aesweep.models.functional import load_network_state, network_state
from aesweep.models.loading import build_autoencoder
from aesweep.models.wae_encoder import WAEEncoderModel
from aesweep.strategies.base import SetStrategy
from aesweep.strategies.loading import build_strategy
from aesweep.trainables.checkpoint_files import MEMBERS_FILE
from aesweep.trainables.optimizers import build_optimizer
from aesweep.trainables.step.definition import State, autograd_grad_and_value, make_step
from aesweep.trainables.step.executor import BlockRunner, block_function
from aesweep.trainables.step.optim import FUNCTIONAL_OPTIMIZERS, hyperparameters

DRAW_BLOCK = 16
"""Steps whose random inputs are drawn together (part of the RNG protocol: fixed)."""
STATE_FILE = "members.pt"
STATE_FORMAT = 2


def _global_state(device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    return torch.get_rng_state()


def build_trial_model(
    cfg: TrialConfig, data: TensorDataset, device: torch.device
) -> AutoencoderModel:
    """The networks as the trial builds them: seeded, then the WAE encoder's pretraining
    (``e_pretrain``; a resumed trial's checkpoint replaces what it learned)."""
    torch.manual_seed(cfg.seed)
    model = build_autoencoder(cfg.model, data).to(device)
    if isinstance(model, WAEEncoderModel):
        model.pretrain_encoder(data.train, partial(build_optimizer, cfg.optimizer))
    return model


def build_members(
    trials: Sequence[TrialConfig], data: TensorDataset, device: torch.device
) -> tuple[list[AutoencoderModel], list[torch.Generator]]:
    """Each member's networks as its trial builds them, and its generator holding the RNG
    state its trial has after that (the loaders draw nothing from the global RNG)."""
    models, generators = [], []
    for cfg in trials:
        models.append(build_trial_model(cfg, data, device))
        g = torch.Generator(device=device)
        g.set_state(_global_state(device))
        generators.append(g)
    return models, generators


def _stack(trees: Sequence[Any]) -> Any:
    return tree_map(lambda *xs: torch.stack(xs), trees[0], *trees[1:])


def _row(tree: Any, i: int) -> Any:
    return tree_map(lambda t: t[i], tree)


@dataclass
class EpochResult:
    """Per member: the epoch's ``train_*`` means and whether a loss was non-finite."""

    means: list[dict[str, float]]
    nonfinite: list[bool]


class SteppedMembers:
    """The members' state and how an epoch runs. ``compiled``/``unroll`` choose the
    executor (aesweep/trainables/step/executor.py)."""

    def __init__(
        self,
        trials: Sequence[TrialConfig],
        data: TensorDataset,
        device: torch.device,
        *,
        compiled: bool = False,
        unroll: int = 1,
    ) -> None:
        self.trials = list(trials)
        self.ids = [t.trial_id for t in self.trials]
        self.data, self.device = data, device
        self.models, self.generators = build_members(self.trials, data, device)
        first = self.trials[0]
        strategy = build_strategy(first.strategy, self.models[0], data.train, epochs=first.epochs)
        if not isinstance(strategy, SetStrategy):
            raise TypeError(f"strategy {first.strategy.kind} does not run the one step")
        self.strategy: SetStrategy = strategy
        self.optimizer = FUNCTIONAL_OPTIMIZERS[first.optimizer.name].for_members(
            [t.optimizer for t in self.trials]
        )
        states = []
        for model, g in zip(self.models, self.generators, strict=True):
            params, buffers = network_state(model)
            states.append(
                {
                    "params": params,
                    "buffers": buffers,
                    "optim": self.optimizer.init(params),
                    "strategy": self.strategy.init_state(model, g, device),
                }
            )
        self.packed = len(self.trials) > 1
        self.state: State = _stack(states) if self.packed else states[0]
        self.active = torch.ones(len(self.trials), dtype=torch.bool, device=device)
        step = make_step(self.models[0], self.strategy, self.optimizer)
        traceable = block_function(step, packed=self.packed)
        eager = traceable
        if not self.packed:  # one member run eagerly: the same step, autograd's gradient
            direct = make_step(
                self.models[0], self.strategy, self.optimizer, autograd_grad_and_value
            )
            eager = block_function(direct, packed=False)
        self.runner = BlockRunner(
            eager,
            traceable=traceable,
            compiled=compiled,
            unroll=unroll,
            device=device,
            member_axis=1 if self.packed else 0,
        )
        self.rates = [t.optimizer.lr for t in self.trials]
        self._compile_logged = self._compile_reported = False
        # A family with an update of its own after each step (WAE-GAN's critic) runs it
        # eagerly on the member's module, one step at a time (one member: packs exclude it).
        self.after_update = self.models[0].has_after_step() and not self.packed

    def __len__(self) -> int:
        return len(self.trials)

    # -- per epoch -------------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> list[float] | None:
        """Each member's rate for ``epoch`` (None: no schedule, the base rates)."""
        scheduled = any(t.optimizer.schedule is not None for t in self.trials)
        for t, model in zip(self.trials, self.models, strict=True):
            if t.optimizer.schedule is not None:  # optimisers the family owns (WAE-GAN's D)
                model.scale_extra_lr(t.optimizer.schedule.factor(epoch))
        self.rates = [
            t.optimizer.lr
            * (1.0 if t.optimizer.schedule is None else t.optimizer.schedule.factor(epoch))
            for t in self.trials
        ]
        return self.rates if scheduled else None

    def _hp(self) -> dict[str, torch.Tensor]:
        dtype = torch.float64
        rows = [
            {
                **hyperparameters(t.optimizer, lr),
                "lambda": t.model.latent_weight if t.model.latent_weight is not None else 0.0,
            }
            for t, lr in zip(self.trials, self.rates, strict=True)
        ]
        hp = {
            k: torch.tensor([r[k] for r in rows], dtype=dtype, device=self.device) for k in rows[0]
        }
        return hp if self.packed else {k: v[0] for k, v in hp.items()}

    def _epoch_start(self, first: bool) -> None:
        """The strategy's epoch draws, member by member (the protocol's first draws)."""
        strat = self.state["strategy"]
        rows = []
        for i, (model, g) in enumerate(zip(self.models, self.generators, strict=True)):
            own = _row(strat, i) if self.packed else strat
            rows.append(self.strategy.epoch_state(own, model, g, self.device, first=first))
        self.state["strategy"] = _stack(rows) if self.packed else rows[0]

    def _draws(self, steps: int) -> Draws:
        rows = self.strategy.set_rows
        images = (self.strategy.fresh, *self.data.sample_shape)
        per = [
            m.step_draws(rows, steps, g, self.device, images=images)
            for m, g in zip(self.models, self.generators, strict=True)
        ]
        return _stack(per) if self.packed else per[0]

    def train_epoch(self, epoch: int, *, first: bool) -> EpochResult:
        """One epoch of every member; ``first``: the trial's first epoch (not resumed)."""
        self._epoch_start(first)
        train, n = self.data.train, self.strategy.fresh
        steps = len(train) // n
        orders = [
            torch.randperm(len(train), generator=g, device=train.device)[: steps * n].view(steps, n)
            for g in self.generators
        ]
        hp = self._hp()
        streamed = (
            iter(train.batches(list(orders[0]))) if isinstance(train, StreamingImages) else None
        )
        sums: dict[str, torch.Tensor] = {}
        bad = torch.zeros(len(self), dtype=torch.bool, device=self.device)
        for start in range(0, steps, DRAW_BLOCK):
            size = min(DRAW_BLOCK, steps - start)
            if streamed is not None:
                xs = torch.stack([next(streamed) for _ in range(size)])
            elif self.packed:
                xs = train[torch.stack([o[start : start + size] for o in orders])]
            else:
                xs = train[orders[0][start : start + size]]
            draws = self._draws(size)
            if self.after_update:
                block_sums, block_bad = self._steps_with_hook(xs, draws, hp)
            else:
                self.state, block_sums, block_bad = self.runner(
                    self.state, xs, draws, hp, self.active
                )
            for part in block_sums:
                for k, v in part.items():
                    sums[k] = sums[k] + v if k in sums else v
            for b in block_bad:
                bad = bad | b
        return self._result(sums, bad, steps)

    def _steps_with_hook(
        self, xs: torch.Tensor, draws: Draws, hp: dict[str, torch.Tensor]
    ) -> tuple[list[dict[str, torch.Tensor]], list[torch.Tensor]]:
        """One step at a time, each followed by the family's own update on the module
        (its random draws from the member's generator)."""
        model, sums, bad = self.models[0], [], []
        for u in range(xs.shape[0]):
            one = {k: v[u : u + 1] for k, v in draws.items()}
            self.state, (parts,), (b,) = self.runner.eager_call(
                self.state, xs[u : u + 1], one, hp, self.active
            )
            self.member(0)
            parts.update(model.after_step(xs[u], None, generator=self.generators[0]))
            sums.append(parts)
            bad.append(b)
        return sums, bad

    def _result(self, sums: dict[str, torch.Tensor], bad: torch.Tensor, steps: int) -> EpochResult:
        keys = list(sums)
        if not keys:
            return EpochResult([{} for _ in self.trials], bad.tolist())
        values = torch.stack([sums[k].float().reshape(-1) for k in keys]) / max(1, steps)
        means = [
            {f"train_{k}": v for k, v in zip(keys, row, strict=True)} for row in values.T.tolist()
        ]
        return EpochResult(means, [bool(b) for b in bad.reshape(-1).tolist()])

    # -- members ---------------------------------------------------------------------------

    def member(self, i: int) -> AutoencoderModel:
        """Member i's own module holding its current parameters and buffers."""
        params, buffers = self.state["params"], self.state["buffers"]
        if self.packed:
            params, buffers = _row(params, i), _row(buffers, i)
        load_network_state(self.models[i], params, buffers)
        return self.models[i]

    def deactivate(self, i: int) -> None:
        self.active[i] = False

    def epoch_metrics(self) -> dict[str, float]:
        """``compile_seconds`` in the epoch that compiled (the first compiled call's time)."""
        seconds, self._compile_reported = self.runner.compile_seconds, True
        if seconds is None or self._compile_logged:
            return {}
        self._compile_logged = True
        return {"compile_seconds": seconds}

    # -- checkpoints -----------------------------------------------------------------------

    def save(self, folder: Path, epoch: int) -> None:
        extra = [m.extra_state_dict() for m in self.models]
        stacked = self.state if self.packed else tree_map(lambda t: t.unsqueeze(0), self.state)
        torch.save(
            {
                "format": STATE_FORMAT,
                "epoch": epoch,
                "members": self.ids,
                "state": tree_map(lambda t: t.detach().cpu(), stacked),
                "generators": torch.stack([g.get_state() for g in self.generators]),
                "active": self.active.cpu(),
                "extra": extra,
            },
            folder / STATE_FILE,
        )
        (folder / MEMBERS_FILE).write_text(json.dumps({"members": self.ids, "epoch": epoch}))

    def load(self, folder: Path) -> int | None:
        """Restore the rows of these members from a checkpoint that holds them all (a trial's
        or a pack's); returns its epoch, or None when the folder holds no state of this
        format (an older checkpoint: the caller starts over)."""
        path = folder / STATE_FILE
        if not path.exists():
            return None
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved.get("format") != STATE_FORMAT:
            return None
        index = torch.tensor([saved["members"].index(i) for i in self.ids])
        rows = tree_map(lambda t: t.index_select(0, index).to(self.device), saved["state"])
        self.state = rows if self.packed else _row(rows, 0)
        for g, s in zip(self.generators, saved["generators"].index_select(0, index), strict=True):
            g.set_state(s.clone())  # its own storage: set_state ignores a view's offset
        self.active = saved["active"].index_select(0, index).to(self.device)
        for model, i in zip(self.models, index.tolist(), strict=True):
            model.load_extra_state_dict(saved["extra"][i])
        return int(saved["epoch"])
