"""A trial's child run: the one to continue (it has a checkpoint, or never started) or a new
one (an older unfinished run is tagged as superseded, so no trial is counted twice). The
driver calls it for planned trials; an Optuna trial calls it itself, once its values are
sampled."""

from __future__ import annotations

from pathlib import Path

from aesweep.config.trial import TrialConfig, display_name
from aesweep.tracking.store import SweepStore, TrialRecord
from aesweep.trainables.checkpoint_files import find_latest


def child_run(
    store: SweepStore, parent: str, trial: TrialConfig, old: TrialRecord | None, storage: Path
) -> tuple[str, str | None]:
    """(the run id, the checkpoint folder to resume from or None) of an unfinished trial."""
    checkpoint = find_latest(storage, trial.trial_id)
    if old is not None and (checkpoint is not None or not old.metrics):
        return old.run_id, None if checkpoint is None else str(checkpoint)
    params = {"trial_id": trial.trial_id, **trial.flat()}
    group = " / ".join(trial.group_key)
    new = store.create_trial_run(
        parent, trial.trial_id, display_name(trial), params, group, config=trial.resolved()
    )
    if old is not None:
        store.supersede(old.run_id, new)
    return new, None
