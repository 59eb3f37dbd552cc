"""Where a trial's checkpoints live and how the newest one is found, by trial id: folders and
``meta.json`` only, no torch.

Ray Tune keeps each trial's checkpoints under ``<storage>/<experiment>/<trial dir>/
checkpoint_*``; every trial directory name ends with the trial id and every checkpoint holds a
``meta.json`` with its epoch. A resubmitted sweep (new Ray experiment, possibly another
storage path) finds the newest checkpoint of an unfinished trial by scanning for its id, so
resume does not depend on Ray's experiment state. The inline runner writes the same layout.

A pack (several trials trained as one Ray trial) checkpoints under its own trial directory,
named by its pack id (``pack-…``); its ``pack.json`` lists the members, so the newest
checkpoint of a trial may be its pack's (:func:`is_pack_checkpoint`).

Kept apart from ``checkpoints`` (which saves and loads the state with torch) so the driver
(``sweeps.run``) can locate checkpoints without importing torch.
"""

from __future__ import annotations

import json
from pathlib import Path

META_FILE = "meta.json"
MEMBERS_FILE = "pack.json"
PACK_DIR_PREFIX = "pack-"


def write_meta(folder: Path, trial_id: str, epoch: int) -> None:
    (folder / META_FILE).write_text(json.dumps({"trial_id": trial_id, "epoch": epoch}))


def checkpoint_epoch(folder: Path) -> int | None:
    """The epoch of a complete checkpoint folder, or None (missing or unreadable meta)."""
    try:
        return int(json.loads((folder / META_FILE).read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pack_members(folder: Path) -> list[str]:
    """The trial ids a pack checkpoint holds (none: not a pack checkpoint, or unreadable)."""
    try:
        members = json.loads((folder / MEMBERS_FILE).read_text())["members"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [str(m) for m in members]


def is_pack_checkpoint(folder: str | Path) -> bool:
    return bool(pack_members(Path(folder)))


def find_latest(storage: str | Path, trial_id: str) -> Path | None:
    """The newest complete checkpoint of ``trial_id`` anywhere under ``storage``: its own, or
    one of a pack that held it."""
    root = Path(storage).expanduser()
    best: tuple[int, Path] | None = None
    own = root.glob(f"*/*{trial_id}/checkpoint_*")
    packs = (
        f for f in root.glob(f"*/{PACK_DIR_PREFIX}*/checkpoint_*") if trial_id in pack_members(f)
    )
    for folder in (*own, *packs):
        epoch = checkpoint_epoch(folder)
        if epoch is not None and (best is None or epoch > best[0]):
            best = (epoch, folder)
    return best[1] if best else None
