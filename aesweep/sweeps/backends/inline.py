"""The inline backend (``aesweep run --inline``): the units of a planned sweep run in this
process, one by one, no Ray; after each, the compact view's line of it and the overall bar."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from aesweep.config.trial import TrialConfig
from aesweep.sweeps.packing import Units
from aesweep.sweeps.planned import PlannedTrials, progress_view
from aesweep.sweeps.prepare import Prepared, pack_payload, payload, storage, trial_name, unit_dir
from aesweep.sweeps.spec import SweepSpec
from aesweep.tracking.schema import Outcome
from aesweep.trainables.storage import StorageFault, storage_fault

_log = logging.getLogger(__name__)


class InlineBackend:
    """Runs here: nothing to join, the GPU if the spec asks for one."""

    @staticmethod
    def connect(spec: SweepSpec, address: str | None) -> None:
        return None

    @staticmethod
    def use_gpu(spec: SweepSpec) -> bool:
        return spec.resources.gpus_per_trial != 0

    @staticmethod
    def run(
        spec: SweepSpec,
        trials: Any,
        *,
        address: str | None,
        max_concurrent: int | None,
        verbose: bool,
    ) -> None:
        if not isinstance(trials, PlannedTrials):  # refused by the CLI (SearchKind.inline)
            raise TypeError(f"search.algorithm {spec.search.algorithm} needs Ray Tune")
        threads = max(1, int(spec.resources.cpus_per_trial))
        use_gpu = InlineBackend.use_gpu(spec)
        units = trials.plan_units(use_gpu=use_gpu, threads=threads, inline=True)
        run_inline(spec, trials.prep, units, threads)


def run_inline(spec: SweepSpec, prep: Prepared, units: Units, threads: int) -> None:
    """The packs, then the single trials, one by one; after each, the compact view's line of
    it and the overall bar."""
    from aesweep.sweeps.progress import overall_line, trial_line
    from aesweep.trainables.entry import inline_pack, inline_trainable

    use_gpu = spec.resources.gpus_per_trial != 0
    progress = progress_view(prep, units, live=False).progress
    started = time.monotonic()
    work: list[tuple[str, list[TrialConfig], Callable[[], object]]] = []
    for pack in units.packs:
        body = pack_payload(prep, pack, threads=threads, use_gpu=use_gpu).model_copy(
            update={"inline_dir": unit_dir(spec, prep, pack.pack_id)}
        )
        work.append((pack.pack_id, pack.members, functools.partial(inline_pack, body)))
    for t in units.singles:
        one = payload(prep, t, threads=threads, use_gpu=use_gpu).model_copy(
            update={"inline_dir": unit_dir(spec, prep, trial_name(t))}
        )
        work.append((t.trial_id, [t], functools.partial(inline_trainable, one)))
    for i, (unit, members, call) in enumerate(work, 1):
        line = progress.trials[unit]
        _log.info("[%d/%d] %s", i, len(work), line.name)
        try:
            call()
        except Exception as exc:  # one failing trial (or pack) does not stop the sweep
            why = storage_fault(exc)
            if why is not None:  # a full or read-only storage stops every trial alike
                raise StorageFault(storage(spec), why) from None
            _log.info("    failed: %s: %s", type(exc).__name__, exc)
        recs = prep.store.latest_by_trial([t.trial_id for t in members])
        ended = [(r.outcome or Outcome.FAILED) for r in recs.values()] or [Outcome.FAILED]
        line.state = next((o for o in (Outcome.FINISHED, Outcome.DIVERGED) if o in ended), ended[0])
        line.epoch = max((int(r.metrics.get("epoch", 0)) for r in recs.values()), default=0)
        costs = [r.metrics["cost"] for r in recs.values() if "cost" in r.metrics]
        line.cost = min(costs) if costs else None
        _log.info("    %s", trial_line(line))
        _log.info("    %s", overall_line(progress, time.monotonic() - started))
