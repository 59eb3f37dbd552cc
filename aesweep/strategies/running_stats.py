"""BatchNorm on running statistics for Run-Sort-ReRun (RSR §3.2; the authors' ``RunningBN``).

The rerun must reproduce the run exactly, so no layer may normalise with the statistics of the
chunk it happens to see: during one step every BatchNorm normalises with its running
statistics; the run's batch statistics (over all b samples) are gathered and folded into the
running statistics once, after the optimiser step, with the layer's own momentum.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class _Moments:
    """Per-channel count, mean and sum of squared deviations of a BatchNorm's inputs, merged
    chunk by chunk (Chan et al.'s parallel update, float64 per channel)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def add(self, x: torch.Tensor) -> None:
        dims = [d for d in range(x.dim()) if d != 1]
        n = x.numel() // x.shape[1]
        var, mean = torch.var_mean(x.detach(), dims, correction=0)
        mean, m2 = mean.double(), var.double() * n
        if self.mean is None or self.m2 is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta.square() * (self.count * n / total)
        self.count = total


class RunningStatistics:
    """Holds every BatchNorm of ``module`` on its running statistics while active.

    ``with stats.frozen():`` puts the BatchNorms in eval mode (restored on exit);
    ``with stats.collecting():`` also accumulates the inputs' moments; :meth:`update` folds them
    into the running mean and (unbiased) variance, as ``nn.BatchNorm`` would for one batch.
    """

    def __init__(self, module: nn.Module) -> None:
        self.norms = [m for m in module.modules() if isinstance(m, _BatchNorm)]
        self.moments: dict[int, _Moments] = {}

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        modes = [m.training for m in self.norms]
        for m in self.norms:
            m.eval()
        try:
            yield
        finally:
            for m, mode in zip(self.norms, modes, strict=True):
                m.train(mode)

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        def hook(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            self.moments.setdefault(id(module), _Moments()).add(args[0])

        handles = [m.register_forward_pre_hook(hook) for m in self.norms]
        try:
            with self.frozen():
                yield
        finally:
            for h in handles:
                h.remove()

    @torch.no_grad()
    def update(self) -> None:
        """Fold the collected moments into each layer's running statistics, then forget them."""
        for m in self.norms:
            mom = self.moments.get(id(m))
            if mom is None or mom.count < 2 or m.running_mean is None or m.running_var is None:
                continue
            assert mom.mean is not None and mom.m2 is not None
            mean, var = mom.mean, mom.m2 / (mom.count - 1)
            tracked = m.num_batches_tracked
            if tracked is not None:
                tracked.add_(1)
            factor = m.momentum
            if factor is None:  # cumulative moving average (BatchNorm tracks batches then)
                factor = 1.0 / float(tracked) if tracked is not None else 1.0
            m.running_mean.mul_(1 - factor).add_(mean.to(m.running_mean.dtype), alpha=factor)
            var = var.clamp_min(0).to(m.running_var.dtype)
            m.running_var.mul_(1 - factor).add_(var, alpha=factor)
        self.moments.clear()
