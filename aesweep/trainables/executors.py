"""The one step's trainer of a trial or a pack, with the executor ``compute.compile`` and
the family x strategy choose (aesweep/config/executors.py); the choice, and a compile that
fell back to eager, are recorded on every member's run."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from aesweep.config.executors import choose_executor
from aesweep.config.trial import TrialConfig
from aesweep.data.base import TensorDataset
from aesweep.tracking.schema import TAG_COMPILE_FALLBACK, TAG_EXECUTOR, TAG_EXECUTOR_WHY
from aesweep.tracking.store import TrialRun
from aesweep.trainables.step.members import SteppedMembers

log = logging.getLogger(__name__)


class RecordedMembers(SteppedMembers):
    """:class:`SteppedMembers` that tags its runs with a compile that fell back to eager."""

    runs: Sequence[TrialRun] = ()

    def epoch_metrics(self) -> dict[str, float]:
        metrics = super().epoch_metrics()
        if "compile_seconds" in metrics and self.runner.fallback is not None:
            for run in self.runs:
                run.set_tags({TAG_COMPILE_FALLBACK: self.runner.fallback, TAG_EXECUTOR: "eager"})
        return metrics


def stepped_trainer(
    trials: Sequence[TrialConfig],
    data: TensorDataset,
    device: torch.device,
    *,
    run_tags: Sequence[TrialRun] = (),
) -> RecordedMembers:
    """The members' trainer; the executor chosen for the first (a pack's members share
    every field that decides it) is tagged on every run."""
    executor = choose_executor(trials[0])
    log.info("step executor: %s (%s)", executor.label, executor.why)
    trainer = RecordedMembers(
        trials,
        data,
        device,
        compiled=executor.kind == "compiled",
        unroll=executor.unroll,
    )
    trainer.runs = list(run_tags)
    for run in run_tags:
        run.set_tags({TAG_EXECUTOR: executor.label, TAG_EXECUTOR_WHY: executor.why})
    return trainer
