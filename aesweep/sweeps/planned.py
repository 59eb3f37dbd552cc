"""A search whose trials are planned before the run (grid, random): the driver creates every
child run up front (:func:`aesweep.sweeps.prepare.prepare`), packs what may pack, and hands
each Tune trial (or inline call) one unit: a pack or a single trial."""

from __future__ import annotations

import logging
from typing import Any

from aesweep.config.packs import PackPayload
from aesweep.config.trial import TrialConfig, TrialPayload
from aesweep.sweeps.pack_auto import plan_units
from aesweep.sweeps.packing import Units
from aesweep.sweeps.prepare import Prepared, pack_payload, payload, prepare, trial_name
from aesweep.sweeps.spec import SweepSpec
from aesweep.sweeps.trials import SweepOutcome, TuneJob
from aesweep.tracking.schema import Outcome
from aesweep.tracking.store import TrialRecord

_log = logging.getLogger(__name__)


class PlannedTrials:
    """The planned trials of one submission and their records (see the module)."""

    def __init__(self, spec: SweepSpec, trials: list[TrialConfig], spec_text: str) -> None:
        self.spec, self.trials = spec, trials
        self.prep: Prepared = prepare(spec, trials, spec_text)
        self.store, self.parent = self.prep.store, self.prep.parent
        self.units: Units | None = None
        prep = self.prep
        if prep.done:
            _log.info(
                "%d of %d trials already finished in MLflow; not run again",
                len(prep.done),
                len(trials),
            )
        for note in prep.notes:
            _log.info("checkpoint of %s", note)
        if prep.resume_from:
            _log.info(
                "%d unfinished trials resume from their last checkpoint", len(prep.resume_from)
            )

    def plan_units(self, *, use_gpu: bool, threads: int, inline: bool) -> Units:
        """The packs and single trials to run (``compute.pack: auto`` timed here)."""
        self.units = plan_units(
            self.spec, self.prep, use_gpu=use_gpu, threads=threads, inline=inline
        )
        return self.units

    def tune_job(self, *, gpus: float, threads: int) -> TuneJob | None:
        from ray import tune

        from aesweep.sweeps.backends.tune import PayloadShelf
        from aesweep.trainables.entry import tune_trainable

        units = self.plan_units(use_gpu=gpus > 0, threads=threads, inline=False)
        prep, spec = self.prep, self.spec
        if not prep.todo:
            return None
        # A unit is what one Tune trial runs: a pack (by its id) or a single trial (by its own).
        by_id = {t.trial_id: t for t in units.singles}
        by_id.update({p.pack_id: p.members[0] for p in units.packs})
        names = {t.trial_id: trial_name(t) for t in units.singles}
        names.update({p.pack_id: p.pack_id for p in units.packs})  # a pack's folder: its id
        rank = spec.rank_metric if spec.search.scheduler is not None else None
        payloads: dict[str, TrialPayload | PackPayload] = {
            p.pack_id: pack_payload(prep, p, threads=threads, use_gpu=gpus > 0) for p in units.packs
        }
        payloads.update(
            {
                t.trial_id: payload(prep, t, threads=threads, use_gpu=gpus > 0, rank=rank)
                for t in units.singles
            }
        )
        shelf = PayloadShelf(payloads)
        unit_ids = list(payloads)
        del payloads  # the shelf holds them now

        def tid_of(trial: Any) -> str:
            return str(trial.config["trial_id"])

        return TuneJob(
            trainable=tune_trainable,
            params={"payloads": shelf},
            param_space={"trial_id": tune.grid_search(unit_ids)},
            experiment_dir=prep.experiment_dir,
            name=lambda trial: names[tid_of(trial)],
            epochs_of=lambda trial: by_id[tid_of(trial)].epochs,
            tid_of=tid_of,
            run_of=prep.run_ids.get,
            rank=rank,
            progress=progress_view(prep, units),
        )

    def records(self) -> dict[str, TrialRecord]:
        return self.store.latest_by_trial([t.trial_id for t in self.prep.todo])

    def outcome(
        self, records: dict[str, TrialRecord], killed: set[str], ended: str
    ) -> SweepOutcome:
        outcome = SweepOutcome(self.parent, skipped=self.prep.done, interrupted=bool(killed))
        for t in self.prep.todo:
            rec = records.get(t.trial_id)
            outcome.outcomes[t.trial_id] = (
                Outcome.KILLED
                if t.trial_id in killed
                else (rec.outcome if rec else None) or Outcome.FAILED
            )
        if not killed:
            self._draw_plots()
        return outcome

    def _draw_plots(self) -> None:
        """The sweep's plots into its parent run; a plotting error is a warning, never a
        failure."""
        try:
            from aesweep.sweeps.plots import log_sweep_plots

            names = log_sweep_plots(self.spec, self.trials, self.store, self.parent)
        except Exception as exc:
            _log.warning(
                "warning: the sweep's plots were not drawn: %s: %s", type(exc).__name__, exc
            )
            return
        if names:
            _log.info("plots: %s in the parent run", ", ".join(names))


def progress_view(prep: Prepared, units: Units, live: bool | None = None) -> Any:
    """The compact view of this submission's trials, a pack as one line (live on a terminal
    unless ``live``)."""
    from aesweep.sweeps.progress import ProgressView, SweepProgress, TrialProgress

    trials = {
        p.pack_id: TrialProgress(f"{p.pack_id} ({len(p.members)} trials)", p.members[0].epochs)
        for p in units.packs
    }
    trials.update({t.trial_id: TrialProgress(trial_name(t), t.epochs) for t in units.singles})
    return ProgressView(SweepProgress(trials, skipped=len(prep.done)), live=live)
