"""A search whose trials are sampled while it runs (optuna, through Ray Tune's
``OptunaSearch``, TPE seeded by ``search.seed``): the finished trials of earlier submissions
(read back from MLflow) seed the searcher with their values and metric and count towards
``num_samples``; the rest are sampled and run. The driver finds or creates each sampled
trial's child run as the searcher suggests it (:mod:`aesweep.sweeps.sampled_runs`); the trial
function (:func:`aesweep.trainables.entry.search_trainable`) runs in it."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from aesweep.config.sampled import FINISHED_KEY, RESUME_KEY, RUN_KEY
from aesweep.config.trial import TrialConfig
from aesweep.sweeps.plan import integer_keys, optuna_space, sampled_trials, search_params, summary
from aesweep.sweeps.prepare import spec_hash, storage, trial_name
from aesweep.sweeps.recorded import recorded_trials, searcher_history
from aesweep.sweeps.spec import SweepSpec
from aesweep.sweeps.trials import SweepOutcome, TuneJob
from aesweep.tracking.schema import TAG_PARENT_RUN, Outcome
from aesweep.tracking.store import SweepStore, TrialRecord
from aesweep.trainables.child_runs import checkpoint_index, child_run

_log = logging.getLogger(__name__)


class SampledTrials:
    """The trials an Optuna search samples in one submission (see the module)."""

    def __init__(self, spec: SweepSpec, trials: list[TrialConfig], spec_text: str) -> None:
        self.spec = spec
        self.store = SweepStore(spec.tracking.uri, spec.experiment)
        self.points, self.rewards = searcher_history(spec, self.store)
        self.parent = self.store.open_parent(
            spec.name, spec_hash(spec), spec_text, summary(spec, [])
        )
        self.store.log_parent_params(self.parent, search_params(spec))
        self.total = spec.search.num_samples or 0
        if self.points:
            _log.info(
                "%d of %d trials already finished in MLflow: the searcher starts from them; "
                "not run again",
                len(self.points),
                self.total,
            )

    def tune_job(self, *, gpus: float, threads: int) -> TuneJob | None:
        from ray import tune
        from ray.tune.search.optuna import OptunaSearch

        from aesweep.config.sampled import SearchPayload
        from aesweep.sweeps.sampled_runs import DriverRuns
        from aesweep.trainables.entry import search_trainable

        spec, store = self.spec, self.store
        left = max(0, self.total - len(self.points))
        if not left:
            return None
        sampled = sampled_trials(spec)
        space = optuna_space(spec)
        integers = integer_keys(spec)
        metric, mode = spec.rank_metric
        context = SearchPayload(
            sampled=sampled,
            tracking_uri=store.uri,
            experiment=spec.experiment,
            parent_run_id=self.parent,
            storage=storage(spec),
            threads=threads,
            use_gpu=gpus > 0,
            rank_metric=metric,
            rank_mode=mode,
            keys=list(space),
            workdir=str(Path.cwd()),
            system_metrics_s=spec.tracking.system_metrics_s,
        )

        def trial_of(trial: Any) -> TrialConfig:
            return sampled.trial({k: trial.config[k] for k in space})

        def open_run(values: dict[str, Any]) -> dict[str, Any]:
            """The child run of the trial these values make, found or created here."""
            trial = sampled.trial({k: values[k] for k in space})
            old = store.latest_by_trial([trial.trial_id]).get(trial.trial_id)
            if old is not None and old.finished:
                return {RUN_KEY: old.run_id, RESUME_KEY: None, FINISHED_KEY: True}
            found = checkpoint_index(storage(spec), [trial.trial_id])
            run_id, resume_from, note = child_run(store, self.parent, trial, old, found)
            if note is not None:
                _log.info("checkpoint of %s: %s", trial_name(trial), note)
            return {RUN_KEY: run_id, RESUME_KEY: resume_from, FINISHED_KEY: False}

        def run_of(tid: str) -> str | None:
            rec = store.latest_by_trial([tid]).get(tid)
            return None if rec is None else rec.run_id

        # The space as Tune's param_space, metric and mode in TuneConfig only: OptunaSearch
        # given a space of its own ignores TuneConfig's metric and mode.
        optuna = OptunaSearch(
            points_to_evaluate=self.points or None,
            evaluated_rewards=self.rewards or None,
            # TPE's first draws are random: seeded as the first submission, a resubmitted
            # one would draw the finished trials again. Deterministic per history size.
            seed=spec.search.seed + len(self.points),
        )
        searcher = DriverRuns(optuna, open_run)
        return TuneJob(
            trainable=search_trainable,
            params={"context": context},
            param_space={k: tune_domain(tune, v, k in integers) for k, v in space.items()},
            experiment_dir=f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}-{self.parent[:6]}",
            name=lambda trial: trial_name(trial_of(trial)),
            epochs_of=lambda trial: spec.epochs,
            tid_of=lambda trial: trial_of(trial).trial_id,
            run_of=run_of,
            rank=(metric, mode),
            search_alg=searcher,
            num_samples=left,
        )

    def records(self) -> dict[str, TrialRecord]:
        """This submission's trials: those recorded in MLflow under its parent run."""
        return {
            t.trial_id: r
            for t, r in recorded_trials(self.spec, self.store)
            if r.tags.get(TAG_PARENT_RUN) == self.parent
        }

    def outcome(
        self, records: dict[str, TrialRecord], killed: set[str], ended: str
    ) -> SweepOutcome:
        outcome = SweepOutcome(self.parent, skipped=[str(i) for i in range(len(self.points))])
        outcome.interrupted = bool(killed)
        after = self.store.latest_by_trial(list(records))
        for tid in records:
            rec = after.get(tid)
            outcome.outcomes[tid] = (
                Outcome.KILLED
                if tid in killed
                else (rec.outcome if rec else None) or Outcome.FAILED
            )
        return outcome


def tune_domain(tune: Any, values: Any, integer: bool = False) -> Any:
    """A spec's list or distribution as Ray Tune's search domain (an int field: integers)."""
    from aesweep.config.search_space import Choice, LogUniform, Uniform

    if isinstance(values, LogUniform):
        low, high = values.loguniform
        if integer:
            return tune.lograndint(round(low), round(high) + 1)
        return tune.loguniform(low, high)
    if isinstance(values, Uniform):
        low, high = values.uniform
        return tune.randint(round(low), round(high) + 1) if integer else tune.uniform(low, high)
    if isinstance(values, Choice):
        return tune.choice(list(values.choice))
    return tune.choice(list(values))
