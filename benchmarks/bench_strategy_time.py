"""Time of one Run-Sort-ReRun step against b/m minibatch steps of the same network (RSR §3.4).

RSR(b, m) passes the same b samples through the network as b/m minibatch(m) steps, plus one
extra forward pass without gradient (the Run; here encoder and decoder, since SWAE's
reconstruction term is weighed from it) and the sort of b values per direction; the paper
counts exactly that overhead. This script times, on SWAE with the ``dcgan`` architecture
(64x64x3 images, latent 64, width ``--width`` of the paper's channels on CPU):

- one ``run_sort_rerun(b, 64)`` step;
- b/64 ``minibatch(64)`` steps (one epoch over b images);
- the Run pass alone (no-grad forward of the b images in chunks of 64) and the Sort alone;

as medians over interleaved rounds (load from other processes on a shared machine hits both
sides), and prints the ratio RSR / minibatch with the one predicted from the parts.

Usage::

    python benchmarks/bench_strategy_time.py                # b = 1,024, 3 rounds
    python benchmarks/bench_strategy_time.py --batch 4096 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch

if __package__ in (None, ""):  # run as a script from anywhere: make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aesweep.distances import random_directions  # noqa: E402
from aesweep.strategies.run_sort_rerun.strategy import run_pass, sort_targets  # noqa: E402
from aesweep.strategies.running_stats import RunningStatistics  # noqa: E402
from benchmarks.bench_strategy_memory import (  # noqa: E402
    IMAGE,
    build,
    images,
    sliced_family,
    stepped_epoch,
)


def seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1024, help="b, the effective batch")
    parser.add_argument("--chunk", type=int, default=64, help="m, the chunk = minibatch size")
    parser.add_argument("--width", type=float, default=0.125, help="dcgan channel scale")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    b, m = args.batch, args.chunk
    family = sliced_family()
    train = images(b, seed=3)
    spec = {"kind": "run_sort_rerun", "effective_batch": b, "chunk": m, "projections": 50}
    model, opt, rsr = build(family, spec, width=args.width, train=train)
    _, minibatch_epoch = stepped_epoch(family, {"kind": "minibatch", "batch_size": m},
                                       width=args.width, train=train)  # fmt: skip
    model.train()
    stats = RunningStatistics(model)
    index = torch.randperm(b)
    theta = random_directions(50, model.latent_dim)

    def run_encode_decode() -> None:
        with stats.frozen(), torch.no_grad():
            for s in range(0, b, m):
                model.decode(model.encode(train[s : s + m]))

    with stats.frozen():
        latents = run_pass(model.encode, train, m)
    prior = torch.randn_like(latents)
    cases: dict[str, Callable[[], object]] = {
        "rsr step": lambda: rsr.step(model, opt, train, index, stats),
        "minibatch steps": minibatch_epoch,
        "run pass": run_encode_decode,
        "sort": lambda: sort_targets(latents, prior, theta, 2),
    }
    for fn in cases.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            times[name].append(seconds(fn))
    med = {k: statistics.median(v) for k, v in times.items()}

    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{args.threads} threads; {family}, dcgan width {args.width}, images {IMAGE}; "
          f"b = {b}, m = {m}, {args.rounds} rounds (median)")  # fmt: skip
    for name, value in med.items():
        print(f"{name:<36} {value:8.3f} s")
    print(
        f"{'run_sort_rerun / (b/m) minibatch':<36} {med['rsr step'] / med['minibatch steps']:8.3f}"
    )
    predicted = (med["minibatch steps"] + med["run pass"] + med["sort"]) / med["minibatch steps"]
    print(f"{'predicted (minibatch + run + sort)':<36} {predicted:8.3f}")


if __name__ == "__main__":
    main()
