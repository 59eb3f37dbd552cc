"""Where a trial's checkpoints live and how the newest one is found, by trial id: folders and
``meta.json`` only, no torch.

Ray Tune keeps each trial's checkpoints under ``<storage>/<experiment>/<trial dir>/
checkpoint_*``; every trial directory name ends with the trial id and every checkpoint holds a
``meta.json`` with its epoch. A resubmitted sweep (new Ray experiment, possibly another
storage path) finds the newest checkpoint of an unfinished trial by scanning for its id, so
resume does not depend on Ray's experiment state. The inline runner writes the same layout.

Kept apart from ``checkpoints`` (which saves and loads the state with torch) so the driver
(``sweeps.run``) can locate checkpoints without importing torch.
"""

from __future__ import annotations

import json
from pathlib import Path

META_FILE = "meta.json"


def write_meta(folder: Path, trial_id: str, epoch: int) -> None:
    (folder / META_FILE).write_text(json.dumps({"trial_id": trial_id, "epoch": epoch}))


def checkpoint_epoch(folder: Path) -> int | None:
    """The epoch of a complete checkpoint folder, or None (missing or unreadable meta)."""
    try:
        return int(json.loads((folder / META_FILE).read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_latest(storage: str | Path, trial_id: str) -> Path | None:
    """The newest complete checkpoint of ``trial_id`` anywhere under ``storage``."""
    root = Path(storage).expanduser()
    best: tuple[int, Path] | None = None
    for folder in root.glob(f"*/*{trial_id}/checkpoint_*"):
        epoch = checkpoint_epoch(folder)
        if epoch is not None and (best is None or epoch > best[0]):
            best = (epoch, folder)
    return best[1] if best else None
