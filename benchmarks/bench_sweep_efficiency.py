"""Sweep efficiency: 8 one-epoch trials through Ray on this machine against the ideal.

The ideal is the sum of the same trials' times run inline (one after another in this
process) divided by the number of CPUs; Ray's start-up (ray.init) is reported apart. Trials:
WAE-MMD, the MoW MNIST MLP, minibatch 64, 8 learning rates, one epoch on an MNIST subset.
Usage: python benchmarks/bench_sweep_efficiency.py [--train-size 20000] [--trials 8] [--epochs 1]
(``--epochs 5`` shows how the fixed per-worker start is amortised by longer trials.)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from aesweep.sweeps.plan import plan  # noqa: E402
from aesweep.sweeps.spec import SweepSpec  # noqa: E402
from aesweep.sweeps.submission import run_sweep  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO.parent / "shared" / "data"


def spec(
    tmp: str, name: str, n_trials: int, train_size: int, root: str, epochs: int = 1
) -> SweepSpec:
    lrs = [1e-3 * (0.8**i) for i in range(n_trials)]
    return SweepSpec.model_validate(
        {
            "name": name,
            "data": {"dataset": "mnist", "root": root, "train_size": train_size},
            "models": [{"family": "wae_mmd", "latent_dim": 20}],
            "strategies": [{"kind": "minibatch", "batch_size": 64}],
            "optimizer": {"name": "adam", "lr": lrs},
            "epochs": epochs,
            "tracking": {"uri": f"sqlite:///{tmp}/{name}.db", "storage": f"{tmp}/runs"},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--train-size", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=1, help="per trial (the goal: 1)")
    parser.add_argument("--root", default=str(DATA_ROOT))
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        s_inline = spec(tmp, "inline", args.trials, args.train_size, args.root, args.epochs)
        t0 = time.perf_counter()
        out = run_sweep(s_inline, plan(s_inline), "bench", inline=True)
        inline_s = time.perf_counter() - t0
        assert out.ok

        import ray

        t0 = time.perf_counter()
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level="ERROR")
        init_s = time.perf_counter() - t0
        s_ray = spec(tmp, "ray", args.trials, args.train_size, args.root, args.epochs)
        t0 = time.perf_counter()
        out = run_sweep(s_ray, plan(s_ray), "bench")
        ray_s = time.perf_counter() - t0
        assert out.ok
        ray.shutdown()
    ideal = inline_s / cpus
    print(f"{args.trials} trials x {args.epochs} epochs, MNIST {args.train_size}, {cpus} CPUs")
    print("| run | wall s | vs ideal |")
    print("|---|---|---|")
    print(f"| inline, one after another | {inline_s:.1f} | |")
    print(f"| ideal = inline / {cpus} | {ideal:.1f} | 1.00 |")
    print(f"| Ray Tune (after start-up) | {ray_s:.1f} | {ray_s / ideal:.2f} |")
    print(f"| Ray start-up (ray.init) | {init_s:.1f} | |")


if __name__ == "__main__":
    main()
