"""Member-steps per second of a pack and of the same trials unpacked (torch only: no Ray, no
MLflow), and the pack size ``compute.pack: auto`` takes from them.

A step here is the one training step a trial runs (under vmap for a pack, called directly
for a trial; eager), on batches drawn at random from the training split with the strategy's
shapes. ``compute.pack: auto`` (:func:`decide`) on a CPU times a
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
from aesweep.trainables.step.members import SteppedMembers

MARGIN = 1.2
"""A pack must do this many times the member-steps/s of one trial to be worth it."""
MAX_MEMBERS = 64
"""The most members ``auto`` packs (a larger group is split into packs of this size)."""
GPU_MEMORY_FRACTION = 0.5
"""Of the free GPU memory, what ``auto`` lets one pack take."""
WARMUP_STEPS = 3


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


def _block_runner(members: SteppedMembers) -> Callable[[int], None]:
    """One block of :data:`BLOCK` steps of ``members`` (eager) on images drawn at random."""
    train = members.data.train
    assert isinstance(train, torch.Tensor)
    g = torch.Generator(device=train.device).manual_seed(0)
    members._epoch_start(first=True)
    n, hp = members.strategy.fresh, members._hp()
    shape = (len(members), BLOCK, n) if members.packed else (BLOCK, n)

    def run(_: int) -> None:
        xs = train[torch.randint(len(train), shape, generator=g, device=train.device)]
        members.state = members.runner(
            members.state, xs, members._draws(BLOCK), hp, members.active
        )[0]

    return run


BLOCK = 4
"""Steps per timed call (a block of the one step, as an epoch runs them)."""


def packed_rate(
    trials: Sequence[TrialConfig],
    data: TensorDataset,
    device: torch.device,
    *,
    steps: int = 300,
    budget_s: float = 1.0,
) -> float:
    """Member-steps/s of ``trials`` as one pack (the one step under vmap, eager)."""
    run = _block_runner(SteppedMembers(trials, data, device))
    return len(trials) * BLOCK * _timed(run, device, max(1, steps // BLOCK), budget_s)


def unpacked_rate(
    trials: Sequence[TrialConfig],
    data: TensorDataset,
    device: torch.device,
    *,
    steps: int = 300,
    budget_s: float = 1.0,
) -> float:
    """Member-steps/s of ``trials`` trained one after another, each a trial of its own (the
    one step called directly, eager), interleaved block by block so that all of them are
    measured over the same stretch of time."""
    runs = [_block_runner(SteppedMembers([t], data, device)) for t in trials]

    def run(i: int) -> None:
        for one in runs:
            one(i)

    return len(trials) * BLOCK * _timed(run, device, max(1, steps // BLOCK), budget_s)


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
