"""The one training step: steps/s of a bare eager PyTorch loop, the eager step, the compiled
step, and member-steps/s of eager and compiled packs, measured side by side (the variants
alternate, --rounds times; medians printed), and the compile time of each compiled variant.

Cases (--cases): the MoW MNIST MLP (784-200-200-200-20, specs/mow_mnist.yaml, SGD) at
k = 1 (MoW_1(64)) for CWAE, WAE-MMD and SWAE and as minibatch(64) for CWAE; the quickstart's
digits MLP (CWAE, minibatch 64, Adam); the DCGAN architecture at width 0.25 on 64x64 RGB,
minibatch 64 (CWAE). MNIST- and CelebA-shaped images are random pixels: a step's cost does
not depend on their values. The bare loop is what a researcher writes by hand: the family's
modules and objective, ``loss.backward()`` and a ``torch.optim`` step, the moving window's
store as a tensor.

Only the training core is imported (no Ray, MLflow or pydantic at run time beyond the config
classes): on a GPU machine ``--device cuda`` (the compiled step then replays as CUDA graphs).
Usage: python benchmarks/bench_step.py [--cases mow_k1_cwae,...] [--members 5,15]
[--steps 320] [--rounds 3] [--threads 1] [--device cpu] [--no-compile]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

if __package__ in (None, ""):  # run as a script from anywhere: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aesweep.catalog  # noqa: E402, F401  (every component registered)
from aesweep.config.executors import choose_executor  # noqa: E402
from aesweep.config.trial import TrialConfig  # noqa: E402
from aesweep.data.base import TensorDataset  # noqa: E402
from aesweep.data.config import DigitsConfig  # noqa: E402
from aesweep.data.loading import load_dataset  # noqa: E402
from aesweep.models.base import LatentSet  # noqa: E402
from aesweep.models.loading import build_autoencoder  # noqa: E402
from aesweep.trainables.optimizers import build_optimizer  # noqa: E402
from aesweep.trainables.step.members import DRAW_BLOCK, SteppedMembers  # noqa: E402

MOW_MLP = {"latent_dim": 20, "architecture": "mlp", "lambda": 1.0}
SGD = {"name": "sgd", "lr": 0.001}
ADAM = {"name": "adam", "lr": 0.001}
WINDOW_K1 = {"kind": "moving_window", "window": 64, "fresh": 1}
MINIBATCH = {"kind": "minibatch", "batch_size": 64}
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any], tuple[int, ...]]] = {
    "mow_k1_cwae": ({"family": "cwae", **MOW_MLP}, WINDOW_K1, SGD, (1, 28, 28)),
    "mow_k1_wae_mmd": ({"family": "wae_mmd", **MOW_MLP}, WINDOW_K1, SGD, (1, 28, 28)),
    "mow_k1_swae": ({"family": "swae", **MOW_MLP}, WINDOW_K1, SGD, (1, 28, 28)),
    "mow_mb64_cwae": ({"family": "cwae", **MOW_MLP}, MINIBATCH, SGD, (1, 28, 28)),
    "quickstart": ({"family": "cwae", "latent_dim": 8, "lambda": 1.0}, MINIBATCH, ADAM, ()),
    "dcgan": (
        {"family": "cwae", "latent_dim": 64, "architecture": "dcgan", "width": 0.25},
        MINIBATCH,
        ADAM,
        (3, 64, 64),
    ),
}


def trial(case: str, lr_index: int = 0) -> TrialConfig:
    model, strategy, optimizer, _ = CASES[case]
    return TrialConfig.model_validate(
        {
            "trial_id": f"t{lr_index}",
            "sweep": "bench",
            "data": {"dataset": "digits"},
            "model": model,
            "strategy": strategy,
            "optimizer": {**optimizer, "lr": optimizer["lr"] * 0.9**lr_index},
            "epochs": 500,
            "seed": lr_index,
            "evaluation": {},
            "checkpoint": {},
            "compute": {"compile": "on"},
        }
    )


def data_for(case: str, device: torch.device) -> TensorDataset:
    shape = CASES[case][3]
    if not shape:
        return load_dataset(DigitsConfig()).to(device)
    g = torch.Generator().manual_seed(0)
    train = torch.rand(2048, *shape, generator=g)
    return TensorDataset("random", train, train[:256]).to(device)


def bare_loop(case: str, data: TensorDataset) -> Callable[[int], None]:
    """steps of the hand-written eager loop (global RNG for the family's draws)."""
    cfg = trial(case)
    torch.manual_seed(0)
    model = build_autoencoder(cfg.model, data).to(data.train.device)
    optimizer = build_optimizer(cfg.optimizer, model.parameters())
    fresh = cfg.strategy.images_per_step
    stored = (
        model.sample_prior(cfg.strategy.window - fresh).detach()  # type: ignore[attr-defined]
        if cfg.strategy.kind == "moving_window"
        else None
    )
    train = data.train

    def run(steps: int) -> None:
        nonlocal stored
        for _ in range(steps):
            x = train[torch.randint(len(train), (fresh,), device=train.device)]
            z = model.encode(x)
            latents = LatentSet(z) if stored is None else LatentSet(z, stored=stored)
            loss, _ = model.training_loss(x, model.decode(z), latents)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if stored is not None:
                stored = torch.cat([stored, z.detach()])[-len(stored) :]

    return run


def stepped(
    case: str, data: TensorDataset, n: int, compiled: bool, block: int = DRAW_BLOCK
) -> tuple[Callable[[int], None], SteppedMembers]:
    """steps of the one step for a pack of n (n = 1: a trial), eager or compiled, ``block``
    steps a call (an epoch's block; fewer for a slow step such as DCGAN's on a CPU)."""
    trials = [trial(case, i) for i in range(n)]
    unroll = choose_executor(trials[0]).unroll
    members = SteppedMembers(trials, data, data.train.device, compiled=compiled, unroll=unroll)
    members._epoch_start(first=True)
    hp = members._hp()
    fresh, train = members.strategy.fresh, data.train

    def run(steps: int) -> None:
        for _ in range(max(1, steps // block)):
            shape = (n, block, fresh) if n > 1 else (block, fresh)
            xs = train[torch.randint(len(train), shape, device=train.device)]
            members.state = members.runner(
                members.state, xs, members._draws(block), hp, members.active
            )[0]

    return run, members


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--members", default="5,15")
    parser.add_argument("--steps", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--block", type=int, default=DRAW_BLOCK, help="steps per call")
    parser.add_argument("--no-trial", action="store_true", help="packs only (and the bare loop)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    packs = [int(n) for n in args.members.split(",") if n]
    print(f"torch {torch.__version__}, device {device}, {args.threads} thread(s)")
    for case in args.cases.split(","):
        data = data_for(case, device)
        variants: dict[str, tuple[Callable[[int], None], int]] = {
            "bare eager loop": (bare_loop(case, data), 1)
        }
        compiled_modes = [False] if args.no_compile else [False, True]
        compile_s: dict[str, float] = {}
        for n in packs if args.no_trial else [1, *packs]:
            for compiled in compiled_modes:
                name = (
                    f"{'trial' if n == 1 else f'pack of {n}'} {'compiled' if compiled else 'eager'}"
                )
                run, members = stepped(case, data, n, compiled, args.block)
                run(args.block)  # warm-up; compiles a compiled variant
                sync(device)
                if compiled:
                    compile_s[name] = members.runner.compile_seconds or float("nan")
                    if members.runner.fallback:
                        name += f" (fell back: {members.runner.fallback})"
                variants[name] = (run, n)
                print(f"  {name}: ready {compile_s.get(name.split(' (')[0], '')}", flush=True)
        variants["bare eager loop"][0](args.block)
        rates: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.rounds):
            for name, (run, n) in variants.items():
                sync(device)
                t0 = time.perf_counter()
                run(args.steps)
                sync(device)
                rates[name].append(n * args.steps / (time.perf_counter() - t0))
                print(f"  {name}: {rates[name][-1]:.2f} member-steps/s", flush=True)
        bare = statistics.median(rates["bare eager loop"])
        print(f"\n{case}: {CASES[case][1]}, images {tuple(data.train.shape[1:])}")
        print(f"{'variant':32s} {'member-steps/s':>15s} {'vs bare':>8s} {'compile s':>10s}")
        for name, values in rates.items():
            rate = statistics.median(values)
            c = compile_s.get(name.split(" (")[0])
            shown = f"{c:10.1f}" if c is not None else " " * 10
            print(f"{name:32s} {rate:15.2f} {rate / bare:8.2f} {shown}")


if __name__ == "__main__":
    main()
