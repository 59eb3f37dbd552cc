"""The entry points Ray Tune and the inline runner call: one trial's MLflow run lifecycle.

The family's config names its training function (``ModelConfig.trainable``); both entry
points log to the trial's child run created beforehand by the driver, so records are the
same whichever runner ran the trial. What the driver hands over is a typed
:class:`aesweep.config.trial.TrialPayload`, or for a pack of trials trained as one a
:class:`aesweep.config.packs.PackPayload` (:func:`aesweep.trainables.packs.trainable.run_pack`:
each member still logs to its own child run).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import aesweep.catalog  # noqa: F401  (every component config registered, for the payload)
from aesweep.config.packs import PackPayload
from aesweep.config.registry import import_target
from aesweep.config.sampled import FINISHED_KEY, RESUME_KEY, RUN_KEY, SearchPayload
from aesweep.config.trial import TrialPayload
from aesweep.tracking.schema import TAG_ERROR, TAG_HOST, TAG_NODE, TAG_WORKER_PID, Outcome
from aesweep.tracking.store import SweepStore, TrialRun
from aesweep.tracking.system_metrics import system_metrics
from aesweep.trainables.checkpoint_files import UnreadableCheckpoint
from aesweep.trainables.checkpoints import InlineCheckpoints
from aesweep.trainables.fid_scoring import fid_scorer
from aesweep.trainables.optimizers import pick_device
from aesweep.trainables.protocol import protocol_params, record_fid_protocol
from aesweep.trainables.reporting import Fresh, InlineReporter, Reporter, TuneReporter
from aesweep.trainables.storage import ended_by

_log = logging.getLogger(__name__)


def run_trial(payload: TrialPayload, reporter: Reporter) -> str:
    """Train and evaluate one trial; returns its outcome (``finished`` or ``diverged``).

    An exception marks the run FAILED (Ctrl-C or a stopped worker: KILLED) and propagates,
    so Ray can retry it. A checkpoint the trial cannot use (none good, or one torch cannot
    load) never fails it: the trial starts over from epoch 0 in a new run, tagged
    ``aesweep.restarted`` (the old run ends superseded by it).
    """
    run = TrialRun(payload.tracking_uri, payload.run_id).current()
    try:
        return _attempt(payload, reporter, run)
    except UnreadableCheckpoint as exc:
        _log.warning("trial %s starts over in a new run: %s", payload.trial.trial_id, exc)
        fresh = run.restart(str(exc))
        return _attempt(payload.model_copy(update={"resume_from": None}), Fresh(reporter), fresh)


def _attempt(payload: TrialPayload, reporter: Reporter, run: TrialRun) -> str:
    """One trial on its run: started and tagged, the node's system metrics sampled."""
    cfg = payload.trial
    torch.set_num_threads(payload.threads)
    run.start()
    tags = {TAG_WORKER_PID: os.getpid(), TAG_HOST: socket.gethostname()}
    node = reporter.node()
    if node is not None:
        tags[TAG_NODE] = node  # the Ray node id: which node of a cluster ran it
    run.set_tags(tags)
    run.log_protocol(protocol_params(cfg))
    with system_metrics(payload.tracking_uri, [run.run_id], payload.system_metrics_s):
        return _train(payload, reporter, run)


def _train(payload: TrialPayload, reporter: Reporter, run: TrialRun) -> str:
    """The family's training function on a started run; its outcome, or the run ended
    failed (killed) and the exception raised."""
    cfg = payload.trial
    train = import_target(cfg.model.trainable)
    try:
        outcome: str = train(cfg, payload, reporter, run)
        if cfg.evaluation.fid is not None:  # the scorer the trial used (one per process)
            device = pick_device(payload.use_gpu)
            record_fid_protocol(cfg, fid_scorer(cfg, device), run)
        return outcome
    except UnreadableCheckpoint:
        raise  # the caller starts the trial over in a new run
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C here, or Ray stopping its worker
        # A trial the scheduler stopped is ended by the driver (FINISHED, ``stopped``) while
        # Tune stops its thread: that record stands, whichever write comes first.
        if run.outcome() != Outcome.STOPPED:
            run.finish(Outcome.KILLED)
        raise
    except BaseException as exc:  # a full or read-only storage: killed, resumable
        outcome, error = ended_by(exc)
        run.finish(outcome, **{TAG_ERROR: error})
        raise


def tune_trainable(
    config: dict[str, Any], payloads: Callable[[str], TrialPayload | PackPayload]
) -> None:
    """The Ray Tune function trainable: ``config["trial_id"]`` names one trial, or one pack
    (by its pack id), whose payload ``payloads`` fetches (that one alone:
    :class:`aesweep.sweeps.backends.tune.PayloadShelf`)."""
    for name in ("ray.train", "ray.tune"):  # one "checkpoint created" line per epoch is noise
        logging.getLogger(name).setLevel(logging.WARNING)
    payload = payloads(config["trial_id"])
    if isinstance(payload, PackPayload):
        from aesweep.trainables.packs.trainable import run_pack

        run_pack(payload, TuneReporter())
        return
    rank = None if payload.rank_metric is None else (payload.rank_metric, payload.rank_mode)
    run_trial(payload, TuneReporter(rank))


def inline_trainable(payload: TrialPayload) -> str:
    """Run one trial here; checkpoints go to ``payload.inline_dir`` when given."""
    folder, keep = payload.inline_dir, payload.trial.checkpoint.keep
    checkpoints = InlineCheckpoints(folder, keep) if folder else None
    return run_trial(payload, InlineReporter(checkpoints))


def inline_pack(payload: PackPayload) -> dict[str, str]:
    """Run one pack here; returns each member's outcome. Checkpoints go to
    ``payload.inline_dir`` when given."""
    from aesweep.trainables.packs.trainable import run_pack

    folder, keep = payload.inline_dir, payload.members[0].trial.checkpoint.keep
    checkpoints = InlineCheckpoints(folder, keep) if folder else None
    return run_pack(payload, InlineReporter(checkpoints))


def search_trainable(config: dict[str, Any], context: SearchPayload) -> None:
    """The Ray Tune function trainable of an Optuna search: resolve the trial of the sampled
    values (its id: the hash of its resolved config, as a planned trial's) and run it in the
    child run the driver opened for it (``config[RUN_KEY]``). A trial already finished (the
    searcher suggested it again) is not rerun: its recorded metric is reported."""
    for name in ("ray.train", "ray.tune"):
        logging.getLogger(name).setLevel(logging.WARNING)
    trial = context.sampled.trial({k: config[k] for k in context.keys})
    reporter = TuneReporter((context.rank_metric, context.rank_mode))
    if config.get(FINISHED_KEY):
        store = SweepStore(context.tracking_uri, context.experiment)
        old = store.latest_by_trial([trial.trial_id]).get(trial.trial_id)
        if old is not None and old.finished:
            reporter.report({**old.metrics, "diverged": float(old.outcome == Outcome.DIVERGED)})
            return
    payload = TrialPayload(
        trial=trial.located(Path(context.workdir)),
        tracking_uri=context.tracking_uri,
        run_id=str(config[RUN_KEY]),
        resume_from=config.get(RESUME_KEY),
        threads=context.threads,
        use_gpu=context.use_gpu,
        rank_metric=context.rank_metric,
        rank_mode=context.rank_mode,
        system_metrics_s=context.system_metrics_s,
    )
    run_trial(payload, reporter)
