"""The one training step of every autoencoder family x set strategy, as a pure function of
one member's state (written once; a pack runs it under ``torch.func.vmap``, a compiled trial
under ``torch.compile``).

``step(state, x, draws, hp) -> (new state, parts)``:
- ``state``: ``params`` and ``buffers`` of the networks (BatchNorm statistics), ``optim``
  (the functional optimiser's state), ``strategy`` (moving-window store, momentum queue);
- ``x``: this step's images; ``draws``: its random inputs (the family's ``step_draws``, drawn
  outside); ``hp``: the member's values (``lr``, ``lambda``, ``momentum``, ``beta1``,
  ``beta2``, ``weight_decay``) as 0-d tensors;
- parts: ``loss``, ``rec``, ``latent`` (detached), the step's record.

Order within a step (MoW Algorithm 1; MoCA Algorithm 1): the strategy's keys (momentum
encoder, before the update), encode, decode, rec + λ F(set), the gradient of the networks'
parameters, the optimiser's update, then the strategy's state moves (store, queue, momentum
encoder) with the updated parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.func import grad_and_value

from aesweep.models.base import AutoencoderModel, Draws
from aesweep.models.functional import NetworkCalls
from aesweep.strategies.base import SetStrategy
from aesweep.trainables.step.optim import FunctionalOptimizer

State = dict[str, Any]
Parts = dict[str, torch.Tensor]
StepFn = Callable[[State, torch.Tensor, Draws, dict[str, torch.Tensor]], tuple[State, Parts]]


Objective = Callable[[dict[str, torch.Tensor]], tuple[torch.Tensor, Any]]
Gradient = Callable[[Objective], Callable[[dict[str, torch.Tensor]], Any]]


def autograd_grad_and_value(objective: Objective) -> Callable[[dict[str, torch.Tensor]], Any]:
    """``torch.func.grad_and_value(objective, has_aux=True)`` computed by plain autograd on
    leaf copies of the parameters: the same numbers with less host work per op, for the step
    of one member run eagerly (vmap and torch.compile need torch.func's)."""

    def run(params: dict[str, torch.Tensor]) -> Any:
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
        loss, aux = objective(leaves)
        grads = torch.autograd.grad(loss, list(leaves.values()))
        return dict(zip(leaves, grads, strict=True)), (loss.detach(), aux)

    return run


def functorch_grad_and_value(objective: Objective) -> Callable[[dict[str, torch.Tensor]], Any]:
    return grad_and_value(objective, has_aux=True)


def make_step(
    model: AutoencoderModel,
    strategy: SetStrategy,
    optimizer: FunctionalOptimizer,
    gradient: Gradient = functorch_grad_and_value,
) -> StepFn:
    """The step of ``model``'s family under ``strategy`` with ``optimizer``; ``gradient``:
    how the objective's gradient is taken (torch.func's, traceable by vmap and compile, or
    :func:`autograd_grad_and_value` for one member run eagerly)."""
    calls = NetworkCalls(model)
    weighted = model.cfg.latent_weight is not None

    def step(
        state: State, x: torch.Tensor, draws: Draws, hp: dict[str, torch.Tensor]
    ) -> tuple[State, Parts]:
        params, buffers, strat = state["params"], state["buffers"], state["strategy"]
        keys = strategy.keys(calls, strat, x)

        def objective(p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any]:
            b = {k: v.clone() for k, v in buffers.items()}  # BatchNorm updates these
            z = calls.encode(p, b, model.encoder_input(x, draws))
            x_hat = calls.decode(p, b, z)
            latents = strategy.latent_set(z, strat, keys)
            weight = hp["lambda"] if weighted else None
            loss, parts = model.training_loss(x, x_hat, latents, draws, weight)
            return loss, (parts, z.detach(), b)

        grads, (_, (parts, z, new_buffers)) = gradient(objective)(params)
        new_params, new_optim = optimizer.update(params, grads, state["optim"], hp)
        new_strat = strategy.advance(strat, z, keys, new_params, new_buffers)
        new_state = {
            "params": new_params,
            "buffers": new_buffers,
            "optim": new_optim,
            "strategy": new_strat,
        }
        return new_state, parts

    return step
