"""What runs the one step over a block of steps: eagerly (one member: the step called
directly; a pack: under ``torch.func.vmap``), or compiled (``torch.compile(fullgraph=True)``
of ``unroll`` steps at a time: Inductor's C++ wrapper on a CPU, CUDA graphs on a GPU).

A block function takes ``(state, xs, draws, hp, active)`` and returns the new state, the
sums of the steps' parts and which members saw a non-finite loss. One member: xs (U, B, ...),
draws (U, ...), hp 0-d, state unbatched, ``active`` ignored. A pack of N: xs (N, U, B, ...),
draws (N, U, ...), hp (N,), every state tensor (N, ...); a member that is not ``active``
keeps its state (a diverged member of a pack).
"""

from __future__ import annotations

import itertools
import logging
import time
import types
from collections.abc import Callable
from typing import Any, cast

import torch
from torch.func import vmap
from torch.utils._pytree import tree_map

from aesweep.trainables.step.definition import Parts, State, StepFn

log = logging.getLogger(__name__)

BlockFn = Callable[
    [State, torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor],
    tuple[State, Parts, torch.Tensor],
]


def _add(sums: Parts | None, parts: Parts) -> Parts:
    return dict(parts) if sums is None else {k: sums[k] + v for k, v in parts.items()}


def _keep(active: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def pick(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        return torch.where(active.view(-1, *([1] * (new.dim() - 1))), new, old)

    return pick


def block_function(step: StepFn, *, packed: bool) -> BlockFn:
    """U steps of one member (the step called directly), or of a pack (the step under
    ``vmap``, inactive members' state kept)."""
    call = vmap(step, randomness="error") if packed else step
    axis = 1 if packed else 0

    def run(
        state: State,
        xs: torch.Tensor,
        draws: dict[str, torch.Tensor],
        hp: dict[str, torch.Tensor],
        active: torch.Tensor,
    ) -> tuple[State, Parts, torch.Tensor]:
        sums: Parts | None = None
        bad = torch.zeros(xs.shape[:axis], dtype=torch.bool, device=xs.device)
        for u in range(xs.shape[axis]):
            at = {k: v.select(axis, u) for k, v in draws.items()}
            new, parts = call(state, xs.select(axis, u), at, hp)
            state = tree_map(_keep(active), new, state) if packed else new
            sums = _add(sums, parts)
            bad = bad | ~torch.isfinite(parts["loss"])
        assert sums is not None
        return state, sums, bad

    return run


_RUNNERS = itertools.count()


def own_code(fn: BlockFn) -> BlockFn:
    """``fn`` with a code object of its own. Dynamo keeps its compiled graphs per code
    object and counts every new closure of one code object as a recompile (8 at most, then a
    fullgraph compile fails): a worker that runs trial after trial would hit that limit, so
    each runner compiles a function Dynamo has not seen (its graphs go with the runner)."""
    code = fn.__code__.replace(co_name=f"{fn.__code__.co_name}_{next(_RUNNERS)}")
    fresh = types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)
    return cast(BlockFn, fresh)


def compile_options(device: torch.device) -> dict[str, Any]:
    """Inductor's C++ wrapper on a CPU (no Python between the kernels); CUDA graphs on a
    GPU (the only way such small networks stop being launch-bound there)."""
    if device.type == "cuda":
        return {"triton.cudagraphs": True}
    return {"cpp_wrapper": True}


class BlockRunner:
    """Runs a block of U steps: ``unroll`` at a time through the compiled block function
    (when compiled; ``traceable``, the same steps written with torch.func, is what gets
    compiled), the rest eagerly (``eager``). A compile that fails falls back to eager for the rest
    of the trial (``fallback`` says why); ``compile_seconds`` is the first compiled call's
    time (compilation included)."""

    def __init__(
        self,
        eager: BlockFn,
        *,
        traceable: BlockFn | None = None,
        compiled: bool,
        unroll: int,
        device: torch.device,
        member_axis: int,
    ) -> None:
        self.eager = eager
        self.unroll = unroll
        self.member_axis = member_axis  # the step axis of xs and draws: 0 (one member) or 1
        self.compiled: BlockFn | None = None
        if compiled:
            self.compiled = torch.compile(
                own_code(traceable or eager), fullgraph=True, options=compile_options(device)
            )
        self.compile_seconds: float | None = None
        self.fallback: str | None = None

    @property
    def executor(self) -> str:
        return "compiled" if self.compiled is not None else "eager"

    def eager_call(
        self,
        state: State,
        xs: torch.Tensor,
        draws: dict[str, torch.Tensor],
        hp: dict[str, torch.Tensor],
        active: torch.Tensor,
    ) -> tuple[State, list[Parts], list[torch.Tensor]]:
        """The block eagerly, whatever the executor (a family's per-step hook runs between)."""
        state, sums, bad = self.eager(state, xs, draws, hp, active)
        return state, [sums], [bad]

    def _slice(self, t: torch.Tensor, a: int, b: int) -> torch.Tensor:
        return t[a:b] if self.member_axis == 0 else t[:, a:b]

    def __call__(
        self,
        state: State,
        xs: torch.Tensor,
        draws: dict[str, torch.Tensor],
        hp: dict[str, torch.Tensor],
        active: torch.Tensor,
    ) -> tuple[State, list[Parts], list[torch.Tensor]]:
        steps = xs.shape[self.member_axis]
        done, all_sums, all_bad = 0, [], []
        while done < steps:
            fn, size = self.eager, steps - done
            if self.compiled is not None and steps - done >= self.unroll:
                fn, size = self.compiled, self.unroll
            a, b = done, done + size
            args = (
                state,
                self._slice(xs, a, b),
                {k: self._slice(v, a, b) for k, v in draws.items()},
                hp,
                active,
            )
            if fn is self.compiled and self.compile_seconds is None:
                state, sums, bad = self._first_compiled(args)
            else:
                state, sums, bad = fn(*args)
            all_sums.append(sums)
            all_bad.append(bad)
            done = b
        return state, all_sums, all_bad

    def _first_compiled(self, args: tuple[Any, ...]) -> tuple[State, Parts, torch.Tensor]:
        assert self.compiled is not None
        t0 = time.perf_counter()
        try:
            out = self.compiled(*args)
        except Exception as exc:  # noqa: BLE001 - any compiler failure: run eagerly instead
            self.fallback = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            log.warning("compiling the step failed, running it eagerly: %s", self.fallback)
            self.compiled = None
            self.compile_seconds = time.perf_counter() - t0
            return self.eager(*args)
        self.compile_seconds = time.perf_counter() - t0
        return out
