"""Trial packs: member-steps/s of a pack of N trials against the same N trials unpacked.

For N in --members (default 1, 3, 5, 15, 45): N trials that differ only in their learning rate
(so they share one pack key), timed as one pack (the one step under vmap) and as N unpacked trials
(each the one step called directly, stepped one after another), measured side by
side: the two alternate, --rounds times, and the median of each is printed (both the one
step, eager: the compiled step is timed by bench_step.py). Configurations:
the MoW MNIST MLP (specs/mow_mnist.yaml: 784-200-200-200-20, SGD) at k = 1 (MoW_1(64)) and
k = 64 (minibatch of 64), and the quickstart's digits MLP (specs/quickstart.yaml, Adam).

Only the training core is imported (no Ray, no MLflow): on a GPU machine run it with
``--device cuda``.
Usage: python benchmarks/bench_packs.py [--members 1,3,5,15,45] [--budget 1.0] [--rounds 2]
[--threads 1] [--device cpu|cuda] [--data-root ../shared/data]
[--family wae_mmd]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import yaml

from aesweep.config.trial import TrialConfig
from aesweep.data.loading import load_dataset
from aesweep.sweeps.load import load_plan
from aesweep.trainables.packs.timing import packed_rate, unpacked_rate

REPO = Path(__file__).resolve().parents[1]


def trials(config: str, n: int, family: str, data_root: str) -> list[TrialConfig]:
    """n trials of one pack key: the configuration's model and strategy, n learning rates."""
    lrs = [round(0.01 * 0.9**i, 8) for i in range(n)]
    if config.startswith("mow"):
        raw = yaml.safe_load((REPO / "specs" / "mow_mnist.yaml").read_text())
        fresh = 1 if config.endswith("k1") else 64
        model = next(m for m in raw["models"] if m["family"] == family)
        raw.update(
            models=[model],
            strategies=[{"kind": "moving_window", "window": 64, "fresh": fresh}],
            data={"dataset": "mnist", "root": data_root},
        )
        raw["optimizer"]["lr"] = lrs
    else:
        raw = yaml.safe_load((REPO / "specs" / "quickstart.yaml").read_text())
        raw["models"] = [m for m in raw["models"] if m["family"] == "cwae"]
        raw["optimizer"]["lr"] = lrs
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(yaml.safe_dump(raw))
        return load_plan(path)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="1,3,5,15,45")
    parser.add_argument("--configs", default="mow-k1,mow-k64,quickstart")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per measurement")
    parser.add_argument("--steps", type=int, default=400, help="most steps per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a trial's share)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--family", default="wae_mmd", help="the MoW grid's family to time")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sizes = [int(n) for n in args.members.split(",")]
    print(
        f"device {device}, {args.threads} threads, "
        f"{args.budget:g} s or {args.steps} steps per measurement, {args.rounds} rounds"
    )
    print("| configuration | N | packed member-steps/s | unpacked member-steps/s | speed-up |")
    print("|---|---:|---:|---:|---:|")
    started = time.monotonic()
    for config in args.configs.split(","):
        grid = trials(config, max(sizes), args.family, args.data_root)
        data = load_dataset(grid[0].data).to(device)
        label = {
            "mow-k1": f"MoW MNIST MLP, {args.family}, k=1",
            "mow-k64": f"MoW MNIST MLP, {args.family}, k=64",
            "quickstart": "quickstart digits MLP, cwae, batch 64",
        }[config]
        for n in sizes:
            packed, unpacked = [], []
            for _ in range(args.rounds):  # alternated: both see the same machine load
                packed.append(
                    packed_rate(grid[:n], data, device, steps=args.steps, budget_s=args.budget)
                )
                unpacked.append(
                    unpacked_rate(grid[:n], data, device, steps=args.steps, budget_s=args.budget)
                )
            p, u = statistics.median(packed), statistics.median(unpacked)
            print(f"| {label} | {n} | {p:,.0f} | {u:,.0f} | {p / u:.2f}x |", flush=True)
    print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
