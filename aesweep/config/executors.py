"""Which executor runs a trial's step, and why (torch-free: ``plan`` shows it, the trainable
follows it).

``compute.compile``: ``off`` runs the one step eagerly; ``on`` compiles it wherever the
family x strategy can be one program; ``auto`` (default) compiles where it can and the trial
runs at least :data:`AUTO_MIN_STEPS` steps (a compile takes 10-60 s once per shape on a
2-core CPU; Inductor's on-disk cache then serves later trials of the same shapes). Strategies
with a step loop of their own (Run-Sort-ReRun) and families with an update of their own after
each step (WAE-GAN's critic) run eagerly through the same epoch loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from aesweep.config.trial import TrialConfig

ONE_STEP_STRATEGIES = ("minibatch", "moving_window", "momentum_queue")
"""Strategies expressed as the one training step (aesweep/trainables/step/)."""
AUTO_MIN_STEPS = 20_000
UNROLL_MAX_IMAGES = 8
"""Steps of at most this many images are unrolled :data:`UNROLL` at a time when compiled
(their host overhead is what unrolling saves); larger steps one at a time."""
UNROLL = 8


@dataclass(frozen=True)
class Executor:
    """``eager`` or ``compiled``, the steps unrolled per compiled call, and why."""

    kind: str
    why: str
    unroll: int = 1

    @property
    def label(self) -> str:
        return f"compiled x{self.unroll}" if self.kind == "compiled" else self.kind


def _eager_reason(trial: TrialConfig) -> str | None:
    """Why the trial's step cannot be one compiled program (None: it can)."""
    model = trial.resolved_view()["model"]
    kind = trial.strategy.kind
    if kind not in ONE_STEP_STRATEGIES:
        return f"strategy {kind} keeps its own step loop (eager)"
    if model["family"] == "wae_gan":
        return "wae_gan's critic update runs eagerly after each step"
    if model.get("gamma") == "batch":
        return "cw2 with gamma: batch reads its bandwidth on the host each step"
    if trial.compute.amp:
        return "compute.amp runs eagerly"
    return None


def total_steps(trial: TrialConfig) -> int | None:
    """The trial's training steps, when the training split's size is known without loading."""
    size = trial.data.train_size_bound()
    if size is None:
        return None
    per_step = trial.strategy.images_per_step
    return trial.epochs * (size // per_step) if per_step else None


def choose_executor(trial: TrialConfig) -> Executor:
    """The executor of ``trial`` under its ``compute.compile``."""
    mode = trial.compute.compile
    if mode == "off":
        return Executor("eager", "compute.compile is off")
    blocked = _eager_reason(trial)
    if blocked is not None:
        return Executor("eager", blocked)
    unroll = UNROLL if trial.strategy.images_per_step <= UNROLL_MAX_IMAGES else 1
    if mode == "on":
        return Executor("compiled", "compute.compile is on", unroll)
    steps = total_steps(trial)
    if steps is None or steps < AUTO_MIN_STEPS:
        shown = "unknown" if steps is None else f"{steps:,}"
        return Executor("eager", f"{shown} steps: too few to repay a compile (auto)")
    return Executor("compiled", f"{steps:,} steps (auto)", unroll)
