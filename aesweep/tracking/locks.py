"""One submission at a time per experiment: a lock held in the tracking store itself.

Every driver and worker of a sweep reaches the tracking store, whatever the disks, so the lock
lives there: an MLflow experiment named after the sweep's experiment (:func:`lock_name`).
Experiment names are unique in every MLflow store (a database constraint; a server answers
``RESOURCE_ALREADY_EXISTS``), so creating it is the atomic test-and-set. Its tags say who holds
it (host, pid, the process's start time, the parent run) and a heartbeat the holder refreshes.
A holder that is gone is detected and its lock taken over: on the same host when its process
no longer exists, anywhere when its heartbeat is older than :data:`STALE_S`. Releasing (or
taking over) renames the lock experiment out of the way and deletes it, which frees the name.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass

import psutil
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from aesweep.tracking.retry import resilient
from aesweep.tracking.schema import (
    TAG_LOCK_HEARTBEAT,
    TAG_LOCK_HOST,
    TAG_LOCK_PARENT,
    TAG_LOCK_PID,
    TAG_LOCK_PID_START,
    TAG_LOCK_STARTED,
    TAG_LOCK_TOKEN,
)
from aesweep.tracking.store import creating_store, quiet_mlflow_logs, resolve_uri

log = logging.getLogger(__name__)

LOCK_PREFIX = ".aesweep-lock/"
RELEASED_PREFIX = ".aesweep-released-lock/"
HEARTBEAT_S = 15.0
STALE_S = 120.0  # a heartbeat this old: the holder is gone, wherever it ran


def lock_name(experiment: str) -> str:
    return f"{LOCK_PREFIX}{experiment}"


def _process_start(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError):
        return None


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its tags say."""

    experiment_id: str
    host: str
    pid: int
    pid_start: float
    started: float
    heartbeat: float
    parent_run: str | None
    token: str = ""

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        ago = max(0.0, time.time() - self.heartbeat)
        return f"host {self.host}, pid {self.pid}, started {when} (alive {ago:.0f} s ago)"

    def gone(self, now: float) -> bool:
        """The holder is dead: its process is gone (same host), or its heartbeat is stale."""
        if self.host == socket.gethostname():
            start = _process_start(self.pid)
            if start is None or abs(start - self.pid_start) > 1.0:
                return True
        return now - self.heartbeat > STALE_S


class SubmissionBusy(Exception):
    """Another live submission holds the lock of this experiment."""

    def __init__(self, experiment: str, holder: Holder) -> None:
        super().__init__(
            f"another submission of experiment {experiment!r} is running "
            f"({holder.describe()}); wait for it, or run again with --wait"
        )
        self.holder = holder


class SubmissionLock:
    """The lock of one experiment in one tracking store; :meth:`acquire`, then :meth:`release`
    (a context manager does both). While held, a daemon thread refreshes the heartbeat."""

    def __init__(self, uri: str, experiment: str) -> None:
        quiet_mlflow_logs()
        self.uri = resolve_uri(uri)
        self.experiment = experiment
        with creating_store(self.uri):
            self._client = resilient(MlflowClient(tracking_uri=self.uri), self.uri)
        self._id: str | None = None
        self._token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.took_over: Holder | None = None  # the dead holder this submission replaced

    def holder(self) -> Holder | None:
        """The lock's holder now, or None when free."""
        found = self._client.get_experiment_by_name(lock_name(self.experiment))
        if found is None or found.lifecycle_stage != "active":
            return None
        tags = found.tags
        try:
            return Holder(
                experiment_id=found.experiment_id,
                host=tags[TAG_LOCK_HOST],
                pid=int(tags[TAG_LOCK_PID]),
                pid_start=float(tags[TAG_LOCK_PID_START]),
                started=float(tags[TAG_LOCK_STARTED]),
                heartbeat=float(tags.get(TAG_LOCK_HEARTBEAT, tags[TAG_LOCK_STARTED])),
                parent_run=tags.get(TAG_LOCK_PARENT) or None,
                token=tags.get(TAG_LOCK_TOKEN, ""),
            )
        except (KeyError, ValueError):  # created this instant, tags not written yet
            now = time.time()
            return Holder(found.experiment_id, "?", 0, 0.0, now, now, None)

    def try_acquire(self) -> Holder | None:
        """Take the lock if it is free or its holder is gone; returns the live holder that
        keeps it otherwise (None: taken)."""
        for _ in range(3):
            if self._create():
                return None
            held = self.holder()
            if held is None:
                continue  # released between the two calls
            if held.token == self._token:  # our create went through; its answer was lost
                self._id = held.experiment_id
                return None
            if not held.gone(time.time()):
                return held
            log.warning("taking over the lock of a submission that is gone (%s)", held.describe())
            self._discard(held.experiment_id)
            self.took_over = held
        held = self.holder()
        if held is None:
            raise RuntimeError(f"could not take the submission lock of {self.experiment!r}")
        return held

    def acquire(self, wait: bool = False, poll_s: float = 5.0) -> None:
        """Take the lock; without ``wait`` raise :class:`SubmissionBusy` while a live holder
        keeps it, with ``wait`` poll until it is free."""
        said = False
        while True:
            held = self.try_acquire()
            if held is None:
                break
            if not wait:
                raise SubmissionBusy(self.experiment, held)
            if not said:
                log.warning("waiting for the running submission (%s)", held.describe())
                said = True
            time.sleep(poll_s)
        self._thread = threading.Thread(target=self._beat, name="aesweep-lock", daemon=True)
        self._thread.start()

    def set_parent(self, run_id: str) -> None:
        """Record this submission's parent run on the lock (a successor closes it if this
        driver dies)."""
        if self._id is not None:
            self._client.set_experiment_tag(self._id, TAG_LOCK_PARENT, run_id)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._id is not None and self._still_mine():
            self._discard(self._id)
        self._id = None

    def __enter__(self) -> SubmissionLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _create(self) -> bool:
        now = time.time()
        pid = os.getpid()
        tags = {
            TAG_LOCK_HOST: socket.gethostname(),
            TAG_LOCK_PID: str(pid),
            TAG_LOCK_PID_START: repr(_process_start(pid) or 0.0),
            TAG_LOCK_STARTED: repr(now),
            TAG_LOCK_HEARTBEAT: repr(now),
            TAG_LOCK_TOKEN: self._token,
        }
        try:
            self._id = self._client.create_experiment(lock_name(self.experiment), tags=tags)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS" and "already exists" not in str(exc):
                raise
            return False
        return True

    def _still_mine(self) -> bool:
        assert self._id is not None
        try:
            exp = self._client.get_experiment(self._id)
        except MlflowException:
            return False
        return (
            exp.name == lock_name(self.experiment) and exp.tags.get(TAG_LOCK_TOKEN) == self._token
        )

    def _discard(self, experiment_id: str) -> None:
        """Free the lock's name: rename its experiment away, then delete it (a deleted
        experiment keeps its name in MLflow). Another process doing the same is harmless."""
        try:
            self._client.rename_experiment(experiment_id, RELEASED_PREFIX + uuid.uuid4().hex)
            self._client.delete_experiment(experiment_id)
        except MlflowException as exc:
            log.debug("the lock was discarded already: %s", exc)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            if self._id is None:
                return
            try:
                self._client.set_experiment_tag(self._id, TAG_LOCK_HEARTBEAT, repr(time.time()))
            except Exception as exc:  # the tracking store away for a moment: try again later
                log.debug("lock heartbeat failed: %s", exc)
