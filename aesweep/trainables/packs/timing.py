"""Member-steps per second of a pack and of the same trials unpacked (torch only: no Ray, no
MLflow), and the pack size ``compute.pack: auto`` takes from them.

A step here is the one training step a trial runs (under vmap for a pack, called directly
for a trial; eager), on batches drawn at random from the training split with the strategy's
shapes. ``compute.pack: auto`` (:func:`decide`) on a CPU times a
pack of N members against one unpacked trial, a few hundred steps each within a time budget, and
packs where the member-steps/s ratio beats :data:`MARGIN`; on a GPU it packs up to a memory
bound. Trials that will run compiled are decided by what will run: a compiled pack against a
compiled trial (:func:`decide`). ``benchmarks/bench_packs.py`` uses the same timers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch

from aesweep.config.executors import Executor, choose_executor
from aesweep.config.packs import PackSize
from aesweep.config.trial import TrialConfig
from aesweep.data.base import TensorDataset
from aesweep.trainables.step.members import SteppedMembers

MARGIN = 1.2
"""A pack must do this many times the member-steps/s of one trial to be worth it."""
COMPILED_GATE = MARGIN
"""Trials that will run compiled: the eager pack's ratio above which the compiled pack is
timed too (below it, a compiled pack would gain less still: not worth two compiles)."""
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


def _block_runner(members: SteppedMembers, block: int) -> Callable[[int], None]:
    """One block of ``block`` steps of ``members`` on images drawn at random."""
    train = members.data.train
    assert isinstance(train, torch.Tensor)
    g = torch.Generator(device=train.device).manual_seed(0)
    members._epoch_start(first=True)
    n, hp = members.strategy.fresh, members._hp()
    shape = (len(members), block, n) if members.packed else (block, n)

    def run(_: int) -> None:
        xs = train[torch.randint(len(train), shape, generator=g, device=train.device)]
        members.state = members.runner(
            members.state, xs, members._draws(block), hp, members.active
        )[0]

    return run


BLOCK = 4
"""Steps per timed call (a block of the one step, as an epoch runs them; compiled: at least
one compiled call's unrolled steps)."""
EAGER = Executor("eager", "timing")


def _members(
    trials: Sequence[TrialConfig], data: TensorDataset, device: torch.device, executor: Executor
) -> SteppedMembers:
    compiled = executor.kind == "compiled"
    return SteppedMembers(trials, data, device, compiled=compiled, unroll=executor.unroll)


def _rate(
    members: Sequence[SteppedMembers], device: torch.device, steps: int, budget_s: float
) -> float:
    """Member-steps/s of ``members`` run block by block in turn (interleaved, so that all of
    them are measured over the same stretch of time); a compile happens in the warm-up."""
    block = max(BLOCK, max(m.runner.unroll for m in members))
    runs = [_block_runner(m, block) for m in members]

    def run(i: int) -> None:
        for one in runs:
            one(i)

    done = _timed(run, device, max(1, steps // block), budget_s)
    return sum(len(m) for m in members) * block * done


def packed_rate(
    trials: Sequence[TrialConfig],
    data: TensorDataset,
    device: torch.device,
    *,
    steps: int = 300,
    budget_s: float = 1.0,
    executor: Executor = EAGER,
) -> float:
    """Member-steps/s of ``trials`` as one pack (the one step under vmap)."""
    return _rate([_members(trials, data, device, executor)], device, steps, budget_s)


def unpacked_rate(
    trials: Sequence[TrialConfig],
    data: TensorDataset,
    device: torch.device,
    *,
    steps: int = 300,
    budget_s: float = 1.0,
    executor: Executor = EAGER,
) -> float:
    """Member-steps/s of ``trials`` trained one after another, each a trial of its own (the
    one step called directly)."""
    members = [_members([t], data, device, executor) for t in trials]
    return _rate(members, device, steps, budget_s)


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
    one- and a two-member step.

    Trials that will run compiled (:func:`choose_executor`) are decided by a compiled pack
    against a compiled trial (:func:`decide_compiled`), timed only where the eager pack beats
    :data:`COMPILED_GATE`: compiling removes the per-op host work a pack shares, so a
    compiled pack's ratio has stayed below the eager one's in every case measured
    (benchmarks/README.md); an eager pack that does not pay rules out a compiled one without
    two compiles."""
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
    executor = choose_executor(group[0])
    if executor.kind == "compiled" and timing.ratio > COMPILED_GATE:
        return decide_compiled(group[:n], data, device, executor, record, budget_s=budget_s)
    if executor.kind != "compiled" and timing.ratio > MARGIN:
        why = f"packed: {n} members do {timing.ratio:.2f}x the member-steps/s of one unpacked trial"
        return PackSize(n, why), record
    why = (
        f"compute.pack auto: a pack of {n} did {timing.ratio:.2f}x the member-steps/s of one "
        f"trial (packs need > {MARGIN}x)"
    )
    if executor.kind == "compiled":
        why = (
            f"compute.pack auto: an eager pack of {n} did {timing.ratio:.2f}x the member-steps/s "
            f"of one eager trial; the trials run {executor.label}, where a pack gains less "
            "still: not timed compiled"
        )
    return PackSize(1, why), record


def decide_compiled(
    group: Sequence[TrialConfig],
    data: TensorDataset,
    device: torch.device,
    executor: Executor,
    record: dict[str, float | str],
    *,
    budget_s: float,
) -> tuple[PackSize, dict[str, float | str]]:
    """A compiled pack of ``group`` against one compiled trial, ``record`` (the eager timing)
    extended with the compiled one. The two compiles are paid here, outside the budget, once:
    Inductor's on-disk cache then serves the sweep's trials (or packs) of the same shapes."""
    n = len(group)
    one = _members(group[:1], data, device, executor)
    pack = _members(group, data, device, executor)
    single = _rate([one], device, 300, budget_s / 3)
    packed = _rate([pack], device, 300, 2 * budget_s / 3)
    seconds = sum(m.runner.compile_seconds or 0.0 for m in (one, pack))
    compiled = Timing(n, single, packed)
    record.update(
        {
            "executor": executor.label,
            "compiled_single": single,
            "compiled_packed": packed,
            "compiled_ratio": round(compiled.ratio, 3),
            "compile_seconds": round(seconds, 1),
        }
    )
    fallback = one.runner.fallback or pack.runner.fallback
    if fallback is not None:  # the trials would fall back too: the eager timing decides
        record["compile_fallback"] = fallback
        why = f"packed: {n} members (eager {record['ratio']}x; the compile failed: {fallback})"
        return PackSize(n, why), record
    if compiled.ratio > MARGIN:
        why = (
            f"packed: {n} members compiled do {compiled.ratio:.2f}x the member-steps/s of one "
            "compiled trial"
        )
        return PackSize(n, why), record
    why = (
        f"compute.pack auto: a compiled pack of {n} did {compiled.ratio:.2f}x the member-steps/s "
        f"of one compiled trial (packs need > {MARGIN}x; eager {record['ratio']}x)"
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
