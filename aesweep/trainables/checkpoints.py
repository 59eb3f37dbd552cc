"""A trial's state on disk (torch): saved with the RNG states, loaded back; the inline
runner's checkpoint folders; the verified local folder a trial resumes from.

The folder layout, the manifest and how the newest good checkpoint of a trial is found
are torch-free and live in ``checkpoint_files``; the storage (local or a URI) in ``storage``.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import torch

from aesweep.tracking.schema import TAG_FALLBACK
from aesweep.trainables.checkpoint_files import (
    CHECKPOINT_NAME,
    META_FILE,
    UnreadableCheckpoint,
    fetch_good,
)
from aesweep.trainables.storage import (
    Location,
    delete_folder,
    listing,
    open_location,
    upload_folder,
)

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
    """The inline runner's checkpoint store: the Ray layout under ``trial_dir`` (a local
    folder or a storage URI), the last ``keep`` kept. A checkpoint is written whole before the
    oldest is removed (:func:`aesweep.trainables.storage.upload_folder`)."""

    def __init__(self, trial_dir: str | Path, keep: int) -> None:
        self.trial_dir, self.keep = open_location(str(trial_dir)), keep

    def persist(self, source: str | Path, epoch: int) -> None:
        upload_folder(Path(source), self.trial_dir.child(f"checkpoint_{epoch:06d}"), last=META_FILE)
        done = sorted(
            i.base_name
            for i in listing(self.trial_dir, recursive=False)
            if i.type == pafs.FileType.Directory and CHECKPOINT_NAME.match(i.base_name)
        )
        for old in done[: -self.keep]:
            delete_folder(self.trial_dir.child(old))


@contextlib.contextmanager
def restore_folder(
    reporter: Any, resume_from: str | None, trial_ids: Sequence[str], runs: Sequence[Any]
) -> Iterator[Path | None]:
    """The local folder to resume from, verified: Ray's own checkpoint of this run (a retried
    trial), else the one the driver found (a resubmitted sweep), else None; a damaged one is
    skipped for the newest good one beside it, and ``runs`` are tagged with the skip. With no
    good one left, :class:`UnreadableCheckpoint` (the trial starts over in a new run)."""
    checkpoint = reporter.restore_dir()
    if checkpoint is not None:
        first: Location | None = Location(checkpoint.filesystem, checkpoint.path, checkpoint.path)
    elif resume_from:
        first = open_location(resume_from, reporter.storage_filesystem())
    else:
        first = None
    if first is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="aesweep-restore-") as tmp:
        found = fetch_good(first, trial_ids, Path(tmp))
        note = found.note()
        if found.location is None:
            raise UnreadableCheckpoint(note or "no good checkpoint")
        if note is not None:
            for run in runs:
                run.set_tags({TAG_FALLBACK: note})
        yield Path(found.location.path)
