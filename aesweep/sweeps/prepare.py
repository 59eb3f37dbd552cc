"""A planned sweep's MLflow records before anything runs (:func:`prepare`): the parent run
of this submission, finished trials skipped, each unfinished trial's child run (continued when
it has a checkpoint to resume, else new) and what each trial function or pack receives."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from aesweep.config.packs import PackPayload
from aesweep.config.trial import TrialConfig, TrialPayload, display_name
from aesweep.sweeps.packing import Pack
from aesweep.sweeps.plan import search_params, summary
from aesweep.sweeps.spec import SweepSpec
from aesweep.tracking.store import SweepStore
from aesweep.trainables.child_runs import checkpoint_index, child_runs


def spec_hash(spec: SweepSpec) -> str:
    return hashlib.sha256(spec.model_dump_json(by_alias=True).encode()).hexdigest()[:12]


def trial_name(trial: TrialConfig) -> str:
    return display_name(trial)


@dataclass
class Prepared:
    """The driver's records for one submission: what to run, in which MLflow runs, from
    which checkpoints."""

    store: SweepStore
    parent: str
    todo: list[TrialConfig]
    run_ids: dict[str, str]
    resume_from: dict[str, str]
    done: list[str]
    experiment_dir: str  # Ray Tune's experiment name for this submission
    system_metrics_s: float | None = None  # tracking.system_metrics: the sampling interval
    notes: list[str] = field(default_factory=list)  # damaged checkpoints skipped, one a trial


def prepare(spec: SweepSpec, trials: list[TrialConfig], spec_text: str) -> Prepared:
    """Open the parent run; skip finished trials; for the rest, reuse the child run of a
    trial that has a checkpoint to resume from, else create a new one (an older unfinished
    run of the same trial is tagged as superseded, so no trial is counted twice). Linear in
    the trials: one read of the experiment's records, one listing of the storage for the
    checkpoints of every unfinished trial, the new runs created in batches."""
    store = SweepStore(spec.tracking.uri, spec.experiment)
    existing = store.latest_by_trial([t.trial_id for t in trials])
    done = [t.trial_id for t in trials if t.trial_id in existing and existing[t.trial_id].finished]
    parent = store.open_parent(spec.name, spec_hash(spec), spec_text, summary(spec, trials))
    store.log_parent_params(parent, search_params(spec))
    finished = set(done)
    unfinished = [t for t in trials if t.trial_id not in finished]
    ids = [t.trial_id for t in unfinished]
    checkpoints = checkpoint_index(storage(spec), ids) if unfinished else {}
    runs = child_runs(store, parent, unfinished, existing, checkpoints)
    run_ids = {tid: run_id for tid, (run_id, _, _) in runs.items()}
    resume_from = {tid: cp for tid, (_, cp, _) in runs.items() if cp is not None}
    notes = [f"{trial_name(t)}: {n}" for t in unfinished if (n := runs[t.trial_id][2]) is not None]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Prepared(
        store,
        parent,
        unfinished,
        run_ids,
        resume_from,
        done,
        f"{spec.name}-{stamp}-{parent[:6]}",
        spec.tracking.system_metrics_s,
        notes,
    )


def payload(
    prep: Prepared,
    trial: TrialConfig,
    *,
    threads: int,
    use_gpu: bool,
    rank: tuple[str, str] | None = None,
) -> TrialPayload:
    """What one trial function receives: relative data locations made absolute against this
    process's working directory (where the spec was submitted); ``rank``: the metric and
    mode a scheduler or searcher ranks by, carried in every Tune report."""
    return TrialPayload(
        trial=trial.located(Path.cwd()),
        tracking_uri=prep.store.uri,
        run_id=prep.run_ids[trial.trial_id],
        resume_from=prep.resume_from.get(trial.trial_id),
        threads=threads,
        use_gpu=use_gpu,
        rank_metric=rank[0] if rank else None,
        rank_mode="max" if rank and rank[1] == "max" else "min",
        system_metrics_s=prep.system_metrics_s,
    )


def pack_payload(prep: Prepared, pack: Pack, *, threads: int, use_gpu: bool) -> PackPayload:
    """What one pack's function receives: its members' payloads (their own runs; the pack's
    checkpoint, not theirs, is the one to resume from)."""
    members = [
        payload(prep, t, threads=threads, use_gpu=use_gpu).model_copy(update={"resume_from": None})
        for t in pack.members
    ]
    return PackPayload(
        pack_id=pack.pack_id,
        members=members,
        resume_from=pack.resume_from,
        threads=threads,
        use_gpu=use_gpu,
    )


def storage(spec: SweepSpec) -> str:
    """``tracking.storage`` as every process reads it: a URI as written (never a local
    path), a local folder absolute."""
    from aesweep.trainables.storage import storage_text

    return storage_text(spec.tracking.storage)


def unit_dir(spec: SweepSpec, prep: Prepared, name: str) -> str:
    """The inline runner's folder of one unit in the storage, as Tune lays it out."""
    from aesweep.trainables.storage import open_location

    return open_location(storage(spec)).child(prep.experiment_dir, name).text
