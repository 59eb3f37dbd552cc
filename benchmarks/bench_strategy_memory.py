"""Peak memory of one training step under the training strategies (MoW §3, RSR §3.4).

1. ``moving_window(64, k)``, k in {64, 8, 1}: CWAE on the ``dcgan`` architecture with 64x64x3
   images (latent 64). Goal: k = 1 uses under 1/10 of k = 64's activation memory.
2. ``run_sort_rerun(b = 16,384, m = 64)`` against ``minibatch(64)`` of the same SWAE network
   (goal: within 1.25x) and against the full batch ``minibatch(b)``, measured at b in {64, 256,
   1024} and extrapolated linearly to 16,384 (that one step would not fit a shared machine).

Every figure is one optimiser step taken after a warm-up step (so optimiser state and gradients
exist), measured two ways:

- activation: the peak of bytes of tensors saved for backward that are alive at the same time
  (``torch.autograd.graph.saved_tensors_hooks``; storages counted once, parameters excluded);
  for Run-Sort-ReRun this is one chunk's graph, freed by its backward before the next chunk;
- allocated: the peak, over the step, of bytes the CPU allocator handed out since the step began
  and had not yet freed (``torch.profiler`` memory events, cumulative): activations,
  temporaries, gradients and, for Run-Sort-ReRun, the b stored latents, prior sample, matched
  targets and per-image errors.

On CPU the networks are scaled down (``--width``, default 0.125 of the paper's channels) so the
b = 16,384 run finishes in minutes on 2 cores; the ratios are what the goals are about.

Usage::

    python benchmarks/bench_strategy_memory.py            # the figures of benchmarks/README.md
    python benchmarks/bench_strategy_memory.py --quick    # b = 1,024: a smoke run
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import torch

if __package__ in (None, ""):  # run as a script from anywhere: make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aesweep.catalog import (
    MODELS,  # noqa: E402
    STRATEGIES,  # noqa: E402
)
from aesweep.config.trial import TrialConfig  # noqa: E402
from aesweep.data.base import TensorDataset  # noqa: E402
from aesweep.models.base import AutoencoderModel  # noqa: E402
from aesweep.models.loading import build_model  # noqa: E402
from aesweep.strategies.base import Strategy  # noqa: E402
from aesweep.strategies.loading import build_strategy  # noqa: E402
from aesweep.strategies.running_stats import RunningStatistics  # noqa: E402
from aesweep.trainables.step.members import SteppedMembers  # noqa: E402

IMAGE = (3, 64, 64)
LATENT = 64
MIB = 2**20


class _Saved:
    """What the pack hook hands autograd: the tensor, and a finaliser when the graph drops it."""

    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor


class SavedTensorMeter:
    """Peak bytes of tensors saved for backward alive at once (storages counted once)."""

    def __init__(self, params: Iterable[torch.Tensor]) -> None:
        self.params = {p.untyped_storage().data_ptr() for p in params}
        self.live: dict[int, list[int]] = {}
        self.current = self.peak = 0

    def _pack(self, t: torch.Tensor) -> Any:
        key = t.untyped_storage().data_ptr()
        if key in self.params or t.device.type == "meta":
            return t
        entry = self.live.get(key)
        if entry is None:
            entry = self.live[key] = [0, t.untyped_storage().nbytes()]
            self.current += entry[1]
            self.peak = max(self.peak, self.current)
        entry[0] += 1
        saved = _Saved(t)
        weakref.finalize(saved, self._release, key)
        return saved

    def _release(self, key: int) -> None:
        entry = self.live[key]
        entry[0] -= 1
        if entry[0] == 0:
            self.current -= entry[1]
            del self.live[key]

    @staticmethod
    def _unpack(saved: Any) -> torch.Tensor:
        return saved.tensor if isinstance(saved, _Saved) else saved

    def hooks(self) -> torch.autograd.graph.saved_tensors_hooks:
        return torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)


def allocated_peak(fn: Callable[[], None]) -> int:
    """Peak of bytes allocated during ``fn`` and not yet freed (CPU allocator, profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU
    ]
    current = peak = 0
    for _, nbytes in sorted(events):
        current += nbytes
        peak = max(peak, current)
    return peak


def build(
    family: str, strategy: dict[str, Any], *, width: float, train: torch.Tensor, seed: int = 0
) -> tuple[AutoencoderModel, torch.optim.Optimizer, Strategy]:
    torch.manual_seed(seed)
    data = TensorDataset("bench", train, train[:8])
    fields = {"latent_dim": LATENT, "architecture": "dcgan", "width": width}
    model = build_model(MODELS.get(family).model_validate(fields), data)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    cfg = STRATEGIES.get(strategy["kind"]).model_validate(strategy)
    return model, optimizer, build_strategy(cfg, model, train, epochs=10)


def stepped_epoch(
    family: str, strategy: dict[str, Any], *, width: float, train: torch.Tensor, seed: int = 0
) -> tuple[SteppedMembers, Callable[[], object]]:
    """A trial of a set strategy as the one step (eager) and one epoch of it on ``train``."""
    trial = TrialConfig.model_validate(
        {
            "trial_id": "bench",
            "sweep": "bench",
            "data": {"dataset": "digits"},
            "model": {
                "family": family,
                "latent_dim": LATENT,
                "architecture": "dcgan",
                "width": width,
            },
            "strategy": strategy,
            "optimizer": {"name": "adam", "lr": 1e-4},
            "epochs": 10,
            "seed": seed,
            "evaluation": {},
            "checkpoint": {},
        }
    )
    members = SteppedMembers([trial], TensorDataset("bench", train, train[:8]), train.device)
    return members, lambda: members.train_epoch(1, first=True)


def measure(
    params: Callable[[], Iterable[torch.Tensor]],
    step: Callable[[], None],
    warmup: Callable[[], None] | None = None,
) -> dict[str, float]:
    """A warm-up step (``warmup``, default ``step``), then one measured step: activation and
    allocated peaks in MiB (``params()``: the parameters then, not counted as activations)."""
    (warmup or step)()
    gc.collect()
    meter = SavedTensorMeter(params())

    def measured() -> None:
        with meter.hooks():
            step()

    allocated = allocated_peak(measured)
    return {"activation": meter.peak / MIB, "allocated": allocated / MIB}


def images(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *IMAGE, generator=g)


def moving_window_rows(width: float, window: int = 64) -> list[dict[str, Any]]:
    rows = []
    for k in (64, 8, 1):
        train = images(k)  # one step of k new images per epoch call
        spec = {"kind": "moving_window", "window": window, "fresh": k}
        members, epoch = stepped_epoch("cwae", spec, width=width, train=train)
        figures = measure(lambda m=members: m.state["params"].values(), epoch)
        rows.append({"strategy": f"moving_window({window}, {k})", **figures})
    return rows


def sliced_family() -> str:
    return "swae" if "swae" in MODELS else "ae"


def rsr_rows(width: float, big: int, chunk: int = 64) -> list[dict[str, Any]]:
    family = sliced_family()
    pool = images(256, seed=1)  # the b images of a step are drawn (with repeats) from a pool
    rows = []
    for b in (64, 256, 1024):
        train = images(b, seed=2)
        members, epoch = stepped_epoch(family, {"kind": "minibatch", "batch_size": b},
                                       width=width, train=train)  # fmt: skip
        figures = measure(lambda m=members: m.state["params"].values(), epoch)
        rows.append({"strategy": f"minibatch({b})", "b": b, **figures})
    spec = {"kind": "run_sort_rerun", "effective_batch": big, "chunk": chunk, "projections": 50}
    model, opt, strat = build(family, spec, width=width, train=pool)
    model.train()
    index = torch.arange(big) % len(pool)
    stats = RunningStatistics(model)
    figures = measure(
        model.parameters,
        lambda: strat.step(model, opt, pool, index, stats),
        warmup=lambda: strat.step(model, opt, pool, index[:chunk], stats),  # one chunk
    )
    rows.append({"strategy": f"run_sort_rerun({big}, {chunk})", "b": big, **figures})
    return rows


def extrapolate(rows: list[dict[str, Any]], key: str, b: int) -> float:
    """Least-squares line through the measured full batches, evaluated at b."""
    pts = [(r["b"], r[key]) for r in rows if r["strategy"].startswith("minibatch")]
    n = len(pts)
    mx, my = sum(p[0] for p in pts) / n, sum(p[1] for p in pts) / n
    slope = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)
    return my + slope * (b - mx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=0.125, help="dcgan channel scale")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="b = 1,024 instead of 16,384")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    big = 1024 if args.quick else 16_384
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {args.threads} threads; dcgan width {args.width}, "
          f"images {IMAGE}, latent {LATENT}")  # fmt: skip

    print("\n## moving_window(64, k): CWAE, one step")
    mow = moving_window_rows(args.width)
    print(f"{'strategy':<24} {'activation MiB':>15} {'allocated MiB':>14} {'act. / k=64':>12}")
    for r in mow:
        ratio = r["activation"] / mow[0]["activation"]
        print(
            f"{r['strategy']:<24} {r['activation']:>15.2f} {r['allocated']:>14.2f} {ratio:>12.4f}"
        )

    print(f"\n## run_sort_rerun(b = {big}, m = 64) vs minibatch: {sliced_family()}, one step")
    rsr = rsr_rows(args.width, big)
    base = rsr[0]
    print(f"{'strategy':<24} {'activation MiB':>15} {'allocated MiB':>14} {'alloc. / mb(64)':>16}")
    for r in rsr:
        ratio = r["allocated"] / base["allocated"]
        print(
            f"{r['strategy']:<24} {r['activation']:>15.2f} {r['allocated']:>14.2f} {ratio:>16.3f}"
        )
    for key in ("activation", "allocated"):
        est = extrapolate(rsr, key, big)
        print(f"minibatch({big}) {key} (extrapolated from b = 64, 256, 1024): {est:,.0f} MiB "
              f"= {est / base[key]:.0f}x minibatch(64)")  # fmt: skip


if __name__ == "__main__":
    main()
