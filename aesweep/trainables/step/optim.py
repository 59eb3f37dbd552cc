"""The optimisers as pure functions: (parameters, gradients, state, hyperparameters) ->
(new parameters, new state), written once for one member.

A pack runs the same function under ``torch.func.vmap`` with each hyperparameter an (N,)
tensor; a compiled step fuses it with the forward and backward. The update of a member is
``torch.optim.SGD`` / ``torch.optim.Adam`` with their default flags (no Nesterov, no
dampening, no AMSGrad, not maximising), up to floating-point reassociation (tested member by
member against ``torch.optim`` in float64). The lr schedule is applied by the caller, once per
epoch, through ``hp["lr"]`` (aesweep/config/optimizer.py: ``schedule.factor``).

SGD keeps a momentum buffer that starts at zero: ``buf = m·buf + g`` then equals torch's
first-step ``buf = g``, and with ``m = 0`` the buffer is the gradient, torch's momentum-free
step. Adam keeps its step count as a float64 tensor (its bias corrections are computed in
float64, as torch computes them in Python floats).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch

from aesweep.config.optimizer import OptimizerConfig

Tensors = dict[str, torch.Tensor]
OptState = dict[str, Tensors]


def _decayed(
    g: torch.Tensor, p: torch.Tensor, hp: Mapping[str, torch.Tensor], decay: bool
) -> torch.Tensor:
    return g + hp["weight_decay"].to(p.dtype) * p if decay else g


def sgd_init(params: Tensors) -> OptState:
    return {"momentum": {k: torch.zeros_like(p) for k, p in params.items()}}


def sgd_update(
    params: Tensors,
    grads: Tensors,
    state: OptState,
    hp: Mapping[str, torch.Tensor],
    *,
    momentum: bool = True,
    decay: bool = True,
) -> tuple[Tensors, OptState]:
    """One ``torch.optim.SGD(lr, momentum, weight_decay)`` step. ``momentum``/``decay``
    False: every member's value is 0 (the terms are left out; the buffer stays zero)."""
    new_params, new_buf = {}, {}
    for k, p in params.items():
        d = _decayed(grads[k], p, hp, decay)
        buf = hp["momentum"].to(p.dtype) * state["momentum"][k] + d if momentum else d
        new_buf[k] = buf if momentum else state["momentum"][k]
        new_params[k] = p - hp["lr"].to(p.dtype) * buf
    return new_params, {"momentum": new_buf}


ADAM_EPS = 1e-8


def adam_init(params: Tensors) -> OptState:
    like = next(iter(params.values()))
    return {
        "exp_avg": {k: torch.zeros_like(p) for k, p in params.items()},
        "exp_avg_sq": {k: torch.zeros_like(p) for k, p in params.items()},
        "step": {"count": torch.zeros((), dtype=torch.float64, device=like.device)},
    }


def adam_update(
    params: Tensors,
    grads: Tensors,
    state: OptState,
    hp: Mapping[str, torch.Tensor],
    *,
    momentum: bool = True,
    decay: bool = True,
) -> tuple[Tensors, OptState]:
    """One ``torch.optim.Adam(lr, betas, eps=1e-8, weight_decay)`` step (bias-corrected)."""
    t = state["step"]["count"] + 1
    beta1, beta2 = hp["beta1"].to(torch.float64), hp["beta2"].to(torch.float64)
    bc1 = 1 - beta1**t
    bc2_sqrt = torch.sqrt(1 - beta2**t)
    step_size = hp["lr"].to(torch.float64) / bc1
    new_params, new_m, new_v = {}, {}, {}
    for k, p in params.items():
        d = _decayed(grads[k], p, hp, decay)
        b1, b2 = beta1.to(p.dtype), beta2.to(p.dtype)
        m = state["exp_avg"][k].lerp(d, 1 - b1)
        v = state["exp_avg_sq"][k] * b2 + (1 - b2) * d * d
        denom = v.sqrt() / bc2_sqrt.to(p.dtype) + ADAM_EPS
        new_params[k] = p - step_size.to(p.dtype) * m / denom
        new_m[k], new_v[k] = m, v
    return new_params, {"exp_avg": new_m, "exp_avg_sq": new_v, "step": {"count": t}}


@dataclass(frozen=True)
class FunctionalOptimizer:
    """A functional optimiser: its state's initial value and its update (reading the
    hyperparameters of :func:`hyperparameters` from ``hp``)."""

    init: Callable[[Tensors], OptState]
    update_fn: Callable[..., tuple[Tensors, OptState]]
    momentum: bool = True
    decay: bool = True

    def update(
        self, params: Tensors, grads: Tensors, state: OptState, hp: Mapping[str, torch.Tensor]
    ) -> tuple[Tensors, OptState]:
        return self.update_fn(params, grads, state, hp, momentum=self.momentum, decay=self.decay)

    def for_members(self, configs: Sequence[OptimizerConfig]) -> FunctionalOptimizer:
        """The same update with the terms every member leaves at zero left out (SGD's
        momentum, weight decay): fewer ops a step, the same numbers."""
        return replace(
            self,
            momentum=any(c.momentum != 0 for c in configs),
            decay=any(c.weight_decay != 0 for c in configs),
        )


FUNCTIONAL_OPTIMIZERS: dict[str, FunctionalOptimizer] = {
    "sgd": FunctionalOptimizer(sgd_init, sgd_update),
    "adam": FunctionalOptimizer(adam_init, adam_update),
}
"""The functional form of each ``optimizer.name`` (aesweep/config/optimizer.py registers the
names; aesweep/trainables/optimizers.py the ``torch.optim`` form the eager-only paths use)."""


def hyperparameters(cfg: OptimizerConfig, lr: float) -> dict[str, float]:
    """The per-member values the updates read (``lr`` with this epoch's schedule applied)."""
    return {
        "lr": lr,
        "momentum": cfg.momentum,
        "beta1": cfg.betas[0],
        "beta2": cfg.betas[1],
        "weight_decay": cfg.weight_decay,
    }
