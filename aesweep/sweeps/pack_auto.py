"""The packs a planned submission runs: ``compute.pack: auto`` decided by a short timing of
each group (recorded on the parent run), then the units (packs and single trials)."""

from __future__ import annotations

import json
import logging
import time

from aesweep.config.packs import MIN_TIMED_STEPS, PackSize, candidate_groups, member_steps
from aesweep.sweeps.packing import Units, form_units, refusal
from aesweep.sweeps.prepare import Prepared
from aesweep.sweeps.spec import SweepSpec
from aesweep.tracking.schema import (
    PARAM_PACK_AUTO_GROUPS,
    PARAM_PACK_AUTO_PACKED_GROUPS,
    PARAM_PACK_AUTO_SECONDS,
    TAG_PACK_AUTO,
)

_log = logging.getLogger(__name__)

PACK_TIMING_BUDGET_S = 4.0
"""The most seconds ``compute.pack: auto`` spends timing before a sweep (all groups)."""


def decide_packs(
    spec: SweepSpec, prep: Prepared, *, use_gpu: bool, threads: int, inline: bool
) -> dict[str, PackSize]:
    """``compute.pack: auto``: the pack size of each group of unfinished, fresh trials that
    could pack, by timing a pack against one trial here (CPU) or a memory bound (GPU); the
    decision and the timing are recorded on the parent run."""
    if refusal(spec) is not None:
        return {}
    fresh = [
        t for t in prep.todo if t.trial_id not in prep.resume_from and t.compute.pack == "auto"
    ]
    every = {k: g for k, g in candidate_groups(fresh).items() if len(g) >= 2}
    if not every:
        return {}
    decided: dict[str, tuple[PackSize, dict[str, float | str]]] = {}
    groups = {}
    for key, group in every.items():
        steps = member_steps(group)
        if steps is not None and steps < MIN_TIMED_STEPS:  # the timing could never pay
            why = f"{steps} member-steps in all, under {MIN_TIMED_STEPS}: not worth timing"
            decided[key] = PackSize(1, why), {"member_steps": steps}
        else:
            groups[key] = group
    started = time.monotonic()
    if groups:
        from aesweep.trainables.packs.timing import decide_groups

        decided.update(
            decide_groups(
                groups,
                use_gpu=use_gpu,
                threads=threads,
                workers_elsewhere=not inline,
                budget_s=PACK_TIMING_BUDGET_S,
            )
        )
    seconds = time.monotonic() - started
    records = [
        {
            "first_trial": every[k][0].trial_id,
            "trials": len(every[k]),
            "size": size.size,
            "why": size.why,
            **timing,
        }
        for k, (size, timing) in decided.items()
    ]
    packed = sum(1 for size, _ in decided.values() if size.size >= 2)
    prep.store.log_parent_params(
        prep.parent,
        {
            PARAM_PACK_AUTO_GROUPS: len(every),
            PARAM_PACK_AUTO_PACKED_GROUPS: packed,
            PARAM_PACK_AUTO_SECONDS: round(seconds, 2),
        },
    )
    prep.store.set_run_tags(prep.parent, {TAG_PACK_AUTO: json.dumps(records)[:5000]})
    for record in records:
        _log.info("compute.pack auto (%s trials): %s", record["trials"], record["why"])
    return {k: size for k, (size, _) in decided.items()}


def plan_units(
    spec: SweepSpec, prep: Prepared, *, use_gpu: bool, threads: int, inline: bool
) -> Units:
    """The packs and single trials this submission runs (pack checkpoints a refusal to pack
    discards are dropped: those trials start over unpacked)."""
    decided = decide_packs(spec, prep, use_gpu=use_gpu, threads=threads, inline=inline)
    units = form_units(spec, prep.todo, prep.resume_from, decided)
    for tid in units.restart:
        prep.resume_from.pop(tid, None)
    if units.packs:
        members = sum(len(p.members) for p in units.packs)
        _log.info(
            "%d trials run as %d packs; %d unpacked", members, len(units.packs), len(units.singles)
        )
    return units
