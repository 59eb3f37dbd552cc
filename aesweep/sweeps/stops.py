"""The trials an early-stopping scheduler stopped, recorded in MLflow: each run tagged as the
stop happens (a Ray Tune callback) and again after the fit; a tracking server that is away
never aborts the sweep for it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aesweep.tracking.retry import is_unreachable
from aesweep.tracking.schema import TAG_AUDIT_EPOCH
from aesweep.tracking.store import SweepStore

_log = logging.getLogger(__name__)


def record_stops(
    store: SweepStore,
    run_of: Callable[[str], str | None],
    stopped: dict[str, int],
    audited: dict[str, int],
    quiet: bool = False,
) -> None:
    """Tag the runs the scheduler stopped (FINISHED, outcome ``stopped``, the epoch) and the
    audited ones (the epoch it would have stopped them at)."""
    for tid, epoch in stopped.items():
        run_id = run_of(tid)
        if run_id is not None:  # the run it logs to now (it may have started over)
            store.mark_stopped(store.current_run(run_id), epoch)
    for tid, epoch in audited.items():
        run_id = run_of(tid)
        if run_id is not None:
            store.set_run_tags(run_id, {TAG_AUDIT_EPOCH: epoch})
    if stopped and not quiet:
        _log.info(
            "ASHA stopped %d trials early%s",
            len(stopped),
            f"; {len(audited)} it would have stopped ran on (audit)" if audited else "",
        )


class StopRecorder:
    """Which trials the scheduler stopped: Tune ends them normally after a report it answered
    with STOP, so a trial that completed before its last epoch, not diverged, was stopped. Its
    run is tagged at once (a driver killed later loses nothing: it is not rerun), and again
    after the fit (:func:`record_stops`)."""

    def __init__(
        self,
        epochs_of: Callable[[Any], int],
        store: SweepStore,
        run_of: Callable[[str], str | None],
        audited: dict[str, int],
        tid_of: Callable[[Any], str],
    ) -> None:
        self.epochs_of, self.tid_of = epochs_of, tid_of
        self.store, self.run_of = store, run_of
        self.audited = audited
        self.stopped: dict[str, int] = {}

    def complete(self, tid: str, last: dict[str, Any], epochs: int) -> None:
        epoch = int(last.get("epoch", 0) or 0)
        stopped = last.get("diverged") != 1.0 and 0 < epoch < epochs
        if stopped:
            self.stopped[tid] = epoch
        audited = {tid: self.audited[tid]} if tid in self.audited else {}
        if not (stopped or audited):
            return
        try:  # each write waits for a tracking server that is away (tracking.retry)
            once = {tid: epoch} if stopped else {}
            record_stops(self.store, self.run_of, once, audited, quiet=True)
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            # Never abort the sweep for it: the stop is kept and written after the fit.
            _log.warning(
                "trial %s: its stop is recorded after the sweep (%s)", tid, type(exc).__name__
            )

    def callback(self) -> Any:
        from ray.tune import Callback

        recorder = self

        class Stops(Callback):
            def on_trial_complete(
                self, iteration: int, trials: list, trial: Any, **info: Any
            ) -> None:
                last = trial.last_result or {}
                recorder.complete(recorder.tid_of(trial), last, recorder.epochs_of(trial))

        return Stops()
