"""Shared set-up of the trainables tests: an in-memory stand-in for a trial's MLflow run and a
resolved trial from a spec dict, so that trainables run in-process without a tracking store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from aesweep.config.trial import TrialConfig, TrialPayload
from aesweep.sweeps.load import load_plan
from aesweep.trainables.checkpoints import InlineCheckpoints
from aesweep.trainables.reporting import InlineReporter


class MemoryRun:
    """What a trainable writes to its run (:class:`aesweep.tracking.store.TrialRun`), kept in
    memory: metrics by step, tags, artifact names, the outcome. ``logged``: steps a previous
    attempt of the trial already logged."""

    def __init__(self, logged: dict[int, dict[str, float]] | None = None) -> None:
        self.metrics: dict[int, dict[str, float]] = {s: dict(m) for s, m in (logged or {}).items()}
        self.logged_steps: list[int] = []
        self.tags: dict[str, Any] = {}
        self.artifacts: list[str] = []
        self.outcome: str | None = None

    def start(self) -> None:
        return None

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.logged_steps.append(step)
        self.metrics.setdefault(step, {}).update(metrics)

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.tags.update(tags)

    def log_png(self, png: bytes, artifact_file: str) -> None:
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        self.artifacts.append(artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.artifacts.append(artifact_file)

    def last_logged_epoch(self) -> int:
        return max(self.metrics, default=0)

    def finish(self, outcome: str, **tags: Any) -> None:
        self.outcome = outcome
        self.tags.update(tags)


def trial_from(write_spec, spec: dict[str, Any]) -> TrialConfig:
    """The one trial a spec dict plans."""
    _, (trial,) = load_plan(write_spec({"name": "t", **spec}))
    return trial


def inline(
    trial: TrialConfig, folder: Path, resume_from: Path | None = None
) -> tuple[TrialPayload, InlineReporter]:
    """A payload and the inline runner's reporter, checkpoints kept under ``folder``."""
    payload = TrialPayload(
        trial=trial,
        tracking_uri="memory",
        run_id="memory",
        resume_from=str(resume_from) if resume_from else None,
        inline_dir=str(folder),
    )
    return payload, InlineReporter(InlineCheckpoints(folder, keep=trial.checkpoint.keep))


def assert_same(a: Any, b: Any, where: str = "state") -> None:
    """Exactly equal nested checkpoint contents: tensors by value, dtype and shape."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (where, set(a) ^ set(b))
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)
