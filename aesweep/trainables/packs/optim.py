"""Optimisers over stacked parameters with per-member hyperparameters (trial packs).

Every tensor a pack steps has the members along dimension 0 (``torch.func.stack_module_state``);
each hyperparameter is an (N,) tensor, broadcast over a member's slice. The update of member i
is exactly ``torch.optim.SGD`` / ``torch.optim.Adam`` (default flags: no Nesterov, no dampening,
no AMSGrad, not maximising) with member i's ``lr``, ``momentum``, ``betas`` and
``weight_decay``, up to floating-point reassociation (tested member by member in float64).

``active`` masks members out: a masked member's parameters and optimiser state stay as they
were (a diverged member of a pack), whatever its gradient holds (NaN included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from aesweep.config.optimizer import OptimizerConfig


def _all_active(active: torch.Tensor | None) -> bool:
    """No member masked (a host read of N booleans: one sync a step on a GPU)."""
    return active is None or bool(active.all())


def _fresh(t: torch.Tensor, copy: bool) -> torch.Tensor:
    """``t`` to update in place, or a copy of it (a masked step keeps the old rows)."""
    return t.clone() if copy else t


def _per_member(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(N,) values shaped to broadcast over ``like`` (N, ...)."""
    return values.view(-1, *([1] * (like.dim() - 1)))


class PackedOptimizer:
    """Base: ``lr`` (N,) is set per epoch from each member's base rate and schedule."""

    def __init__(self, params: Sequence[torch.Tensor], configs: Sequence[OptimizerConfig]) -> None:
        self.params = list(params)
        self.configs = list(configs)
        like = self.params[0]
        self.base_lr = torch.tensor([c.lr for c in configs], dtype=like.dtype, device=like.device)
        self.lr = self.base_lr.clone()
        self.weight_decay = self._tensor([c.weight_decay for c in configs])
        self.decays = any(c.weight_decay != 0 for c in configs)

    def _tensor(self, values: Sequence[float]) -> torch.Tensor:
        like = self.params[0]
        return torch.tensor(list(values), dtype=like.dtype, device=like.device)

    def set_epoch(self, epoch: int) -> list[float] | None:
        """Each member's rate for ``epoch`` from ``optimizer.schedule`` (None: no schedule,
        the base rates stay)."""
        if all(c.schedule is None for c in self.configs):
            return None
        rates = [
            c.lr * (1.0 if c.schedule is None else c.schedule.factor(epoch)) for c in self.configs
        ]
        self.lr = self._tensor(rates)
        return rates

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], active: torch.Tensor | None = None) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None

    @staticmethod
    def _keep(active: torch.Tensor | None, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        if active is None:
            return new
        return torch.where(_per_member(active, new), new, old)


class PackedSGD(PackedOptimizer):
    """``torch.optim.SGD(lr, momentum, weight_decay)`` per member. A member with momentum 0
    keeps a buffer equal to its gradient, which gives torch's momentum-free update exactly."""

    def __init__(self, params: Sequence[torch.Tensor], configs: Sequence[OptimizerConfig]) -> None:
        super().__init__(params, configs)
        self.momentum = self._tensor([c.momentum for c in configs])
        self.use_momentum = any(c.momentum != 0 for c in configs)
        self.buffers: list[torch.Tensor] | None = None

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], active: torch.Tensor | None = None) -> None:
        # In place when every member is active (the usual step); with a member masked the
        # same arithmetic on copies, the masked rows then kept as they were.
        masked = not _all_active(active)
        first = self.buffers is None and self.use_momentum
        if first:
            self.buffers = []
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            d = self._decayed(g, p)
            if self.use_momentum:
                assert self.buffers is not None
                if first:
                    self.buffers.append(d.clone())
                else:
                    old = self.buffers[i]
                    buf = _fresh(old, masked).mul_(_per_member(self.momentum, p)).add_(d)
                    self.buffers[i] = self._keep(active, buf, old) if masked else buf
                d = self.buffers[i]
            new = _fresh(p, masked).addcmul_(d, _per_member(self.lr, p), value=-1)
            if masked:
                p.copy_(self._keep(active, new, p))

    def _decayed(self, g: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return g + _per_member(self.weight_decay, p) * p if self.decays else g

    def state_dict(self) -> dict[str, Any]:
        return {"buffers": self.buffers}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        buffers = state.get("buffers")
        self.buffers = None if buffers is None else [b.to(self.params[0].device) for b in buffers]


class PackedAdam(PackedOptimizer):
    """``torch.optim.Adam(lr, betas, eps=1e-8, weight_decay)`` per member (bias-corrected,
    the step count shared: every active member steps together)."""

    eps = 1e-8

    def __init__(self, params: Sequence[torch.Tensor], configs: Sequence[OptimizerConfig]) -> None:
        super().__init__(params, configs)
        self.beta1 = self._tensor([c.betas[0] for c in configs])
        self.beta2 = self._tensor([c.betas[1] for c in configs])
        self.steps = torch.zeros(len(configs), dtype=self.params[0].dtype)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], active: torch.Tensor | None = None) -> None:
        keep = torch.ones_like(self.steps, dtype=torch.bool) if active is None else active.cpu()
        self.steps = self.steps + keep.to(self.steps.dtype)
        t = self.steps.to(self.params[0].device)
        bc1 = 1 - self.beta1**t
        bc2_sqrt = torch.sqrt(1 - self.beta2**t)
        step_size = self.lr / bc1
        masked = not _all_active(active)  # as in PackedSGD.step: in place unless masked
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            d = g + _per_member(self.weight_decay, p) * p if self.decays else g
            b1, b2 = _per_member(self.beta1, p), _per_member(self.beta2, p)
            old_m, old_v = self.exp_avg[i], self.exp_avg_sq[i]
            m = _fresh(old_m, masked).lerp_(d, 1 - b1)
            v = _fresh(old_v, masked).mul_(b2).addcmul_((1 - b2) * d, d)
            denom = (v.sqrt() / _per_member(bc2_sqrt, p)).add_(self.eps)
            new = _fresh(p, masked).addcdiv_(_per_member(step_size, p) * m, denom, value=-1)
            if masked:
                self.exp_avg[i] = self._keep(active, m, old_m)
                self.exp_avg_sq[i] = self._keep(active, v, old_v)
                p.copy_(self._keep(active, new, p))

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.params[0].device
        self.steps = state["steps"].cpu()
        self.exp_avg = [t.to(device) for t in state["exp_avg"]]
        self.exp_avg_sq = [t.to(device) for t in state["exp_avg_sq"]]


PACKED_OPTIMIZERS: dict[str, type[PackedOptimizer]] = {"sgd": PackedSGD, "adam": PackedAdam}
"""The vectorized counterpart of each ``optimizer.name`` (aesweep/trainables/optimizers.py)."""


def build_packed_optimizer(
    params: Sequence[torch.Tensor], configs: Sequence[OptimizerConfig]
) -> PackedOptimizer:
    names = {c.name for c in configs}
    if len(names) != 1:
        raise ValueError(f"a pack's members share one optimiser, got {sorted(names)}")
    return PACKED_OPTIMIZERS[names.pop()](params, configs)
