"""A trial's state on disk (torch): saved with the RNG states, loaded back; the inline
runner's checkpoint folders; the folder a trial resumes from.

The folder layout and how the newest checkpoint of a trial is found (``meta.json``,
``find_latest``) are torch-free and live in ``checkpoint_files``.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from aesweep.config.trial import TrialPayload

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
