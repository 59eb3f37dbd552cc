"""One sweep submission, whatever its search and backend, from start to end: join the
backend (before anything is recorded), hold the experiment's submission lock, open the
search's trials (the parent run and what it needs), run them on the backend, and close every
record (runs left unfinished end KILLED and resumable; the parent run says how it ended).

The search comes from :data:`aesweep.sweeps.searches.SEARCHES` (its ``driver``), the backend
from :data:`aesweep.sweeps.backend_registry.BACKENDS`: adding either is one module and one entry.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

from aesweep.config.trial import TrialConfig
from aesweep.sweeps.backend_registry import BACKENDS, backend_name
from aesweep.sweeps.searches import SEARCHES
from aesweep.sweeps.spec import SweepSpec
from aesweep.sweeps.trials import SweepOutcome, SweepTrials
from aesweep.tracking.locks import SubmissionLock
from aesweep.tracking.schema import Outcome
from aesweep.tracking.store import SweepStore, TrialRecord
from aesweep.trainables.storage import StorageFault

_log = logging.getLogger(__name__)


def run_sweep(
    spec: SweepSpec,
    trials: list[TrialConfig],
    spec_text: str,
    *,
    address: str | None = None,
    inline: bool = False,
    max_concurrent: int | None = None,
    verbose: bool = False,
    wait: bool = False,
) -> SweepOutcome:
    """Run the trials of ``spec`` not finished yet (``trials``: the planned ones; a search
    that samples during the run plans none). Progress: the compact view of
    :mod:`aesweep.sweeps.progress`, or with ``verbose`` Ray Tune's own tables."""
    backend = BACKENDS.load(backend_name(inline))
    opened = SEARCHES.load(spec.search.algorithm, "driver")
    backend.connect(spec, address)  # before anything is recorded: a bad address creates nothing
    with held_submission(spec, wait) as lock, terminate_as_interrupt():
        sweep: SweepTrials = opened(spec, trials, spec_text)
        lock.set_parent(sweep.parent)
        status = "FINISHED"
        fault: StorageFault | None = None
        try:
            backend.run(
                spec, sweep, address=address, max_concurrent=max_concurrent, verbose=verbose
            )
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except StorageFault as exc:  # full or read-only: ended as an interruption, resumable
            status, fault = "KILLED", exc
            raise
        finally:
            records = sweep.records()
            # A child still RUNNING here was interrupted (an error would have marked it
            # FAILED); one still SCHEDULED never started. Either way the sweep was cut short.
            killed = mark_unfinished(sweep.store, records)
            # Trials that saw the stop themselves (Ray stops its workers) ended their runs
            # killed.
            killed |= {tid for tid, rec in records.items() if rec.outcome == Outcome.KILLED}
            ended = parent_status(status, killed, records, bool(records))
            sweep.store.close_parent(sweep.parent, ended)
            if fault is not None:
                fault.killed = sorted(killed)
        return sweep.outcome(records, killed, ended)


@contextlib.contextmanager
def held_submission(spec: SweepSpec, wait: bool) -> Iterator[SubmissionLock]:
    """This submission's hold on its experiment (:mod:`aesweep.tracking.locks`): a second
    submission of the same experiment is refused (:class:`SubmissionBusy`) or, with ``wait``,
    waits. The records a dead holder left unfinished (its parent run, its RUNNING trials) are
    ended KILLED: they resume in this submission."""
    lock = SubmissionLock(spec.tracking.uri, spec.experiment)
    lock.acquire(wait=wait)
    try:
        gone = lock.took_over
        if gone is not None:
            _log.info("the previous submission (%s) is gone: taking over", gone.describe())
            if gone.parent_run:
                store = SweepStore(spec.tracking.uri, spec.experiment)
                ended = store.close_abandoned(gone.parent_run)
                if ended:
                    _log.info("%d trials it left running are marked KILLED and resume here", ended)
        yield lock
    finally:
        lock.release()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a job scheduler's stop) ends the sweep as Ctrl-C does: unfinished
    trials are marked KILLED and resumable. Installed after Ray is joined, whose own handler
    would abort the driver with a stack dump and leave the trials' runs RUNNING."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parent_status(status: str, killed: set[str], records: dict[str, TrialRecord], ran: bool) -> str:
    """How a submission's parent run ends: KILLED when trials were cut short (resumable),
    FAILED when it ran trials and none of them ended well, else ``status``."""
    if killed:
        return "KILLED"
    ended_well = any(rec.finished for rec in records.values())
    if ran and not ended_well:
        return "FAILED"
    return status


def mark_unfinished(store: SweepStore, records: dict[str, TrialRecord]) -> set[str]:
    """End the child runs left RUNNING or SCHEDULED as KILLED; returns their trial ids."""
    killed = set()
    for rec in records.values():
        if rec.status in ("RUNNING", "SCHEDULED"):
            store.mark_killed(rec.run_id)
            killed.add(rec.trial_id)
    return killed
