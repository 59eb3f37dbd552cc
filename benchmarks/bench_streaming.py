"""Streamed data: one training epoch read from PNG files through DataLoader workers against the
same images held in memory (datasets too large for memory stream from disk).

The images are MNIST digits written as PNG files to a temporary folder; every run trains
WAE-MMD (the moving-window MNIST MLP, or ``--architecture``) with minibatch 64 and SGD for
one epoch, one torch thread, same seed (so every run sees the same batches). Reported: epoch
seconds and images/s for in-memory and for 0, 1, 2 workers, and the ratio to in-memory,
alternated over rounds.
Usage: python benchmarks/bench_streaming.py [--images 20000] [--rounds 3]
       [--size 64 --channels 3 --architecture dcgan --width 0.25]  (CelebA-shaped images)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

import aesweep.catalog  # noqa: F401  (every component registered)
from aesweep.config.trial import TrialConfig
from aesweep.data.config import ImageFolderConfig, MNISTConfig
from aesweep.data.loading import load_dataset
from aesweep.trainables.step.members import SteppedMembers

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO.parent / "shared" / "data"


def write_pngs(folder: Path, n: int, root: str) -> None:
    images = load_dataset(MNISTConfig(root=root, train_size=n)).train
    for i, x in enumerate((images * 255).round().to(torch.uint8)):
        Image.fromarray(x[0].numpy()).save(folder / f"{i:05d}.png")


def one_epoch(cfg: ImageFolderConfig, architecture: str, width: float) -> tuple[int, float]:
    data = load_dataset(cfg)
    fields = {"family": "wae_mmd", "latent_dim": 20, "architecture": architecture, "width": width}
    trial = TrialConfig.model_validate(
        {
            "trial_id": "bench",
            "sweep": "bench",
            "data": cfg.model_dump(),
            "model": fields,
            "strategy": {"kind": "minibatch", "batch_size": 64},
            "optimizer": {"name": "sgd", "lr": 0.01},
            "epochs": 1,
            "seed": 0,
            "evaluation": {},
            "checkpoint": {},
            "compute": {"compile": "off"},
        }
    )
    members = SteppedMembers([trial], data, torch.device("cpu"))  # the one step, eager
    t0 = time.perf_counter()
    members.train_epoch(1, first=True)  # its means: the epoch's one host sync
    return len(data.train) // 64 * 64, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--root", default=str(DATA_ROOT))
    parser.add_argument("--size", type=int, default=None, help="resize to (dcgan: 64)")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=1)
    parser.add_argument("--architecture", default="mlp")
    parser.add_argument("--width", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = {"in memory": {"in_memory": True}}
    runs.update({f"streamed, {w} workers": {"workers": w} for w in (0, 1, 2)})
    times: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as tmp:
        write_pngs(Path(tmp), args.images, args.root)
        for r in range(args.rounds):
            names = list(runs)[r % len(runs) :] + list(runs)[: r % len(runs)]
            for name in names:
                cfg = ImageFolderConfig(
                    path=tmp,
                    channels=args.channels,
                    size=args.size,
                    test_fraction=0.01,
                    **runs[name],
                )
                images, seconds = one_epoch(cfg, args.architecture, args.width)
                times[name].append(seconds)
    base = statistics.median(times["in memory"])
    shape = f"{args.channels}x{args.size or 28}x{args.size or 28}"
    print(
        f"one epoch, {images} MNIST PNGs read as {shape}, {args.architecture} (width "
        f"{args.width}), minibatch 64, median of {args.rounds}"
    )
    print("| data | epoch s | images/s | vs in memory |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        t = statistics.median(ts)
        print(f"| {name} | {t:.2f} | {images / t:,.0f} | {t / base:.2f} |")


if __name__ == "__main__":
    main()
