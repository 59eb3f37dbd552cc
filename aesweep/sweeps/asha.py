"""Early stopping: Ray Tune's ASHAScheduler on the epochs, which never stops a trial at its
own last epoch (it ends itself, recording its result: a STOP there would cut what runs after
the last report), and with ``audit`` K lets the first K trials it would stop at the earliest
rung run to the end (``audited``: trial id -> epoch), to check afterwards that stopping was
safe (``results --stopping``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from aesweep.sweeps.spec import SchedulerConfig, SweepSpec


class AuditedASHA(ASHAScheduler):
    """ASHA (metric and mode come from Tune's TuneConfig) with an audit and no stop at a
    trial's last epoch; ``epochs_of``/``tid_of``: a Tune trial's epochs and trial id."""

    def __init__(
        self,
        sched: SchedulerConfig,
        epochs: int,
        epochs_of: Callable[[Any], int],
        tid_of: Callable[[Any], str],
    ) -> None:
        super().__init__(
            time_attr="epoch",
            grace_period=sched.grace_period,
            reduction_factor=sched.reduction_factor,
            max_t=sched.max_t or epochs,
        )
        self.sched, self.epochs_of, self.tid_of = sched, epochs_of, tid_of
        self.audited: dict[str, int] = {}

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        tid = self.tid_of(trial)
        if tid in self.audited:  # runs on, out of the rungs (it would bias them)
            return str(TrialScheduler.CONTINUE)
        action = str(super().on_trial_result(tune_controller, trial, result))
        epoch = int(result.get("epoch", 0) or 0)
        if epoch >= self.epochs_of(trial):
            return str(TrialScheduler.CONTINUE)
        if (
            action == TrialScheduler.STOP
            and epoch == self.sched.grace_period
            and len(self.audited) < self.sched.audit
        ):
            self.audited[tid] = epoch
            return str(TrialScheduler.CONTINUE)
        return action

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        if self.tid_of(trial) in self.audited:
            self._trial_info.pop(trial.trial_id, None)
            return
        super().on_trial_complete(tune_controller, trial, result)


def scheduler(
    spec: SweepSpec, epochs_of: Callable[[Any], int], tid_of: Callable[[Any], str]
) -> AuditedASHA | None:
    """The sweep's early-stopping scheduler (None: none)."""
    sched = spec.search.scheduler
    if sched is None:
        return None
    return AuditedASHA(sched, spec.epochs, epochs_of, tid_of)
