"""Where a trial's checkpoints live and how the newest one is found, by trial id.

Ray Tune keeps each trial's checkpoints under ``<storage>/<experiment>/<trial dir>/
checkpoint_*``; every trial directory name ends with the trial id and every checkpoint holds a
``meta.json`` with its epoch. A resubmitted sweep (new Ray experiment, possibly another
storage path) finds the newest checkpoint of an unfinished trial by scanning for its id, so
resume does not depend on Ray's experiment state. The inline runner writes the same layout.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from aesweep.config.trial import TrialPayload

META_FILE = "meta.json"
CHECKPOINT_FILE = "trial.pt"


def save_state(folder: Path, state: dict[str, Any]) -> None:
    """Write a trial's state with the RNG states added (what makes a resumed trial continue
    the same random stream)."""
    state = {**state, "rng_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["rng_cuda"] = torch.cuda.get_rng_state_all()
    torch.save(state, folder / CHECKPOINT_FILE)


def load_state(folder: Path) -> dict[str, Any]:
    """Read a trial's state (tensors and plain data only: ``weights_only``) and restore the
    RNG states it carries."""
    state = torch.load(folder / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    torch.set_rng_state(state["rng_cpu"])
    if "rng_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    return state


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


class InlineCheckpoints:
    """The inline runner's checkpoint store: the Ray layout, the last ``keep`` kept."""

    def __init__(self, trial_dir: Path, keep: int) -> None:
        self.trial_dir, self.keep = trial_dir, keep

    def persist(self, source: str | Path, epoch: int) -> None:
        target = self.trial_dir / f"checkpoint_{epoch:06d}"
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)  # a crash never leaves a half-written checkpoint_* folder
        done = sorted(self.trial_dir.glob("checkpoint_??????"))
        for old in done[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def restore_folder(reporter: Any, payload: TrialPayload) -> Iterator[Path | None]:
    """The folder to resume from: Ray's own checkpoint of this run (a retried trial), else the
    newest one the driver found for this trial id (a resubmitted sweep), else None."""
    checkpoint = reporter.restore_dir()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            yield Path(folder)
        return
    yield Path(payload.resume_from) if payload.resume_from else None
