"""Member-steps per second of a pack and of the same trials unpacked (torch only: no Ray, no
MLflow), and the pack size ``compute.pack: auto`` takes from them.

A step here is the training step a trial runs (:class:`PackStep` for a pack; the unpacked
strategy's encode + :func:`aesweep.strategies.base.optimizer_step` for a trial), on batches
drawn at random from the training split with the strategy's shapes (fresh images, and for a
moving window the stored latents). ``compute.pack: auto`` (:func:`decide`) on a CPU times a
pack of N members against one unpacked trial, a few hundred steps each within a time budget, and
packs where the member-steps/s ratio beats :data:`MARGIN`; on a GPU it packs up to a memory
bound. ``benchmarks/bench_packs.py`` uses the same timers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch

from aesweep.config.packs import PackSize
from aesweep.config.trial import TrialConfig
from aesweep.data.base import TensorDataset
from aesweep.models.base import LatentSet
from aesweep.models.loading import build_autoencoder
from aesweep.strategies.base import optimizer_step
from aesweep.strategies.moving_window.strategy import LatentBuffer
from aesweep.trainables.optimizers import build_optimizer
from aesweep.trainables.packs.optim import build_packed_optimizer
from aesweep.trainables.packs.step import PackStep
from aesweep.trainables.packs.strategies import PackedStrategy
from aesweep.trainables.packs.trainable import build_members

MARGIN = 1.2
"""A pack must do this many times the member-steps/s of one trial to be worth it."""
MAX_MEMBERS = 64
"""The most members ``auto`` packs (a larger group is split into packs of this size)."""
GPU_MEMORY_FRACTION = 0.5
"""Of the free GPU memory, what ``auto`` lets one pack take."""
WARMUP_STEPS = 3


def shapes(trial: TrialConfig) -> tuple[int, int]:
    """(fresh images a step, stored latents) of the trial's strategy."""
    s = trial.strategy
    if s.kind == "moving_window":
        return int(s.fresh), int(s.window - s.fresh)  # type: ignore[attr-defined]
    return int(s.batch_size), 0  # type: ignore[attr-defined]


def _timed(run: Callable[[int], None], device: torch.device, steps: int, budget_s: float) -> float:
    """Steps per second of ``run(i)`` over at most ``steps`` steps or ``budget_s`` seconds,
    after a warm-up."""
    for i in range(WARMUP_STEPS):
        run(i)
    _sync(device)
    start, done = time.perf_counter(), 0
    while done < steps:
        run(done)
        done += 1
        if done % 10 == 0:
            _sync(device)
            if time.perf_counter() - start > budget_s:
                break
    _sync(device)
    return done / max(time.perf_counter() - start, 1e-9)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def packed_rate(
    trials: Sequence[TrialConfig],
    data: TensorDataset,
    device: torch.device,
    *,
    steps: int = 300,
    budget_s: float = 1.0,
    cuda_graph: bool = False,
) -> float:
    """Member-steps/s of ``trials`` as one pack."""
    pack, generators = build_members(trials, data, device)
    optimizer = build_packed_optimizer(pack.parameter_list(), [t.optimizer for t in trials])
    active = torch.ones(len(trials), dtype=torch.bool, device=device)
    step = PackStep(pack, optimizer, generators, active, cuda_graph=cuda_graph)
    strategy = PackedStrategy(trials[0].strategy.kind, trials[0].strategy)
    fresh, stored = shapes(trials[0])
    if stored:
        strategy.buffer = pack.sample_prior(stored, generators).detach()
    train = data.train
    assert isinstance(train, torch.Tensor)
    g = torch.Generator(device=train.device).manual_seed(0)

    def run(_: int) -> None:
        index = torch.randint(len(train), (len(trials), fresh), generator=g, device=train.device)
        z = step(train[index], strategy.buffer)[1]
        if strategy.buffer is not None:
            strategy.push(z)

    return len(trials) * _timed(run, device, steps, budget_s)


def unpacked_rate(
    trials: Sequence[TrialConfig],
    data: TensorDataset,
    device: torch.device,
    *,
    steps: int = 300,
    budget_s: float = 1.0,
) -> float:
    """Member-steps/s of ``trials`` trained one after another, each its own model and
    ``torch.optim`` optimiser (what N unpacked trials on one worker do), interleaved step by
    step so that all of them are measured over the same stretch of time."""
    fresh, stored = shapes(trials[0])
    models, optimizers = [], []
    buffers: list[LatentBuffer | None] = []
    for cfg in trials:
        torch.manual_seed(cfg.seed)
        model = build_autoencoder(cfg.model, data).to(device)
        models.append(model)
        optimizers.append(build_optimizer(cfg.optimizer, model.parameters()))
        buffers.append(LatentBuffer(model.sample_prior(stored).detach()) if stored else None)
    train = data.train
    assert isinstance(train, torch.Tensor)
    g = torch.Generator(device=train.device).manual_seed(0)

    def run(_: int) -> None:
        for model, optimizer, buffer in zip(models, optimizers, buffers, strict=True):
            x = train[torch.randint(len(train), (fresh,), generator=g, device=train.device)]
            z = model.encode(x)
            z_set = z if buffer is None else LatentSet(z, stored=buffer.rows)
            optimizer_step(model, optimizer, x, z, z_set)
            if buffer is not None:
                buffer.push(z)

    return len(trials) * _timed(run, device, steps, budget_s)


@dataclass
class Timing:
    """What ``auto`` measured for one group: member-steps/s of one unpacked trial and of a
    pack of N."""

    members: int
    single: float
    packed: float

    @property
    def ratio(self) -> float:
        return self.packed / max(self.single, 1e-9)

    def record(self) -> dict[str, float]:
        return {**asdict(self), "ratio": round(self.ratio, 3)}


def decide(
    group: Sequence[TrialConfig],
    data: TensorDataset,
    device: torch.device,
    *,
    budget_s: float = 2.0,
) -> tuple[PackSize, dict[str, float | str]]:
    """The pack size of one ``auto`` group and what it was decided from (for the parent run).
    CPU: a pack of min(len(group), :data:`MAX_MEMBERS`) members timed against one unpacked
    trial, the budget split between them; packed where the ratio beats :data:`MARGIN`. GPU: as many
    members as :data:`GPU_MEMORY_FRACTION` of the free memory holds, by the peak memory of a
    one- and a two-member step."""
    n = min(len(group), MAX_MEMBERS)
    if device.type == "cuda":
        size = min(n, gpu_memory_bound(group, data, device))
        why = f"GPU: {size} members fit in {GPU_MEMORY_FRACTION:.0%} of the free memory"
        return PackSize(size, why), {"device": "cuda", "members": size}
    threads = torch.get_num_threads()
    # Against one unpacked trial (what runs without a pack): a pack of one pays vmap's
    # overhead without the sharing.
    single = unpacked_rate(group[:1], data, device, budget_s=budget_s / 3)
    packed = packed_rate(group[:n], data, device, budget_s=2 * budget_s / 3)
    timing = Timing(n, single, packed)
    record: dict[str, float | str] = {"device": "cpu", "threads": threads, **timing.record()}
    if timing.ratio > MARGIN:
        why = f"packed: {n} members do {timing.ratio:.2f}x the member-steps/s of one unpacked trial"
        return PackSize(n, why), record
    why = (
        f"compute.pack auto: a pack of {n} did {timing.ratio:.2f}x the member-steps/s of one "
        f"trial (packs need > {MARGIN}x)"
    )
    return PackSize(1, why), record


def gpu_memory_bound(
    group: Sequence[TrialConfig], data: TensorDataset, device: torch.device
) -> int:
    """How many members of ``group`` one pack can hold on ``device`` (at least 1)."""
    peaks = []
    for k in (1, 2):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        packed_rate(list(group[:1]) * k, data, device, steps=2, budget_s=0.1)
        peaks.append(torch.cuda.max_memory_allocated(device) - base)
    per_member = max(peaks[1] - peaks[0], 1)
    fixed = max(peaks[0] - per_member, 0)
    free, _ = torch.cuda.mem_get_info(device)
    return max(1, int((GPU_MEMORY_FRACTION * free - fixed) // per_member))


def decide_groups(
    groups: dict[str, list[TrialConfig]],
    *,
    use_gpu: bool,
    threads: int,
    workers_elsewhere: bool,
    budget_s: float = 4.0,
) -> dict[str, tuple[PackSize, dict[str, float | str]]]:
    """:func:`decide` for every ``auto`` group (pack key -> its trials), the budget shared
    between them, on this process's device with ``threads`` threads (a trial's share). With
    GPU workers elsewhere (Ray) but no GPU here nothing can be measured: packs of up to
    :data:`MAX_MEMBERS`."""
    from aesweep.data.loading import load_dataset
    from aesweep.trainables.optimizers import pick_device

    device = pick_device(use_gpu)
    out: dict[str, tuple[PackSize, dict[str, float | str]]] = {}
    if use_gpu and device.type != "cuda" and workers_elsewhere:
        for key, group in groups.items():
            n = min(len(group), MAX_MEMBERS)
            why = f"GPU workers, no GPU here to measure: packs of up to {n}"
            out[key] = PackSize(n, why), {"device": "cuda (not measured)", "members": n}
        return out
    saved_threads, saved_rng = torch.get_num_threads(), torch.get_rng_state()
    torch.set_num_threads(threads)
    data_cache: dict[str, TensorDataset] = {}
    try:
        for key, group in groups.items():
            name = group[0].data.model_dump_json()
            if name not in data_cache:
                data_cache[name] = load_dataset(group[0].data).to(device)
            out[key] = decide(group, data_cache[name], device, budget_s=budget_s / len(groups))
    finally:
        torch.set_num_threads(saved_threads)
        torch.set_rng_state(saved_rng)
    return out
