"""The Ray Tune backend: a search's :class:`~aesweep.sweeps.trials.TuneJob` run as Ray Tune
trials on a new single-node Ray or a cluster (``--address``), with the sweep's resources,
storage, retries, early stopping (:mod:`aesweep.sweeps.asha`), the stops recorded
(:mod:`aesweep.sweeps.stops`) and the compact progress view."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from collections.abc import Iterator
from typing import Any

from aesweep.config.packs import PackPayload
from aesweep.config.trial import TrialPayload
from aesweep.sweeps.connect import connect, resolve_gpus
from aesweep.sweeps.prepare import storage
from aesweep.sweeps.spec import SweepSpec
from aesweep.sweeps.stops import StopRecorder, record_stops
from aesweep.sweeps.storage_watch import StorageWatch
from aesweep.sweeps.trials import SweepTrials


class TuneBackend:
    """Ray Tune, joined before anything is recorded."""

    @staticmethod
    def connect(spec: SweepSpec, address: str | None) -> None:
        connect(spec, address)

    @staticmethod
    def use_gpu(spec: SweepSpec) -> bool:
        import ray

        return resolve_gpus(spec, ray.cluster_resources()) > 0

    @staticmethod
    def run(
        spec: SweepSpec,
        trials: SweepTrials,
        *,
        address: str | None,
        max_concurrent: int | None,
        verbose: bool,
    ) -> None:
        run_tune(spec, trials, address, max_concurrent, verbose)


def run_tune(
    spec: SweepSpec,
    trials: SweepTrials,
    address: str | None,
    max_concurrent: int | None,
    verbose: bool = False,
) -> None:
    """Ray Tune runs what the search hands it; the trials the scheduler stopped are recorded
    as they stop and again after the fit."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Checkpointing every epoch is intended; Tune's warning about frequent snapshots is not.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Metrics live in MLflow; Tune's complaint that trials it stopped have none is noise.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    import ray
    from ray import tune

    from aesweep.sweeps.asha import scheduler as asha

    if not ray.is_initialized():
        connect(spec, address)
    gpus = resolve_gpus(spec, ray.cluster_resources())
    threads = max(1, int(spec.resources.cpus_per_trial))
    job = trials.tune_job(gpus=gpus, threads=threads)
    if job is None:
        return
    resources = {"cpu": spec.resources.cpus_per_trial, "gpu": gpus}
    if spec.resources.memory_per_trial:
        resources["memory"] = int(spec.resources.memory_per_trial * 2**30)
    trainable = tune.with_resources(tune.with_parameters(job.trainable, **job.params), resources)
    scheduler = asha(spec, job.epochs_of, job.tid_of)
    audited = getattr(scheduler, "audited", {})
    stops = StopRecorder(job.epochs_of, trials.store, job.run_of, audited, job.tid_of)
    watch = StorageWatch(storage(spec))
    callbacks: list[Any] = [stops.callback(), watch.callback()]
    if not verbose and job.progress is not None:
        callbacks.append(_progress_callback(job.progress))
    rank = job.rank
    tuner = tune.Tuner(
        trainable,
        param_space=job.param_space,
        tune_config=tune.TuneConfig(
            search_alg=job.search_alg,
            # metric and mode once, here: Tune refuses them given to the scheduler too (and
            # OptunaSearch given a space of its own ignores them).
            metric=rank[0] if rank else None,
            mode=rank[1] if rank else None,
            scheduler=scheduler,
            num_samples=job.num_samples,
            max_concurrent_trials=max_concurrent,
            # Every trial asks for the same resources: a worker process runs trial after
            # trial, so torch, MLflow and the FID network are imported/loaded once per worker.
            reuse_actors=True,
            trial_name_creator=job.name,
            trial_dirname_creator=job.name,
        ),
        run_config=_run_config(tune, spec, job.experiment_dir, verbose, callbacks, watch.stopper()),
    )
    try:
        watch.fit(lambda: _fit(tuner, verbose))
    finally:
        record_stops(trials.store, job.run_of, stops.stopped, audited)


class PayloadShelf:
    """What each Ray Tune trial is handed to find its payload: a handle on one actor of this
    submission (no CPU; :class:`aesweep.sweeps.shelf.Shelf`) that holds every unit's payload,
    pickled, and returns one by unit id. A trial fetches its own payload alone.

    Why not the alternatives: ``tune.with_parameters(payloads=every_payload)`` ships all of
    them to every trial (10,000 trials: 10,000 payloads unpickled at each trial's start);
    the payload in the trial's config would be copied into every result the trial reports,
    Tune's ``result.json`` at every epoch, its experiment state and its progress table (which
    show the config); an ``ObjectRef`` per payload in the config is pickled by Tune's
    experiment state outside Ray's reference counting."""

    def __init__(self, payloads: dict[str, TrialPayload | PackPayload]) -> None:
        import ray

        from aesweep.sweeps.shelf import Shelf

        blobs = {unit: pickle.dumps(body) for unit, body in payloads.items()}
        self._actor = ray.remote(num_cpus=0, max_restarts=2)(Shelf).remote(blobs)

    def __call__(self, unit: str) -> TrialPayload | PackPayload:
        import ray

        blob: Any = ray.get(self._actor.get.remote(unit))  # type: ignore[attr-defined]
        body: TrialPayload | PackPayload = pickle.loads(blob)
        return body


def _run_config(
    tune: Any, spec: SweepSpec, name: str, verbose: bool, callbacks: list, stop: Any = None
) -> Any:
    """Tune's RunConfig of a sweep: its storage, retries, kept checkpoints, callbacks and
    stopper;
    Tune's own tables (whose config column holds only the trial id) and its TensorBoard hint
    with --verbose only, else the compact view. A storage URI is handed over as its
    filesystem and the path on it."""
    from aesweep.trainables.storage import tune_storage

    path, filesystem = tune_storage(storage(spec))
    return tune.RunConfig(
        name=name,
        storage_path=path,
        storage_filesystem=filesystem,
        failure_config=tune.FailureConfig(max_failures=spec.failure.max_retries),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=spec.checkpoint.keep),
        verbose=1 if verbose else 0,
        callbacks=callbacks,
        stop=stop,
    )


def _fit(tuner: Any, verbose: bool) -> None:
    """``tuner.fit()``. Ray 2.x's new output engine prints an experiment box and a TensorBoard
    hint even at verbose 0; the legacy engine at verbose 0 prints nothing: only for this fit."""
    with _environ({} if verbose else {"RAY_AIR_NEW_OUTPUT": "0"}):
        tuner.fit()


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _progress_callback(view: Any) -> Any:
    """A Ray Tune callback that feeds a :class:`aesweep.sweeps.progress.ProgressView`."""
    from ray.tune import Callback

    def tid(trial: Any) -> str:
        return str(trial.config["trial_id"])

    class Progress(Callback):
        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            view.start(tid(trial))

        def on_trial_result(
            self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
        ) -> None:
            view.result(tid(trial), result)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            view.end(tid(trial), "finished")

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            view.end(tid(trial), "failed")

        def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
            view.tick()

        def on_experiment_end(self, trials: list, **info: Any) -> None:
            view.close()

    return Progress()
