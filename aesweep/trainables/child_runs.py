"""A trial's child run: the one to continue (it has a good checkpoint, or never started) or
a new one (an older unfinished run is tagged as superseded, so no trial is counted twice). The
driver calls :func:`child_runs` once for all planned trials (new runs created in batches);
an Optuna trial calls :func:`child_run` itself, once its values are sampled.

Which checkpoint a trial resumes from comes from :func:`checkpoint_index`: one listing of the
storage per submission (local or a URI such as ``s3://``), each trial's newest good checkpoint
chosen by its verified manifest, not looked up trial by trial.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aesweep.config.trial import TrialConfig, display_name
from aesweep.tracking.schema import TAG_FALLBACK, TAG_RESTARTED
from aesweep.tracking.store import NewTrialRun, SweepStore, TrialRecord
from aesweep.trainables.checkpoint_files import CheckpointIndex, Found

ChildRun = tuple[str, str | None, str | None]
"""(the run id, the checkpoint to resume from or None, a note when damaged checkpoints were
skipped or None)."""


def checkpoint_index(
    storage: str | Path, trial_ids: Iterable[str], fs: Any | None = None
) -> dict[str, Found]:
    """Trial id -> what :meth:`CheckpointIndex.newest_good` finds for it, for each of
    ``trial_ids`` with a checkpoint folder anywhere under ``storage`` (its own, or a pack's
    that held it): one listing of the storage (``fs``: its pyarrow filesystem, when the caller
    has one), the same choice as ``checkpoint_files.find_latest``."""
    index = CheckpointIndex.scan(str(storage), fs)
    return {
        tid: index.newest_good(tid) for tid in dict.fromkeys(trial_ids) if index.candidates(tid) > 0
    }


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
    checkpoints: Mapping[str, Found],
) -> dict[str, ChildRun]:
    """Trial id -> :data:`ChildRun` of each of the unfinished ``trials``; ``existing``: the
    record that counts of each trial that has one; ``checkpoints``: from
    :func:`checkpoint_index`. The newest good checkpoint is resumed in the run that logged it;
    the run is tagged ``aesweep.checkpoint_fallback`` when a newer one was damaged, and a trial
    left with damaged checkpoints only starts over tagged ``aesweep.restarted``. New runs are
    created together (:meth:`SweepStore.create_trial_runs`)."""
    out: dict[str, ChildRun] = {}
    fresh: list[tuple[TrialConfig, dict[str, str], str | None]] = []
    for t in trials:
        old, found = existing.get(t.trial_id), checkpoints.get(t.trial_id, Found())
        checkpoint = found.location.text if found.location is not None else None
        note = found.note()
        tag = {TAG_FALLBACK if checkpoint is not None else TAG_RESTARTED: note} if note else {}
        if old is not None and (checkpoint is not None or not old.metrics):
            if tag:
                store.set_run_tags(old.run_id, tag)
            out[t.trial_id] = (old.run_id, checkpoint, note)
        elif checkpoint is not None:  # a checkpoint without a run to continue: not resumed
            fresh.append((t, {}, None))
        else:
            fresh.append((t, tag, note))
    run_ids = store.create_trial_runs(parent, [_new_run(t) for t, _, _ in fresh])
    for (t, tag, note), run_id in zip(fresh, run_ids, strict=True):
        if tag:
            store.set_run_tags(run_id, tag)
        out[t.trial_id] = (run_id, None, note)
        old = existing.get(t.trial_id)
        if old is not None:
            store.supersede(old.run_id, run_id, old.status)
    return {t.trial_id: out[t.trial_id] for t in trials}


def child_run(
    store: SweepStore,
    parent: str,
    trial: TrialConfig,
    old: TrialRecord | None,
    checkpoints: Mapping[str, Found],
) -> ChildRun:
    """:data:`ChildRun` of one unfinished trial (see :func:`child_runs`)."""
    existing = {} if old is None else {trial.trial_id: old}
    return child_runs(store, parent, [trial], existing, checkpoints)[trial.trial_id]
