"""One pack: N trials of one family, architecture and strategy trained as one vectorized
computation (the one training step under ``torch.func.vmap``,
:class:`aesweep.trainables.step.members.SteppedMembers`), each member still a trial with its
own MLflow run, through the one epoch loop (:func:`aesweep.trainables.epochs.train_epochs`):
a member with a non-finite loss or metric is logged, its run ends ``diverged`` at that epoch
and it is masked out while the others go on. The pack checkpoints and reports as one trial; a
checkpoint holds every member's rows by trial id, so a pack of some of its members (the
unfinished ones of a resubmitted spec) resumes from it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

import torch

from aesweep.config.packs import PackPayload
from aesweep.data.base import TensorDataset
from aesweep.data.loading import load_dataset
from aesweep.tracking.schema import TAG_ERROR, TAG_HOST, TAG_NODE, TAG_PACK, TAG_WORKER_PID, Outcome
from aesweep.tracking.store import TrialRun
from aesweep.tracking.system_metrics import system_metrics
from aesweep.trainables.autoencoder import autoencoder_member
from aesweep.trainables.checkpoint_files import UnreadableCheckpoint
from aesweep.trainables.checkpoints import restore_folder
from aesweep.trainables.epochs import Member, train_epochs
from aesweep.trainables.executors import stepped_trainer
from aesweep.trainables.optimizers import pick_device
from aesweep.trainables.protocol import protocol_params
from aesweep.trainables.reporting import Fresh, Reporter
from aesweep.trainables.storage import ended_by

_log = logging.getLogger(__name__)


def train_pack(
    payload: PackPayload,
    reporter: Reporter,
    runs: Sequence[TrialRun],
    *,
    data: TensorDataset | None = None,
    outcomes: dict[str, str] | None = None,
) -> dict[str, str]:
    """Train the pack's members; returns each member's outcome by trial id (every member's
    run is finished, ``finished`` or ``diverged``). ``data``: the loaded dataset (tests
    hand one in float64), else the first member's ``data`` config is loaded. ``outcomes`` is
    filled as members end (the caller's record when an exception cuts the pack short)."""
    trials = [m.trial for m in payload.members]
    device = pick_device(payload.use_gpu)
    if data is None:
        data = load_dataset(trials[0].data)
    data = data.to(device)
    trainer = stepped_trainer(trials, data, device, run_tags=runs)
    members: list[Member] = []
    for i, (cfg, run) in enumerate(zip(trials, runs, strict=True)):
        member = autoencoder_member(cfg, run, _Quiet(), data, trainer.models[i], device)
        member.evaluate = _synced(trainer.member, i, member.evaluate)
        members.append(member)
    ids = [t.trial_id for t in trials]
    with restore_folder(reporter, payload.resume_from, ids, runs) as folder:
        return train_epochs(
            trainer,
            members,
            reporter=reporter,
            restore=folder,
            checkpoint_id=payload.pack_id,
            outcomes=outcomes,
        )


def _synced(sync: Any, i: int, evaluate: Any) -> Any:
    """``evaluate`` after member i's state is copied into its module (grids read it too)."""

    def run(epoch: int) -> dict[str, float]:
        sync(i)
        result: dict[str, float] = evaluate(epoch)
        return result

    return run


class _Quiet:
    """A reporter for what a member would report on its own: the pack reports once."""

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        return None

    def restore_dir(self) -> None:
        return None

    def storage_filesystem(self) -> None:
        return None

    def node(self) -> None:
        return None


def run_pack(payload: PackPayload, reporter: Reporter) -> dict[str, str]:
    """A pack's MLflow lifecycle: every member's run started and tagged with the pack's id
    (an exception ends each unfinished member's run failed, or killed, and propagates). The
    node's system metrics go to every member (one process trains them all), sampled while
    the first member's run is RUNNING. A checkpoint the pack cannot use starts every member
    over from epoch 0 in a new run (tagged ``aesweep.restarted``)."""
    runs = [TrialRun(m.tracking_uri, m.run_id).current() for m in payload.members]
    try:
        return _attempt(payload, reporter, runs)
    except UnreadableCheckpoint as exc:
        _log.warning("pack %s starts over in new runs: %s", payload.pack_id, exc)
        fresh = [run.restart(str(exc)) for run in runs]
        return _attempt(payload.model_copy(update={"resume_from": None}), Fresh(reporter), fresh)


def _attempt(payload: PackPayload, reporter: Reporter, runs: list[TrialRun]) -> dict[str, str]:
    torch.set_num_threads(payload.threads)
    tags: dict[str, Any] = {
        TAG_PACK: payload.pack_id,
        TAG_WORKER_PID: os.getpid(),
        TAG_HOST: socket.gethostname(),
    }
    node = reporter.node()
    if node is not None:
        tags[TAG_NODE] = node
    for member, run in zip(payload.members, runs, strict=True):
        run.start()
        run.set_tags(tags)
        run.log_protocol(protocol_params(member.trial))
    outcomes: dict[str, str] = {}
    first = payload.members[0]
    ids = [run.run_id for run in runs]
    try:
        with system_metrics(first.tracking_uri, ids, first.system_metrics_s):
            return train_pack(payload, reporter, runs, outcomes=outcomes)
    except UnreadableCheckpoint:
        raise  # the caller starts the members over in new runs
    except (KeyboardInterrupt, SystemExit):
        for member, run in zip(payload.members, runs, strict=True):
            if outcomes.get(member.trial.trial_id, "running") == "running":
                run.finish(Outcome.KILLED)
        raise
    except BaseException as exc:  # a full or read-only storage: killed, resumable
        outcome, error = ended_by(exc)
        for member, run in zip(payload.members, runs, strict=True):
            if outcomes.get(member.trial.trial_id, "running") == "running":
                run.finish(outcome, **{TAG_ERROR: error})
        raise
