"""What MLflow system metrics cost a trial: one sample's time, and a training loop with and
without the monitor.

1. One sample, as the monitor's thread takes it (CPU, disk and network figures from psutil,
   GPU ones when there is one; the run's status read back; the batch logged into a SQLite
   store): wall and thread-CPU milliseconds, median over ``--samples``. Its share of a trial
   is that time divided by the sampling interval.
2. A CPU-bound PyTorch loop (an MLP autoencoder step, one thread, the trial's allocation) for
   ``--steps`` steps, without the monitor and with it at ``--interval`` and at a 0.1 s interval
   (a hundred times MLflow's rate), alternated, median of ``--repeat``.

Usage: python benchmarks/bench_system_metrics.py [--interval 10] [--samples 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from aesweep.tracking.store import SweepStore, TrialRun
from aesweep.tracking.system_metrics import _monitor, system_metrics


def _run(root: Path) -> tuple[str, str]:
    store = SweepStore(f"sqlite:///{root / 'mlflow.db'}", "bench")
    parent = store.open_parent("bench", "h", "spec", "summary")
    run_id = store.create_trial_run(parent, "t", "t", {}, "g")
    TrialRun(store.uri, run_id).start()
    return store.uri, run_id


def one_sample_ms(uri: str, run_id: str, samples: int) -> tuple[float, float]:
    """Median wall and thread-CPU ms of one monitor cycle (collect, status read, log)."""
    from mlflow.tracking import MlflowClient

    monitor = _monitor([run_id], uri, 10.0)
    client = MlflowClient(tracking_uri=uri)
    walls, cpus = [], []
    for _ in range(samples):
        w0, c0 = time.perf_counter(), time.thread_time()
        monitor.collect_metrics()
        client.get_run(run_id)
        monitor.publish_metrics(monitor.aggregate_metrics())
        monitor.mlflow_logger.flush()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.thread_time() - c0)
    return 1000 * statistics.median(walls), 1000 * statistics.median(cpus)


def train_loop(steps: int) -> float:
    """Seconds for ``steps`` Adam steps of a 784-200-200-20 MLP autoencoder, batch 64."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 200),
        torch.nn.ReLU(),
        torch.nn.Linear(200, 200),
        torch.nn.ReLU(),
        torch.nn.Linear(200, 20),
        torch.nn.Linear(20, 200),
        torch.nn.ReLU(),
        torch.nn.Linear(200, 784),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(64, 784)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = (net(x) - x).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--interval", type=float, default=10.0, help="the sampling interval, s")
    p.add_argument("--samples", type=int, default=50)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        uri, run_id = _run(Path(tmp))
        wall, cpu = one_sample_ms(uri, run_id, args.samples)
        print(f"one sample: {wall:.1f} ms wall, {cpu:.1f} ms CPU (median of {args.samples})")
        for interval in (args.interval, 1.0, 0.1):
            print(f"  at {interval:g} s: {100 * wall / 1000 / interval:.3f} % of a trial's time")
        times: dict[str, list[float]] = {"off": [], f"{args.interval:g} s": [], "0.1 s": []}
        train_loop(200)  # warm-up
        for _ in range(args.repeat):
            for label in times:
                uri, run_id = _run(Path(tempfile.mkdtemp(dir=tmp)))
                interval = None if label == "off" else float(label.removesuffix(" s"))
                with system_metrics(uri, [run_id], interval):
                    times[label].append(train_loop(args.steps))
        base = statistics.median(times["off"])
        print(f"training loop, {args.steps} steps, median of {args.repeat}:")
        for label, values in times.items():
            median = statistics.median(values)
            print(f"  monitor {label:>6}: {median:.2f} s ({100 * (median / base - 1):+.2f} %)")


if __name__ == "__main__":
    main()
