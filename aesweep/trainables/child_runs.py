"""A trial's child run: the one to continue (it has a good checkpoint, or never started) or
a new one (an older unfinished run is tagged as superseded, so no trial is counted twice). The
driver calls it for planned trials; an Optuna trial calls it itself, once its values are
sampled."""

from __future__ import annotations

from aesweep.config.trial import TrialConfig, display_name
from aesweep.tracking.schema import TAG_FALLBACK, TAG_RESTARTED
from aesweep.tracking.store import SweepStore, TrialRecord
from aesweep.trainables.checkpoint_files import CheckpointIndex


def child_run(
    store: SweepStore,
    parent: str,
    trial: TrialConfig,
    old: TrialRecord | None,
    index: CheckpointIndex,
) -> tuple[str, str | None, str | None]:
    """(the run id, the checkpoint to resume from or None, a note when damaged checkpoints
    were skipped) of an unfinished trial. The newest good checkpoint is resumed in the run
    that logged it; the run is tagged ``aesweep.checkpoint_fallback`` when a newer one was
    damaged, and a trial left with damaged checkpoints only starts over tagged
    ``aesweep.restarted``."""
    found = index.newest_good(trial.trial_id)
    checkpoint = found.location.text if found.location is not None else None
    note = found.note()
    tag = {TAG_FALLBACK if checkpoint is not None else TAG_RESTARTED: note} if note else {}
    if old is not None and (checkpoint is not None or not old.metrics):
        if tag:
            store.set_run_tags(old.run_id, tag)
        return old.run_id, checkpoint, note
    params = {"trial_id": trial.trial_id, **trial.flat()}
    group = " / ".join(trial.group_key)
    new = store.create_trial_run(
        parent, trial.trial_id, display_name(trial), params, group, config=trial.resolved()
    )
    if checkpoint is not None:  # a checkpoint without a run to continue: not resumed
        tag, note = {}, None
    if tag:
        store.set_run_tags(new, tag)
    if old is not None:
        store.supersede(old.run_id, new)
    return new, None, note
