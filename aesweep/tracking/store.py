"""Sweep- and trial-level MLflow records, through ``MlflowClient`` (no global active run).

The driver opens the experiment and the parent run and creates each trial's child run; the
trial (in a Ray worker or inline) logs into its child run by id. Tags are the contract that
``results`` and resubmission read back. Every call to a tracking server rides out an outage
(:mod:`aesweep.tracking.retry`).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from aesweep.tracking.batch import NewRun, create_runs
from aesweep.tracking.retry import is_unreachable, resilient
from aesweep.tracking.schema import (
    DONE,
    ENDED_WELL,
    EXPERIMENT_KIND,
    METRIC_EPOCH,
    METRIC_SYSTEM,
    TAG_AUDIT_EPOCH,
    TAG_CONFIG,
    TAG_ERROR,
    TAG_EXPERIMENT_KIND,
    TAG_GROUP,
    TAG_KIND,
    TAG_OUTCOME,
    TAG_PARENT_RUN,
    TAG_RESTARTED,
    TAG_SPEC_HASH,
    TAG_STOPPED_EPOCH,
    TAG_SUMMARY,
    TAG_SUPERSEDED_BY,
    TAG_SWEEP,
    TAG_TRIAL_ID,
    Kind,
    Outcome,
)
from aesweep.tracking.uri import node_uri

MAX_PARAM_LENGTH = 6000
FEW_IDS = 16
"""Up to this many trial ids, their records are searched for by id (a query each); more,
by reading the experiment once (an inline sweep or an Optuna trial asks for one trial or one
pack at a time, the driver for all of them at once)."""
_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]+")
QUIET_LOGGERS = ("mlflow", "alembic")


def quiet_mlflow_logs() -> None:
    """MLflow's and alembic's INFO lines ("Creating initial MLflow database tables...") are
    not for users: warnings and errors only, whatever ``MLFLOW_LOGGING_LEVEL`` says."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


class NoRunsYet(Exception):
    """A read-only command on a store or experiment that a sweep has not created yet."""

    def __init__(self, experiment: str, uri: str) -> None:
        super().__init__(f"no runs yet for {experiment} in {uri}: run the sweep first")


def store_exists(uri: str) -> bool:
    """False when opening ``uri`` would create the store: a ``sqlite:///`` database file or a
    file store's folder that does not exist. A server (``http(s)://``, ...) exists."""
    uri = resolve_uri(uri)
    if uri.startswith("sqlite:///"):
        path = uri.removeprefix("sqlite:///").split("?", 1)[0]
        return path == ":memory:" or Path(path).exists()
    if uri.startswith("file:"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(uri).path)).exists()
    return True


def resolve_uri(uri: str) -> str:
    """Make a relative ``sqlite:///`` or file URI absolute, so Ray workers (which run in
    their own directories) write to the same store as the driver; a server's URI as this
    node reaches it (:func:`aesweep.tracking.uri.node_uri`)."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    if "://" not in uri:
        return Path(uri).resolve().as_uri()
    return node_uri(uri)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class TrialRecord:
    """A trial's child run as read back from MLflow."""

    run_id: str
    trial_id: str
    status: str  # MLflow's: RUNNING, FINISHED, FAILED, KILLED
    outcome: str | None
    params: dict[str, str]
    metrics: dict[str, float]  # latest value of each metric
    tags: dict[str, str]
    start_time: int

    @property
    def finished(self) -> bool:
        """Done for good: trained to the end, diverged (a result, not an error), or stopped
        early by the scheduler (never rerun)."""
        return self.outcome in DONE

    @property
    def stopped_epoch(self) -> int | None:
        value = self.tags.get(TAG_STOPPED_EPOCH)
        return int(value) if self.outcome == Outcome.STOPPED and value is not None else None

    @property
    def audit_epoch(self) -> int | None:
        """The epoch the scheduler would have stopped this trial at (it ran on: an audit)."""
        value = self.tags.get(TAG_AUDIT_EPOCH)
        return int(value) if value is not None else None


@contextlib.contextmanager
def creating_store(uri: str) -> Iterator[None]:
    """Serialise the creation of a SQLite store: MLflow's first client creates the tables and
    runs its migrations, and two processes doing it at once collide (``duplicate column name``,
    e.g. several ``aesweep run`` started together on a fresh ``mlflow.db``). The lock file
    beside the database is taken while the database does not exist yet, and by anyone who
    finds the lock file (a creation may be under way); an existing store opened for reading
    creates nothing."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    db = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
    lock = db.with_name(f".{db.name}.lock")
    if db.exists() and not lock.exists():
        yield
        return
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _with_retries(write: Callable[[], None], attempts: int) -> None:
    """``write()``, tried again after a moment on an MLflow error (SQLite's tag insert is not
    atomic, and the trial may be ending its own run this instant); the last error is raised.
    An unreachable server is not one of these: each call has already waited for it
    (:mod:`aesweep.tracking.retry`)."""
    for attempt in range(attempts):
        try:
            write()
            return
        except MlflowException as exc:
            if attempt == attempts - 1 or is_unreachable(exc):
                raise
            time.sleep(0.2)


class SweepStore:
    """The experiment of one spec, in one tracking store."""

    def __init__(self, uri: str, experiment: str) -> None:
        quiet_mlflow_logs()
        self.uri = resolve_uri(uri)
        self.experiment_name = experiment
        with creating_store(self.uri):  # the client's first use creates a new store's tables
            self._client = resilient(MlflowClient(tracking_uri=self.uri), self.uri)
            found = self._client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else None
        self._kind_tagged = found is not None and (
            found.tags.get(TAG_EXPERIMENT_KIND) == EXPERIMENT_KIND
        )

    @classmethod
    def open_existing(cls, uri: str, experiment: str) -> SweepStore:
        """The store of a sweep that ran, for reading: raises :class:`NoRunsYet` (creating
        nothing) when the store or the experiment does not exist."""
        if not store_exists(uri):
            raise NoRunsYet(experiment, uri)
        store = cls(uri, experiment)
        if store.experiment_id is None:
            raise NoRunsYet(experiment, uri)
        return store

    def ensure_experiment(self) -> str:
        """Create the experiment on first use, tagged as a model-training one (an existing
        experiment without the tag gets it). With a SQLite store, artifacts go beside the
        database file (absolute, so trials running in other directories find it)."""
        if self.experiment_id is None:
            location = None
            if self.uri.startswith("sqlite:///"):
                db = Path(self.uri.removeprefix("sqlite:///"))
                location = (db.parent / "mlartifacts").as_uri()
            self.experiment_id = self._client.create_experiment(
                self.experiment_name,
                artifact_location=location,
                tags={TAG_EXPERIMENT_KIND: EXPERIMENT_KIND},
            )
            self._kind_tagged = True
        self.tag_experiment_kind()
        return self.experiment_id

    def tag_experiment_kind(self) -> None:
        """Tag an existing experiment as model training if it is not (made by an older
        aesweep): the MLflow UI then treats it as runs, not GenAI traces."""
        if self.experiment_id is not None and not self._kind_tagged:
            self._client.set_experiment_tag(
                self.experiment_id, TAG_EXPERIMENT_KIND, EXPERIMENT_KIND
            )
            self._kind_tagged = True

    def open_parent(self, sweep: str, spec_hash: str, spec_text: str, summary: str) -> str:
        """A new parent run for this submission, the spec YAML logged as an artifact."""
        exp = self.ensure_experiment()
        run = self._client.create_run(
            exp,
            run_name=f"{sweep} (sweep)",
            tags={
                TAG_KIND: Kind.SWEEP,
                TAG_SWEEP: sweep,
                TAG_SPEC_HASH: spec_hash,
                TAG_SUMMARY: summary,
            },
        )
        self._client.log_text(run.info.run_id, spec_text, "spec.yaml")
        return run.info.run_id

    def close_parent(self, run_id: str, status: str = "FINISHED") -> None:
        self._client.set_terminated(run_id, status)

    def latest_parent_run(self, sweep: str) -> str | None:
        """The newest parent run of ``sweep`` in this experiment, or None."""
        if self.experiment_id is None:
            return None
        runs = self._client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.{TAG_KIND} = '{Kind.SWEEP}' and tags.{TAG_SWEEP} = '{sweep}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def log_run_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        """Metrics of a run as of now (the parent's sweep-level figures, e.g. importance)."""
        now = _now_ms()
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        for i in range(0, len(batch), 1000):
            self._client.log_batch(run_id, metrics=batch[i : i + 1000])

    def log_artifacts(self, run_id: str, folder: str | Path, artifact_path: str) -> None:
        """Every file of ``folder`` into ``run_id`` under ``artifact_path``."""
        self._client.log_artifacts(run_id, str(folder), artifact_path=artifact_path)

    def create_trial_run(
        self,
        parent_id: str,
        trial_id: str,
        name: str,
        params: dict[str, Any],
        group: str,
        config: dict[str, Any] | None = None,
    ) -> str:
        """A trial's child run, SCHEDULED; ``config``: its resolved config, kept as a JSON tag
        (an Optuna search reads its trials back from it)."""
        new = NewTrialRun(trial_id, name, params, group, config)
        return self.create_trial_runs(parent_id, [new])[0]

    def create_trial_runs(self, parent_id: str, runs: Sequence[NewTrialRun]) -> list[str]:
        """The child runs of many trials at once, SCHEDULED (:mod:`aesweep.tracking.batch`:
        one transaction per thousand runs on a SQL store); their run ids, in order."""
        exp = self.ensure_experiment()
        batch = [
            NewRun(
                name=run.name,
                tags=_trial_tags(parent_id, run),
                params={k: _param(v) for k, v in run.params.items()},
            )
            for run in runs
        ]
        return create_runs(self._client, exp, batch, "SCHEDULED")  # RUNNING once it starts

    def supersede(self, old_run_id: str, new_run_id: str, status: str | None = None) -> None:
        """An unfinished run whose trial starts over in ``new_run_id``: ended and tagged
        (``status``: the old run's, when the caller read it already)."""
        _supersede(self._client, old_run_id, new_run_id, status)

    def current_run(self, run_id: str) -> str:
        """The run a trial logs to now: ``run_id``, or the run that superseded it (a trial
        that started over in a new run while this submission ran)."""
        return _current(self._client, run_id)

    def mark_stopped(self, run_id: str, epoch: int, attempts: int = 3) -> None:
        """A trial the scheduler stopped after ``epoch``: FINISHED, outcome ``stopped``."""

        def stop() -> None:
            self._client.set_tag(run_id, TAG_OUTCOME, Outcome.STOPPED)
            self._client.set_tag(run_id, TAG_STOPPED_EPOCH, str(epoch))
            self._client.set_terminated(run_id, Outcome.STOPPED.run_status)

        _with_retries(stop, attempts)

    def set_run_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        self._client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_parent_params(self, run_id: str, params: dict[str, Any]) -> None:
        """The submission's settings beyond its spec (the search: algorithm, space, scheduler)."""
        batch = [Param(k, _param(v)) for k, v in params.items()]
        for i in range(0, len(batch), 100):
            self._client.log_batch(run_id, params=batch[i : i + 100])

    def close_abandoned(self, parent_run_id: str) -> int:
        """The records of a submission whose driver died (killed, its machine lost): its
        parent run and the trial runs it left RUNNING or SCHEDULED end KILLED (resumable);
        returns how many trial runs that ended."""
        if self._client.get_run(parent_run_id).info.status not in ("RUNNING", "SCHEDULED"):
            return 0
        left = [
            rec
            for rec in self.trial_records()
            if rec.tags.get(TAG_PARENT_RUN) == parent_run_id
            and rec.status in ("RUNNING", "SCHEDULED")
        ]
        for rec in left:
            self.mark_killed(rec.run_id)
        self._client.set_terminated(parent_run_id, "KILLED")
        return len(left)

    def mark_killed(self, run_id: str, attempts: int = 3) -> None:
        """End a trial's run as KILLED with the ``killed`` outcome (a sweep stopped by Ctrl-C).

        Ctrl-C reaches the trial too, which may be ending its run this instant (SQLite's tag
        insert is not atomic): on an MLflow error, wait a moment and retry."""

        def kill() -> None:
            self._client.set_tag(run_id, TAG_OUTCOME, Outcome.KILLED)
            self._client.set_terminated(run_id, Outcome.KILLED.run_status)

        _with_retries(kill, attempts)

    def trial_records(self, trial_ids: list[str] | None = None) -> list[TrialRecord]:
        """Every trial run of the experiment (newest first), optionally only these ids. A
        record's metrics are the trial's own: the node's ``system/*`` series measure the
        machine, not the trial, and stay in MLflow for the UI. A few ids (a trial, a pack)
        are searched for by id; more, by one read of the whole experiment."""
        if self.experiment_id is None:
            return []
        trials = f"tags.{TAG_KIND} = '{Kind.TRIAL}'"
        if (
            trial_ids is not None
            and len(set(trial_ids)) <= FEW_IDS
            and all(_SAFE_ID.fullmatch(t) for t in trial_ids)
        ):
            out = [
                rec
                for tid in dict.fromkeys(trial_ids)
                for rec in self._search(f"{trials} and tags.{TAG_TRIAL_ID} = '{tid}'")
            ]
            return sorted(out, key=lambda rec: -rec.start_time)
        records = self._search(trials)
        if trial_ids is None:
            return records
        wanted = set(trial_ids)
        return [rec for rec in records if rec.trial_id in wanted]

    def _search(self, filter_string: str) -> list[TrialRecord]:
        """The trial runs ``filter_string`` selects, newest first, every page."""
        assert self.experiment_id is not None
        out = []
        token = None
        while True:
            page = self._client.search_runs(
                [self.experiment_id],
                filter_string=filter_string,
                max_results=1000,
                order_by=["attributes.start_time DESC"],
                page_token=token,
            )
            out += [_record(run) for run in page]
            token = page.token
            if not token:
                return out

    def latest_by_trial(self, trial_ids: list[str]) -> dict[str, TrialRecord]:
        """The record that counts for each trial id: a finished one if any, else the newest."""
        best: dict[str, TrialRecord] = {}
        for rec in self.trial_records(trial_ids):  # newest first
            have = best.get(rec.trial_id)
            if have is None or (rec.finished and not have.finished):
                best[rec.trial_id] = rec
        return best

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in self._client.get_metric_history(run_id, key)]


@dataclass(frozen=True)
class NewTrialRun:
    """A trial's child run to create: its id, run name, params, results group and resolved
    config (kept as a JSON tag)."""

    trial_id: str
    name: str
    params: dict[str, Any]
    group: str
    config: dict[str, Any] | None = None


def _trial_tags(parent_id: str, run: NewTrialRun) -> dict[str, str]:
    tags = {
        TAG_PARENT_RUN: parent_id,
        TAG_KIND: Kind.TRIAL,
        TAG_TRIAL_ID: run.trial_id,
        TAG_GROUP: run.group,
    }
    if run.config is not None:
        tags[TAG_CONFIG] = json.dumps(run.config, sort_keys=True)
    return tags


def _record(run: Any) -> TrialRecord:
    return TrialRecord(
        run_id=run.info.run_id,
        trial_id=run.data.tags.get(TAG_TRIAL_ID, ""),
        status=run.info.status,
        outcome=run.data.tags.get(TAG_OUTCOME),
        params=dict(run.data.params),
        metrics={k: v for k, v in run.data.metrics.items() if not k.startswith(METRIC_SYSTEM)},
        tags=dict(run.data.tags),
        start_time=run.info.start_time,
    )


def _supersede(
    client: MlflowClient, old_run_id: str, new_run_id: str, status: str | None = None
) -> None:
    client.set_tag(old_run_id, TAG_SUPERSEDED_BY, new_run_id)
    if status is None:
        status = client.get_run(old_run_id).info.status
    if status in ("RUNNING", "SCHEDULED"):
        client.set_terminated(old_run_id, "KILLED")


def _current(client: MlflowClient, run_id: str, hops: int = 20) -> str:
    for _ in range(hops):
        newer = client.get_run(run_id).data.tags.get(TAG_SUPERSEDED_BY)
        if not newer:
            break
        run_id = newer
    return run_id


CARRIED_TAGS = (TAG_PARENT_RUN, TAG_KIND, TAG_TRIAL_ID, TAG_GROUP, TAG_CONFIG)
"""What a trial's run that starts over in a new run keeps: the driver's tags at creation."""


def _param(value: Any) -> str:
    text = "None" if value is None else str(value)
    return text[:MAX_PARAM_LENGTH]


class TrialRun:
    """What a running trial writes: metrics per evaluation, images, its final status."""

    def __init__(self, uri: str, run_id: str) -> None:
        quiet_mlflow_logs()
        self.uri = uri
        self._client = resilient(MlflowClient(tracking_uri=node_uri(uri)), uri)
        self.run_id = run_id

    def current(self) -> TrialRun:
        """This trial's run as it stands: the run that superseded this one, if any (a Ray
        retry of a trial that started over in a new run while the first attempt ran)."""
        now = _current(self._client, self.run_id)
        return self if now == self.run_id else TrialRun(self.uri, now)

    def restart(self, reason: str) -> TrialRun:
        """A new run for this trial, started over from epoch 0 (its checkpoint could not be
        used): the same parent, name, params and trial tags, tagged :data:`TAG_RESTARTED` with
        ``reason``; this run ends superseded by it (KILLED), so the trial counts once."""
        old = self._client.get_run(self.run_id)
        tags = {k: v for k, v in old.data.tags.items() if k in CARRIED_TAGS}
        tags[TAG_RESTARTED] = reason[:5000]
        new = self._client.create_run(
            old.info.experiment_id, run_name=old.info.run_name, tags=tags
        ).info.run_id
        batch = [Param(k, v) for k, v in old.data.params.items()]
        for i in range(0, len(batch), 100):
            self._client.log_batch(new, params=batch[i : i + 100])
        _supersede(self._client, self.run_id, new)
        return TrialRun(self.uri, new)

    def start(self) -> None:
        self._client.update_run(self.run_id, status="RUNNING")

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        now = _now_ms()
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        self._client.log_batch(self.run_id, metrics=batch)

    def set_tags(self, tags: dict[str, Any]) -> None:
        self._client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_png(self, png: bytes, artifact_file: str) -> None:
        """Log PNG bytes as ``artifact_file`` (e.g. ``samples/epoch_0005.png``)."""
        from PIL import Image

        self._client.log_image(
            self.run_id, Image.open(io.BytesIO(png)), artifact_file=artifact_file
        )

    def log_text(self, text: str, artifact_file: str) -> None:
        self._client.log_text(self.run_id, text, artifact_file)

    def log_protocol(self, params: dict[str, Any], dataset: dict[str, Any] | None = None) -> None:
        """The trial's evaluation protocol (plain data from aesweep.trainables.protocol): params,
        and optionally a dataset input (``name``, ``digest``, ``source``, ``profile``: the FID
        reference statistics), logged with the context tag ``fid_reference``. A param logged
        again (a resumed trial) must have the same value, as MLflow requires."""
        if params:
            batch = [Param(k, _param(v)) for k, v in params.items()]
            self._client.log_batch(self.run_id, params=batch)
        if dataset is not None:
            entity = Dataset(
                name=dataset["name"],
                digest=dataset["digest"],
                source_type="aesweep",
                source=json.dumps({"description": dataset["source"]}),
                profile=json.dumps(dataset.get("profile", {})),
            )
            tags = [InputTag("mlflow.data.context", "fid_reference")]
            self._client.log_inputs(self.run_id, [DatasetInput(entity, tags)])

    def last_logged_epoch(self) -> int:
        """The last epoch this run logged (0 if none): every logged epoch carries the
        ``epoch`` metric at its step. A trial logs only later epochs, so no epoch is ever
        written twice. (Not the highest step of any metric: the ``system/*`` series count
        samples, not epochs.)"""
        history = self._client.get_metric_history(self.run_id, METRIC_EPOCH)
        return max((m.step for m in history), default=0)

    def outcome(self) -> str | None:
        """The run's :data:`TAG_OUTCOME` tag as it stands now (None while it runs)."""
        return self._client.get_run(self.run_id).data.tags.get(TAG_OUTCOME)

    def finish(self, outcome: Outcome | str, **tags: Any) -> None:
        """End the run with ``outcome`` (an :class:`Outcome` or its value); a run that ends
        well sheds the error tag an earlier attempt left (a trial that failed once and
        finished on resubmission)."""
        outcome = Outcome(outcome)
        self.set_tags({TAG_OUTCOME: outcome, **tags})
        if outcome in ENDED_WELL and TAG_ERROR not in tags:
            with contextlib.suppress(MlflowException):
                if TAG_ERROR in self._client.get_run(self.run_id).data.tags:
                    self._client.delete_tag(self.run_id, TAG_ERROR)
        self._client.set_terminated(self.run_id, outcome.run_status)
