"""Ends a Ray Tune fit when ``tracking.storage`` fills up or turns read-only: the storage is
probed after each trial error, a full or read-only one stops every trial at once (retrying
could only fail again) and the fit ends in :class:`aesweep.trainables.storage.StorageFault`
(one line from the CLI), not in Tune's traceback of the error files it could not write."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aesweep.trainables.storage import StorageFault, probe_storage, storage_fault

TUNE_STORAGE_LOGGERS = ("ray.tune.execution.tune_controller", "ray.tune.execution.experiment_state")
"""Where Ray Tune logs a trial's error and a failed save of its state, with tracebacks."""


class StorageWatch:
    """A Tune callback and stopper pair over one storage, and the fit they guard."""

    def __init__(self, storage: str) -> None:
        self.storage = storage
        self.why: str | None = None

    def check(self) -> str | None:
        """Why the storage takes no more writes (full, read-only), once seen; else None."""
        if self.why is None:
            self.why = probe_storage(self.storage)
        return self.why

    def callback(self) -> Any:
        from ray.tune import Callback

        watch = self

        class Storage(Callback):
            def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
                watch.check()

            def on_trial_recover(
                self, iteration: int, trials: list, trial: Any, **info: Any
            ) -> None:
                watch.check()

        return Storage()

    def stopper(self) -> Any:
        from ray.tune import Stopper

        watch = self

        class StopOnStorage(Stopper):
            def __call__(self, trial_id: str, result: dict) -> bool:
                return False

            def stop_all(self) -> bool:
                return watch.why is not None

        return StopOnStorage()

    def fit(self, fit: Callable[[], None]) -> None:
        """Run ``fit`` (Tune's); :class:`StorageFault` when the storage stopped it. Tune's own
        tracebacks of the storage's errors are left out: the fault is said in one line."""
        quiet = _QuietStorageFaults()
        loggers = [logging.getLogger(name) for name in TUNE_STORAGE_LOGGERS]
        for logger in loggers:
            logger.addFilter(quiet)
        try:
            fit()
        except Exception:
            if self.check() is None:
                raise
        finally:
            for logger in loggers:
                logger.removeFilter(quiet)
        if self.why is not None:
            raise StorageFault(self.storage, self.why)


class _QuietStorageFaults(logging.Filter):
    """Drops a log record whose traceback is a full or read-only storage's error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return storage_fault(exc) is None
