"""The MLflow record schema: every tag, param and metric key aesweep writes or reads back,
and the trial outcomes.

Records outlive the code that wrote them (resubmission, ``results``, ``status`` and the UI
read them back), so these strings are a stored contract: renaming a constant is free,
changing its value is not. The module imports nothing but the standard library (no mlflow,
torch or Ray), so validate and plan may use it too; the keys MLflow itself defines are
mirrored here for the same reason. The metric names a spec can rank by belong to the config
layer (:mod:`aesweep.config.metrics`), which validates them.
"""

from __future__ import annotations

from enum import StrEnum

# -- MLflow's own keys (mirrored: this module does not import mlflow) -----------------------

TAG_PARENT_RUN = "mlflow.parentRunId"
"""A trial run's parent run id: the submission that created it (MLflow's nesting tag)."""

TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
"""Experiment tag: MLflow 3's UI opens an experiment without it on its GenAI overview."""

EXPERIMENT_KIND = "custom_model_development"
"""The value of :data:`TAG_EXPERIMENT_KIND`: a model-training experiment (the runs table)."""

# -- Tags on every run ---------------------------------------------------------------------

TAG_KIND = "aesweep.kind"
"""Which record a run is: a :class:`Kind` value (a submission's parent or a trial)."""

# -- Tags on a submission's parent run -----------------------------------------------------

TAG_SWEEP = "aesweep.sweep"
"""The spec's sweep name: resubmissions find their earlier parents by it."""

TAG_SPEC_HASH = "aesweep.spec_hash"
"""The hash of the spec the submission ran: an edited spec is a new submission."""

TAG_SUMMARY = "summary"
"""One line for the UI: what the submission runs (dataset, models, strategies, trials)."""

TAG_PACK_AUTO = "aesweep.pack_auto"
"""The ``compute.pack: auto`` decision per group of trials (size, why, timings), JSON."""

# -- Tags on a trial's run, set by the driver ----------------------------------------------

TAG_TRIAL_ID = "aesweep.trial_id"
"""The trial's stable id (a hash of its config): a trial's runs across submissions share it."""

TAG_GROUP = "aesweep.group"
"""``dataset / model / strategy``: the group the trial's results are compared within."""

TAG_CONFIG = "aesweep.config"
"""The trial's resolved config, JSON (an Optuna search reads its trials back from it)."""

TAG_OUTCOME = "aesweep.outcome"
"""How the trial's run ended: an :class:`Outcome` value; absent while it runs."""

TAG_STOPPED_EPOCH = "aesweep.stopped_epoch"
"""The epoch after which the scheduler (ASHA) stopped the trial (outcome ``stopped``)."""

TAG_AUDIT_EPOCH = "aesweep.audit_epoch"
"""The epoch at which the scheduler would have stopped the trial, in audit mode (it ran on)."""

TAG_SUPERSEDED_BY = "aesweep.superseded_by"
"""The run an unfinished run's trial started over in: this one then counts no more."""

# -- Tags on a trial's run, set by the trial -----------------------------------------------

TAG_ERROR = "aesweep.error"
"""The exception that failed the run, one line; shed when a later attempt ends well."""

TAG_DIVERGED_EPOCH = "aesweep.diverged_epoch"
"""The epoch at which the trial's loss or weights stopped being finite."""

TAG_DIVERGED_STAGE = "aesweep.diverged_stage"
"""Which stage diverged when not the autoencoder's own (``lt``: the latent-trick generator)."""

TAG_RESTARTED = "aesweep.restarted"
"""Why the run started over from epoch 0: its checkpoint could not be used."""

TAG_FALLBACK = "aesweep.checkpoint_fallback"
"""Why the run resumed from an older checkpoint: the newer one was damaged."""

TAG_RESUMED_FROM_EPOCH = "aesweep.resumed_from_epoch"
"""The epoch of the checkpoint the run's latest attempt resumed from."""

TAG_PACK = "aesweep.pack"
"""The pack (several trials trained in one process) the trial was trained in, if any."""

TAG_WORKER_PID = "aesweep.worker_pid"
"""The process id of the worker that ran the trial's latest attempt."""

TAG_HOST = "aesweep.host"
"""The host name of the machine that ran the trial's latest attempt."""

TAG_NODE = "aesweep.node"
"""The Ray node id that ran the trial's latest attempt (absent when run inline)."""

TAG_EXECUTOR = "aesweep.executor"
"""How the training step ran: its executor's label (``eager`` after a compile fell back)."""

TAG_EXECUTOR_WHY = "aesweep.executor_why"
"""Why that executor was chosen, one line."""

TAG_COMPILE_FALLBACK = "aesweep.compile_fallback"
"""Why the compiled step fell back to eager."""

TAG_SYSTEM_METRICS_NODE = "aesweep.system_metrics.node"
"""The host whose machine figures the run's ``system/*`` metrics are."""

TAG_SYSTEM_METRICS_INTERVAL = "aesweep.system_metrics.interval_s"
"""The seconds between two samples of the ``system/*`` metrics."""

# -- Tags of a sweep's lock (an experiment of its own; see aesweep.tracking.locks) ---------

TAG_LOCK_HOST = "lock.host"
"""The host of the driver that holds the lock."""

TAG_LOCK_PID = "lock.pid"
"""The process id of the driver that holds the lock."""

TAG_LOCK_PID_START = "lock.pid_start"
"""That process's start time (a reused pid is not the holder)."""

TAG_LOCK_STARTED = "lock.started"
"""When the lock was taken (seconds since the epoch)."""

TAG_LOCK_HEARTBEAT = "lock.heartbeat"
"""When the holder last said it is alive (seconds since the epoch)."""

TAG_LOCK_TOKEN = "lock.token"
"""A random token of the holder: whoever finds its own token holds the lock."""

TAG_LOCK_PARENT = "lock.parent_run"
"""The parent run of the submission that holds the lock."""

# -- Param keys and metric-key prefixes ----------------------------------------------------

PARAM_SEARCH = "search."
"""Prefix of a parent run's params that record the search (algorithm, space, scheduler)."""

PARAM_PACK_AUTO_GROUPS = "pack_auto_groups"
"""Parent param: how many groups of trials ``compute.pack: auto`` decided for."""

PARAM_PACK_AUTO_PACKED_GROUPS = "pack_auto_packed_groups"
"""Parent param: how many of those groups it packed (two trials or more per process)."""

PARAM_PACK_AUTO_SECONDS = "pack_auto_seconds"
"""Parent param: the seconds the auto decision's timings took."""

PARAM_PROTOCOL = "protocol."
"""Prefix of a trial's params that record its evaluation protocol (distances, FID)."""

METRIC_EPOCH = "epoch"
"""Trial metric: the epoch, logged at every evaluation with the epoch as its step."""

METRIC_SYSTEM = "system/"
"""Prefix of a run's machine metrics (CPU, memory, GPU): the node's, not the trial's."""

METRIC_IMPORTANCE = "importance"
"""Prefix of the parent run's hyperparameter-importance metrics."""


class Kind(StrEnum):
    """The value of :data:`TAG_KIND`."""

    SWEEP = "sweep"
    """A submission's parent run."""
    TRIAL = "trial"
    """One trial's run (a child of a parent)."""


class Outcome(StrEnum):
    """The value of :data:`TAG_OUTCOME`: how a trial's run ended. A ``str`` (stored and
    compared as its value), so records written before this enum read back unchanged."""

    FINISHED = "finished"
    """Trained every epoch."""
    DIVERGED = "diverged"
    """Its loss or weights stopped being finite: a result (it counts), not an error."""
    STOPPED = "stopped"
    """Stopped early by the scheduler (ASHA): a result, never rerun."""
    FAILED = "failed"
    """An error ended it (:data:`TAG_ERROR` says which); a resubmission runs it again."""
    KILLED = "killed"
    """Cut short (Ctrl-C, a signal, a driver that died); a resubmission resumes it."""

    @property
    def done(self) -> bool:
        """Done for good: a resubmission never runs it again."""
        return self in DONE

    @property
    def run_status(self) -> str:
        """The MLflow run status a run with this outcome ends with."""
        return _RUN_STATUS.get(self, "FAILED")

    @classmethod
    def of(cls, value: str | None) -> Outcome | None:
        """The outcome a stored tag value names; None for none or a value this version does
        not know."""
        try:
            return cls(value) if value is not None else None
        except ValueError:
            return None


DONE = frozenset({Outcome.FINISHED, Outcome.DIVERGED, Outcome.STOPPED})
"""The outcomes that are results: such a trial is never run again."""

ENDED_WELL = frozenset({Outcome.FINISHED, Outcome.DIVERGED})
"""The outcomes a trial's own attempt ends well with: the run sheds an earlier error tag."""

_RUN_STATUS = {Outcome.FINISHED: "FINISHED", Outcome.STOPPED: "FINISHED", Outcome.KILLED: "KILLED"}
