"""Benchmark of FID feature extraction (aesweep.fid) against the bare Inception forward pass.

1. Throughput, images/s: our full path (8-bit quantisation, transfer, TF1 bilinear resize of
   grey images (digits 8x8, or MNIST 28x28 with --data-root) to 299x299, grey to RGB,
   Inception, float64 moment accumulation) against
   the bare network on the same batch made ready beforehand, (B, 3, 299, 299), same device.
   The two are timed back to back in each round and the per-round ratios' median reported, so
   load from other processes hits both alike. Goal: full / bare >= 0.9.
2. On the CPU, the default network (aesweep.fid.fast: the script rebuilt eager, batch norms
   folded into the convolutions, channels-last) against the TorchScript as loaded, and with
   --compile the folded network through torch.compile too: images/s of each on the same
   prepared batches, interleaved, the paired speed-up and the largest feature difference from
   the script's (must stay <= 1e-4).
3. The reference cache: the first FID call extracts the reference and the samples; a second
   call on the same reference should cost only the samples (extraction + Fréchet distance).

Usage::

    python benchmarks/bench_fid.py                      # CPU here: B = 16, 8 rounds, 64 + 32
    python benchmarks/bench_fid.py --rounds 4 --reference 32 --samples 16   # quicker
    python benchmarks/bench_fid.py --rounds 6 --skip-cache --compile   # the CPU paths only
    python benchmarks/bench_fid.py --device cuda --batch-size 50 --rounds 20 \\
        --reference 10000 --samples 10000
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import torch

if __package__ in (None, ""):  # run as a script from anywhere: make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aesweep.data.config import DataConfig, DigitsConfig, MNISTConfig  # noqa: E402
from aesweep.fid.features import get_extractor  # noqa: E402
from aesweep.fid.score import fid_from_stats, fid_of_samples  # noqa: E402
from aesweep.fid.stats import MomentAccumulator, reference_stats, split_images  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(extractor, images: torch.Tensor, batch_size: int, rounds: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Images/s of the full path and of the bare forward on the same batch, interleaved.

    Each round takes a new batch, prepares the bare network's input from it untimed, then times
    the bare forward and the full path back to back (which goes first alternates). The ratio is
    the median of the per-round ratios, so load that changes between rounds cancels out; the
    non-network steps are also timed alone.
    """
    device = extractor.device

    def timed(fn) -> float:  # type: ignore[no-untyped-def]
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        return time.perf_counter() - t0

    starts = [(r * batch_size) % max(len(images) - batch_size, 1) for r in range(rounds)]
    batches = [images[s : s + batch_size] for s in starts]
    acc = MomentAccumulator()
    full, bare, prep, stats = [], [], [], []
    with torch.inference_mode():
        for _ in range(2):  # warm-up: TorchScript profiling runs, allocator
            acc.update(extractor.forward(extractor.pixels(batches[0])))
        for r, b in enumerate(batches):
            ready = extractor.pixels(b)
            runs = [
                (bare, lambda ready=ready: extractor.forward(ready)),
                (full, lambda b=b: acc.update(extractor.features(b))),
            ]
            for out, fn in runs if r % 2 == 0 else runs[::-1]:
                out.append(timed(fn))
            prep.append(timed(lambda b=b: extractor.pixels(b)))
            feats = extractor.forward(ready)
            stats.append(timed(lambda f=feats: acc.update(f)))
    acc.result()
    return {
        "bare": batch_size / statistics.median(bare),
        "full": batch_size / statistics.median(full),
        "ratio": statistics.median(b / f for b, f in zip(bare, full, strict=True)),
        "ratio_min": min(b / f for b, f in zip(bare, full, strict=True)),
        "ratio_max": max(b / f for b, f in zip(bare, full, strict=True)),
        "prep_s": statistics.median(prep),
        "stats_s": statistics.median(stats),
        "forward_s": statistics.median(bare),
    }


def compiled(extractor):  # type: ignore[no-untyped-def]
    """The extractor's CPU network through ``torch.compile`` (Inductor, weights frozen)."""
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True
    return torch.compile(extractor.forward)


def fast_against_plain(
    extractor, images: torch.Tensor, batch_size: int, rounds: int, compile_too: bool
) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Images/s of the folded network (the default on the CPU), of the script as loaded and
    optionally of the folded network compiled, on the same prepared batches (the order rotates
    each round), and each one's largest absolute feature difference from the script's."""
    paths = {"fast": extractor.forward, "plain": extractor.net}
    out: dict[str, float] = {}
    with torch.inference_mode():
        ready = extractor.pixels(images[:batch_size])
        for fn in paths.values():
            fn(ready)  # warm-up: TorchScript profiling runs, oneDNN primitives
    if compile_too:
        paths["compiled"] = compiled(extractor)
        with torch.no_grad():
            t0 = time.perf_counter()
            paths["compiled"](ready)
            out["compile_s"] = time.perf_counter() - t0
    times: dict[str, list[float]] = {name: [] for name in paths}
    diff = dict.fromkeys(paths, 0.0)
    names = list(paths)
    with torch.no_grad():  # not inference_mode: compiled code runs under no_grad
        for r in range(rounds):
            b = images[(r * batch_size) % max(len(images) - batch_size, 1) :][:batch_size]
            ready = extractor.pixels(b)
            feats = {}
            for name in names[r % len(names) :] + names[: r % len(names)]:
                t0 = time.perf_counter()
                feats[name] = paths[name](ready).reshape(len(b), -1)
                times[name].append(time.perf_counter() - t0)
            for name in paths:
                diff[name] = max(diff[name], (feats[name] - feats["plain"]).abs().max().item())
    for name in paths:
        out[name] = batch_size / statistics.median(times[name])
        out[f"{name}_diff"] = diff[name]
        out[f"{name}_vs_plain"] = statistics.median(
            p / f for p, f in zip(times["plain"], times[name], strict=True)
        )
    return out


def cache_timing(
    extractor, cfg: DataConfig, n_ref: int, n_samples: int, batch_size: int
) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Seconds of a first and a second FID call on one reference, and of the samples alone."""
    samples = split_images(cfg, "train")[-n_samples:]
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        ref = reference_stats(cfg, "train", n_ref, extractor, cache, batch_size=batch_size)
        fid_of_samples(samples, ref, extractor, batch_size=batch_size, progress=False)
        t1 = time.perf_counter()
        ref = reference_stats(cfg, "train", n_ref, extractor, cache, batch_size=batch_size)
        value = fid_of_samples(samples, ref, extractor, batch_size=batch_size, progress=False)
        t2 = time.perf_counter()
    acc = MomentAccumulator()
    t3 = time.perf_counter()
    for s in range(0, n_samples, batch_size):
        acc.update(extractor.features(samples[s : s + batch_size]))
    sample_stats = acc.result()
    t4 = time.perf_counter()
    fid_from_stats(ref, sample_stats)
    t5 = time.perf_counter()
    return {
        "first": t1 - t0,
        "second": t2 - t1,
        "samples_only": t4 - t3,
        "frechet": t5 - t4,
        "fid": value,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--rounds", type=int, default=8, help="interleaved batches per path")
    p.add_argument("--reference", type=int, default=64, help="reference images (digits train)")
    p.add_argument("--samples", type=int, default=32, help="generated-sample stand-ins")
    p.add_argument("--data-root", help="use MNIST from this folder instead of digits")
    p.add_argument("--compile", action="store_true", help="CPU: also time torch.compile")
    p.add_argument("--skip-cache", action="store_true", help="skip the reference-cache timing")
    args = p.parse_args()

    extractor = get_extractor(device=args.device)
    device = extractor.device
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"device {device} ({where or platform.machine()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, network {extractor.identity}"
    )
    cfg: DataConfig = MNISTConfig(root=args.data_root) if args.data_root else DigitsConfig()
    images = split_images(cfg, "test")
    t = throughput(extractor, images, args.batch_size, args.rounds)
    print(
        f"extraction, batch {args.batch_size}, median of {args.rounds} interleaved batches: "
        f"bare forward {t['bare']:.2f} img/s, full path {t['full']:.2f} img/s, "
        f"paired ratio full/bare: median {t['ratio']:.3f} (rounds {t['ratio_min']:.2f}-"
        f"{t['ratio_max']:.2f}; goal >= 0.9); per batch: forward {t['forward_s']:.3f} s, "
        f"quantise+resize+RGB {1e3 * t['prep_s']:.1f} ms, moments {1e3 * t['stats_s']:.1f} ms"
    )
    print(f"images: {cfg.dataset} {tuple(images.shape[1:])}")
    if device.type == "cpu":
        f = fast_against_plain(extractor, images, args.batch_size, args.rounds, args.compile)
        print(
            f"network as loaded {f['plain']:.2f} img/s; folded + channels-last (default) "
            f"{f['fast']:.2f} img/s, paired speed-up x{f['fast_vs_plain']:.2f}, largest feature "
            f"difference {f['fast_diff']:.1e} (goal <= 1e-4)"
            + (
                f"; compiled {f['compiled']:.2f} img/s, x{f['compiled_vs_plain']:.2f}, "
                f"difference {f['compiled_diff']:.1e}, compilation {f['compile_s']:.0f} s"
                if args.compile
                else ""
            )
            + f" (medians of {args.rounds} rotated batches of {args.batch_size})"
        )
    if args.skip_cache:
        return
    c = cache_timing(extractor, cfg, args.reference, args.samples, args.batch_size)
    print(
        f"FID of {args.samples} samples vs {args.reference} reference images: first call "
        f"{c['first']:.1f} s, second call {c['second']:.1f} s; the samples alone: extraction "
        f"{c['samples_only']:.1f} s + Fréchet distance {c['frechet']:.1f} s; FID {c['fid']:.2f}"
    )


if __name__ == "__main__":
    main()
