"""A trial's child run: the one to continue (it has a checkpoint, or never started) or a new
one (an older unfinished run is tagged as superseded, so no trial is counted twice). The
driver calls :func:`child_runs` once for all planned trials (new runs created in batches);
an Optuna trial calls :func:`child_run` itself, once its values are sampled.

Which checkpoint a trial resumes from comes from ``checkpoints`` (trial id -> its newest
checkpoint folder), built once per submission by :func:`checkpoint_index`, not looked up
trial by trial.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from aesweep.config.trial import TrialConfig, display_name
from aesweep.tracking.store import NewTrialRun, SweepStore, TrialRecord
from aesweep.trainables.checkpoint_files import PACK_DIR_PREFIX, checkpoint_epoch, pack_members


def checkpoint_index(storage: str | Path, trial_ids: Iterable[str]) -> dict[str, str]:
    """Trial id -> the newest complete checkpoint of that trial anywhere under ``storage``
    (its own, or of a pack that held it), for each of ``trial_ids`` that has one: one scan of
    the storage, the same choice as ``checkpoint_files.find_latest`` (on a tie in epochs, a
    trial's own checkpoint before a pack's)."""
    wanted = set(trial_ids)
    lengths = {len(t) for t in wanted}
    best: dict[str, tuple[int, int, str]] = {}  # id -> (epoch, own 1 / pack 0, folder)
    root = Path(storage).expanduser()
    for folder in root.glob("*/*/checkpoint_*"):
        name = folder.parent.name
        owners = {(name[-n:], 1) for n in lengths if name[-n:] in wanted}
        if name.startswith(PACK_DIR_PREFIX):
            owners |= {(m, 0) for m in pack_members(folder) if m in wanted}
        if not owners:
            continue
        epoch = checkpoint_epoch(folder)
        if epoch is None:
            continue
        for tid, own in owners:
            have = best.get(tid)
            if have is None or (epoch, own) > have[:2]:
                best[tid] = (epoch, own, str(folder))
    return {tid: folder for tid, (_, _, folder) in best.items()}


def _continues(old: TrialRecord | None, checkpoint: str | None) -> bool:
    """The old run goes on: it has a checkpoint to resume, or it never logged a metric."""
    return old is not None and (checkpoint is not None or not old.metrics)


def _new_run(trial: TrialConfig) -> NewTrialRun:
    params = {"trial_id": trial.trial_id, **trial.flat()}
    group = " / ".join(trial.group_key)
    return NewTrialRun(
        trial.trial_id, display_name(trial), params, group, config=trial.resolved_view()
    )


def child_runs(
    store: SweepStore,
    parent: str,
    trials: Sequence[TrialConfig],
    existing: Mapping[str, TrialRecord],
    checkpoints: Mapping[str, str],
) -> dict[str, tuple[str, str | None]]:
    """Trial id -> (its run id, the checkpoint folder to resume from or None) of each of the
    unfinished ``trials``; ``existing``: the record that counts of each trial that has one.
    New runs are created together (:meth:`SweepStore.create_trial_runs`)."""
    out: dict[str, tuple[str, str | None]] = {}
    fresh: list[TrialConfig] = []
    for t in trials:
        old, checkpoint = existing.get(t.trial_id), checkpoints.get(t.trial_id)
        if old is not None and _continues(old, checkpoint):
            out[t.trial_id] = (old.run_id, checkpoint)
        else:
            fresh.append(t)
    run_ids = store.create_trial_runs(parent, [_new_run(t) for t in fresh])
    for t, run_id in zip(fresh, run_ids, strict=True):
        out[t.trial_id] = (run_id, None)
        old = existing.get(t.trial_id)
        if old is not None:
            store.supersede(old.run_id, run_id, old.status)
    return {t.trial_id: out[t.trial_id] for t in trials}


def child_run(
    store: SweepStore,
    parent: str,
    trial: TrialConfig,
    old: TrialRecord | None,
    checkpoints: Mapping[str, str],
) -> tuple[str, str | None]:
    """(the run id, the checkpoint folder to resume from or None) of one unfinished trial."""
    existing = {} if old is None else {trial.trial_id: old}
    return child_runs(store, parent, [trial], existing, checkpoints)[trial.trial_id]
