"""Trial overhead: steps/s of the aesweep trainable against a bare PyTorch loop.

Both train WAE-MMD on the moving-window paper's MNIST MLP (784-200-200-200-20, mirror,
sigmoid), minibatch 64, Adam, the same data tensor, on the same device and thread count, one
after the other in this process. The trainable runs inline with evaluation (every 5 epochs,
2,000 latent samples) and MLflow logging (a temporary SQLite store) at their defaults; its
figure is the whole trial's wall time, start-up (data load, model build, MLflow) reported
apart. Usage: python benchmarks/bench_trial_overhead.py [--epochs 3] [--train-size N]
[--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from aesweep.data.config import MNISTConfig
from aesweep.data.loading import load_dataset
from aesweep.distances import mmd_imq
from aesweep.models.architectures.mlp import MLPAutoencoder
from aesweep.sweeps.plan import plan
from aesweep.sweeps.prepare import payload, prepare
from aesweep.sweeps.spec import SweepSpec
from aesweep.trainables.entry import inline_trainable

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO.parent / "shared" / "data"


def bare_loop(train: torch.Tensor, epochs: int, lr: float, seed: int) -> tuple[int, float]:
    """The physical limit: the same model and objective in a hand-written loop."""
    torch.manual_seed(seed)
    net = MLPAutoencoder(tuple(train.shape[1:]), 20).to(train.device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps, n = 0, 64
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(train), device=train.device)
        for start in range(0, len(train) - n + 1, n):
            x = train[order[start : start + n]]
            z = net.encoder(x)
            x_hat = net.decoder(z)
            rec = (x - x_hat).pow(2).flatten(1).sum(1).mean().sqrt()
            loss = rec + mmd_imq(z, torch.randn_like(z), c_base=2.0 * 20)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    if train.is_cuda:
        torch.cuda.synchronize()
    return steps, time.perf_counter() - t0


def trainable(
    root: str, epochs: int, train_size: int | None, lr: float, device: str
) -> tuple[int, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = SweepSpec.model_validate(
            {
                "name": "bench",
                "data": {"dataset": "mnist", "root": root, "train_size": train_size},
                "models": [{"family": "wae_mmd", "latent_dim": 20, "architecture": "mlp"}],
                "strategies": [{"kind": "minibatch", "batch_size": 64}],
                "optimizer": {"name": "adam", "lr": lr},
                "epochs": epochs,
                "tracking": {"uri": f"sqlite:///{tmp}/mlflow.db", "storage": f"{tmp}/runs"},
            }
        )
        trials = plan(spec)
        prep = prepare(spec, trials, "bench")
        body = payload(prep, trials[0], threads=torch.get_num_threads(), use_gpu=device == "cuda")
        body["inline_dir"] = f"{tmp}/runs/inline"
        t_load = time.perf_counter()
        n = len(load_dataset(trials[0].data).train)
        load_s = time.perf_counter() - t_load
        t0 = time.perf_counter()
        assert inline_trainable(body) == "finished"
        wall = time.perf_counter() - t0
    return (n // 64) * epochs, wall, load_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--root", default=str(DATA_ROOT))
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = MNISTConfig(root=args.root, train_size=args.train_size)
    train = load_dataset(cfg).train.to(args.device)
    lr = 1e-3
    bare_loop(train[:640], 1, lr, seed=0)  # warm-up: allocator, kernels
    runs_b, runs_t = [], []
    for _ in range(args.repeat):  # alternate, so both see the same machine load
        runs_b.append(bare_loop(train, args.epochs, lr, seed=0))
        runs_t.append(trainable(args.root, args.epochs, args.train_size, lr, args.device))
    steps = runs_b[0][0]
    assert all(r[0] == steps for r in runs_b + runs_t)
    wall_b = statistics.median(r[1] for r in runs_b)
    wall_t = statistics.median(r[1] for r in runs_t)
    load_s = statistics.median(r[2] for r in runs_t)
    bare, whole, steady = steps / wall_b, steps / wall_t, steps / max(1e-9, wall_t - load_s)
    print(
        f"device {args.device}, {args.threads} thread(s), MNIST train {len(train)}, "
        f"{args.epochs} epochs, median of {args.repeat}"
    )
    print("| loop | steps | wall s | steps/s | ratio to bare |")
    print("|---|---|---|---|---|")
    print(f"| bare PyTorch | {steps} | {wall_b:.2f} | {bare:.1f} | 1.00 |")
    print(f"| aesweep trial (all) | {steps} | {wall_t:.2f} | {whole:.1f} | {whole / bare:.2f} |")
    print(
        f"| aesweep trial (less {load_s:.2f} s data load) | {steps} | {wall_t - load_s:.2f} "
        f"| {steady:.1f} | {steady / bare:.2f} |"
    )


if __name__ == "__main__":
    main()
