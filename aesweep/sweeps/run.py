"""Running a planned sweep: MLflow records first, then the trials inline or as Ray Tune trials.

The driver creates the experiment, a parent run for this submission and a child run per
trial; trials already finished in the experiment (same trial id) are not run again. The
unfinished trials that can train as one vectorized computation form packs
(:mod:`aesweep.sweeps.packing`; ``compute.pack: auto`` sizes them by a short timing first): a
pack runs as one Ray Tune trial (or one inline call) with one trial's resources, each member
logging to its own child run.
Without ``address`` a single-node Ray starts in this process (the replacement of the removed
``local_mode``); ``address`` joins a cluster; ``inline`` runs trials here, one by one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aesweep.config.packs import (
    MIN_TIMED_STEPS,
    PackPayload,
    PackSize,
    candidate_groups,
    member_steps,
)
from aesweep.config.trial import TrialConfig, TrialPayload, display_name
from aesweep.sweeps.packing import Pack, Units, form_units, refusal
from aesweep.sweeps.plan import search_params, summary
from aesweep.sweeps.spec import SchedulerConfig, SweepSpec
from aesweep.tracking.locks import SubmissionLock
from aesweep.tracking.retry import is_unreachable
from aesweep.tracking.store import TAG_AUDIT_EPOCH, SweepStore, TrialRecord
from aesweep.trainables.child_runs import child_run
from aesweep.trainables.storage import StorageFault, probe_storage, storage_fault


@dataclass
class SweepOutcome:
    """How the trials of one submission ended (read back from MLflow)."""

    parent_run_id: str
    skipped: list[str] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # trial id -> outcome
    interrupted: bool = False  # stopped by Ctrl-C: trials left unfinished, resumable

    @property
    def ok(self) -> bool:
        return all(o in ("finished", "diverged", "stopped") for o in self.outcomes.values())

    def counts(self) -> Counter[str]:
        return Counter(self.outcomes.values())


def spec_hash(spec: SweepSpec) -> str:
    return hashlib.sha256(spec.model_dump_json(by_alias=True).encode()).hexdigest()[:12]


def trial_name(trial: TrialConfig) -> str:
    return display_name(trial)


def resolve_gpus(spec: SweepSpec, cluster: dict[str, float]) -> float:
    """``auto``: no GPU on a CPU-only cluster; else pack trials onto each GPU, one per CPU
    share (a scheduling share, not memory isolation)."""
    requested = spec.resources.gpus_per_trial
    gpus = cluster.get("GPU", 0.0)
    if requested != "auto":
        return float(requested)
    if gpus <= 0:
        return 0.0
    share = gpus * spec.resources.cpus_per_trial / max(1.0, cluster.get("CPU", 1.0))
    return min(1.0, max(share, 1 / 16))


class ClusterError(Exception):
    """Ray cannot be reached, or none of its nodes can ever hold one trial: one line per
    problem, found before anything is created."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


CLIENT_CONNECT_S = 150.0  # a Ray client server on a loaded head can take a minute to answer


def _init_ray(address: str | None, log: Any = print) -> None:
    """``ray.init`` at ``address``. Ray's client gives up after three tries in 30 s, which a
    busy head (its client server starts a Python process per driver) can outlast: a
    ``ray://`` address is retried until :data:`CLIENT_CONNECT_S` has passed."""
    import ray

    from aesweep.tracking.retry import forwarded_env

    # The tracking retry settings set here hold in every worker, on every node.
    env = forwarded_env()
    deadline = time.monotonic() + CLIENT_CONNECT_S
    while True:
        try:
            ray.init(
                address=address or "local",
                include_dashboard=False,
                logging_level=logging.WARNING,
                runtime_env={"env_vars": env} if env else None,
            )
            return
        except ConnectionError:
            refused = token_refused(address) if address and address.startswith("ray://") else None
            if refused:
                raise ConnectionError(refused) from None
            if not (address or "").startswith("ray://") or time.monotonic() > deadline:
                raise
            log(f"the Ray client server at {address} is not answering yet; trying again")
            ray.shutdown()
            time.sleep(2.0)


TOKEN_HELP = (
    "the cluster uses Ray's token authentication: set RAY_AUTH_MODE=token and "
    "RAY_AUTH_TOKEN_PATH (or RAY_AUTH_TOKEN) to the cluster's token"
)


def token_refused(address: str) -> str | None:
    """Why the Ray client server at ``ray://HOST:PORT`` turned this client away when it
    refuses our token (gRPC UNAUTHENTICATED), else None. Ray's client reports only a
    timeout for that, and retrying would never help: one PING, with the token (if any) this
    process would send."""
    try:
        import grpc
        from ray._private.grpc_utils import init_grpc_channel
        from ray.core.generated import ray_client_pb2, ray_client_pb2_grpc
    except ImportError:
        return None
    pb: Any = ray_client_pb2  # generated code: no type stubs
    try:
        channel = init_grpc_channel(address.removeprefix("ray://"), asynchronous=False)
        try:
            ping = pb.ClusterInfoRequest(type=pb.ClusterInfoType.PING)
            ray_client_pb2_grpc.RayletDriverStub(channel).ClusterInfo(ping, timeout=10)
        finally:
            channel.close()
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            return f"the Ray client server refused this client's token: {TOKEN_HELP}"
    except Exception:  # the probe is a hint only: Ray's own error stands
        return None
    return None


def connect(spec: SweepSpec, address: str | None, log: Any = print) -> dict[str, float]:
    """Join the cluster at ``address`` (without one: start a new single-node Ray here) and
    check that some alive node can hold one trial; returns the cluster's resources. Raises
    :class:`ClusterError` (after leaving Ray again) before any MLflow record exists."""
    from aesweep.sweeps.preflight import check_address, check_node_resources

    problem = check_address(address)
    if problem:
        raise ClusterError([problem])
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    started = not ray.is_initialized()
    if started:
        # Without --address: a new single-node Ray ("local": never an unrelated cluster that
        # happens to run on this machine), without a dashboard.
        try:
            _init_ray(address, log)
        except Exception as exc:  # whatever Ray raises, it is one line here
            raise ClusterError(
                [f"--address {address or 'local'}: cannot connect to Ray ({_first_line(exc)})"]
            ) from None
    cluster = ray.cluster_resources()
    try:
        gcs = ray.get_runtime_context().gcs_address
    except Exception:  # a Ray client connection may not know it
        gcs = address
    where = f"the Ray cluster at {gcs}" if address else "this machine's Ray"
    nodes = [dict(n.get("Resources", {})) for n in ray.nodes() if n.get("Alive")]
    problems = check_node_resources(spec, nodes, resolve_gpus(spec, cluster), where)
    if not problems and address not in (None, "local"):
        problems = check_shared_paths(spec, log)
    if problems:
        if started:
            ray.shutdown()
        raise ClusterError(problems)
    joined = f"joined the Ray cluster at {gcs}" if address else f"started a local Ray ({gcs})"
    log(
        f"{joined}: {cluster.get('CPU', 0):g} CPUs, {cluster.get('GPU', 0):g} GPUs, "
        f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}"
    )
    return cluster


SHARED_PROBE_S = 120.0  # a node starts a worker for the check: seconds on a loaded one


def check_shared_paths(spec: SweepSpec, log: Any = print) -> list[str]:
    """On a cluster: every alive node sees the tracking store and storage that lie on this
    machine's disk (:mod:`aesweep.sweeps.shared_paths`), checked by a zero-CPU task pinned to
    each node; a node that does not answer in :data:`SHARED_PROBE_S` counts as not seeing."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from aesweep.sweeps.shared_paths import (
        local_paths,
        node_sees,
        probe_markers,
        unchecked_problems,
        unshared_problems,
    )

    paths = local_paths(spec)
    if not paths:
        return []
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    task = ray.remote(num_cpus=0, max_retries=0)(node_sees)
    answers: dict[str, list[tuple[str, str]]] = {}
    with probe_markers(paths) as probes:
        try:
            refs = {
                f"{n.get('NodeManagerAddress', '?')} ({n['NodeID'][:8]})": task.options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
                ).remote([p.plain() for p in probes])
                for n in nodes
            }
            ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=SHARED_PROBE_S)
        except Exception as exc:  # the cluster cannot run it (e.g. another aesweep there)
            return unchecked_problems(paths, _first_line(exc))
        for node, ref in refs.items():
            if ref not in ready:
                why = f"it did not answer the check in {SHARED_PROBE_S:g} s"
                answers[node] = [(p.field, why) for p in probes]
                continue
            try:
                answers[node] = ray.get(ref)
            except Exception as exc:  # the check itself failed there: it proves nothing
                why = f"the check failed ({_first_line(exc)})"
                answers[node] = [(p.field, why) for p in probes]
    problems = unshared_problems(paths, answers)
    if not problems:
        fields = " and ".join(dict.fromkeys(p.field for p in paths))
        log(f"every node ({len(nodes)}) sees {fields} on this machine's disk")
    return problems


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
    run of the same trial is tagged as superseded, so no trial is counted twice). The
    checkpoints of every unfinished trial come from one listing of the storage."""
    from aesweep.trainables.checkpoint_files import CheckpointIndex

    store = SweepStore(spec.tracking.uri, spec.experiment)
    existing = store.latest_by_trial([t.trial_id for t in trials])
    done = [t.trial_id for t in trials if t.trial_id in existing and existing[t.trial_id].finished]
    parent = store.open_parent(spec.name, spec_hash(spec), spec_text, summary(spec, trials))
    store.log_parent_params(parent, search_params(spec))
    index = CheckpointIndex.scan(_storage(spec)) if len(done) < len(trials) else None
    run_ids: dict[str, str] = {}
    resume_from: dict[str, str] = {}
    notes: list[str] = []
    for t in trials:
        if t.trial_id in done:
            continue
        assert index is not None
        run_id, checkpoint, note = child_run(store, parent, t, existing.get(t.trial_id), index)
        run_ids[t.trial_id] = run_id
        if checkpoint is not None:
            resume_from[t.trial_id] = checkpoint
        if note is not None:
            notes.append(f"{trial_name(t)}: {note}")
    todo = [t for t in trials if t.trial_id in run_ids]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Prepared(
        store,
        parent,
        todo,
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


PACK_TIMING_BUDGET_S = 4.0
"""The most seconds ``compute.pack: auto`` spends timing before a sweep (all groups)."""
TAG_PACK_AUTO = "aesweep.pack_auto"  # the parent run's record of the auto decision, JSON


def decide_packs(
    spec: SweepSpec, prep: Prepared, *, use_gpu: bool, threads: int, inline: bool, log: Any
) -> dict[str, PackSize]:
    """``compute.pack: auto``: the pack size of each group of unfinished, fresh trials that
    could pack, by timing a pack against one trial here (CPU) or a memory bound (GPU); the
    decision and the timing are recorded on the parent run."""
    if refusal(spec) is not None:
        return {}
    fresh = [
        t for t in prep.todo if t.trial_id not in prep.resume_from and t.compute.pack == "auto"
    ]
    every = {k: g for k, g in candidate_groups(fresh).items() if len(g) >= 2}
    if not every:
        return {}
    decided: dict[str, tuple[PackSize, dict[str, float | str]]] = {}
    groups = {}
    for key, group in every.items():
        steps = member_steps(group)
        if steps is not None and steps < MIN_TIMED_STEPS:  # the timing could never pay
            why = f"{steps} member-steps in all, under {MIN_TIMED_STEPS}: not worth timing"
            decided[key] = PackSize(1, why), {"member_steps": steps}
        else:
            groups[key] = group
    started = time.monotonic()
    if groups:
        from aesweep.trainables.packs.timing import decide_groups

        decided.update(
            decide_groups(
                groups,
                use_gpu=use_gpu,
                threads=threads,
                workers_elsewhere=not inline,
                budget_s=PACK_TIMING_BUDGET_S,
            )
        )
    seconds = time.monotonic() - started
    records = [
        {
            "first_trial": every[k][0].trial_id,
            "trials": len(every[k]),
            "size": size.size,
            "why": size.why,
            **timing,
        }
        for k, (size, timing) in decided.items()
    ]
    packed = sum(1 for size, _ in decided.values() if size.size >= 2)
    prep.store.log_parent_params(
        prep.parent,
        {
            "pack_auto_groups": len(every),
            "pack_auto_packed_groups": packed,
            "pack_auto_seconds": round(seconds, 2),
        },
    )
    prep.store.set_run_tags(prep.parent, {TAG_PACK_AUTO: json.dumps(records)[:5000]})
    for record in records:
        log(f"compute.pack auto ({record['trials']} trials): {record['why']}")
    return {k: size for k, (size, _) in decided.items()}


def plan_units(
    spec: SweepSpec, prep: Prepared, *, use_gpu: bool, threads: int, inline: bool, log: Any
) -> Units:
    """The packs and single trials this submission runs (pack checkpoints a refusal to pack
    discards are dropped: those trials start over unpacked)."""
    decided = decide_packs(spec, prep, use_gpu=use_gpu, threads=threads, inline=inline, log=log)
    units = form_units(spec, prep.todo, prep.resume_from, decided)
    for tid in units.restart:
        prep.resume_from.pop(tid, None)
    if units.packs:
        members = sum(len(p.members) for p in units.packs)
        log(f"{members} trials run as {len(units.packs)} packs; {len(units.singles)} unpacked")
    return units


def run_sweep(
    spec: SweepSpec,
    trials: list[TrialConfig],
    spec_text: str,
    *,
    address: str | None = None,
    inline: bool = False,
    max_concurrent: int | None = None,
    log: Any = print,
    verbose: bool = False,
    wait: bool = False,
) -> SweepOutcome:
    """Run the trials not finished yet. Progress: the compact view of
    :mod:`aesweep.sweeps.progress`, or with ``verbose`` Ray Tune's own tables."""
    if not inline:
        connect(spec, address, log)  # before prepare(): a bad address creates nothing
    with held_submission(spec, wait, log) as lock, terminate_as_interrupt():
        return _run_prepared(
            spec, trials, spec_text, address, inline, max_concurrent, log, verbose, lock
        )


@contextlib.contextmanager
def held_submission(spec: SweepSpec, wait: bool, log: Any) -> Iterator[SubmissionLock]:
    """This submission's hold on its experiment (:mod:`aesweep.tracking.locks`): a second
    submission of the same experiment is refused (:class:`SubmissionBusy`) or, with ``wait``,
    waits. The records a dead holder left unfinished (its parent run, its RUNNING trials) are
    ended KILLED: they resume in this submission."""
    lock = SubmissionLock(spec.tracking.uri, spec.experiment)
    lock.acquire(wait=wait)
    try:
        gone = lock.took_over
        if gone is not None:
            log(f"the previous submission ({gone.describe()}) is gone: taking over")
            if gone.parent_run:
                store = SweepStore(spec.tracking.uri, spec.experiment)
                ended = store.close_abandoned(gone.parent_run)
                if ended:
                    log(f"{ended} trials it left running are marked KILLED and resume here")
        yield lock
    finally:
        lock.release()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a job scheduler's stop) ends the sweep as Ctrl-C does: unfinished
    trials are marked KILLED and resumable. Installed after Ray is joined, whose own handler
    would abort the driver with a stack dump and leave the trials' runs RUNNING."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_prepared(
    spec: SweepSpec,
    trials: list[TrialConfig],
    spec_text: str,
    address: str | None,
    inline: bool,
    max_concurrent: int | None,
    log: Any,
    verbose: bool,
    lock: SubmissionLock,
) -> SweepOutcome:
    prep = prepare(spec, trials, spec_text)
    lock.set_parent(prep.parent)
    if prep.done:
        log(f"{len(prep.done)} of {len(trials)} trials already finished in MLflow; not run again")
    for note in prep.notes:
        log(f"checkpoint of {note}")
    if prep.resume_from:
        log(f"{len(prep.resume_from)} unfinished trials resume from their last checkpoint")
    threads = max(1, int(spec.resources.cpus_per_trial))
    status = "FINISHED"
    fault: StorageFault | None = None
    try:
        if inline:
            use_gpu = spec.resources.gpus_per_trial != 0
        else:
            import ray

            use_gpu = resolve_gpus(spec, ray.cluster_resources()) > 0
        units = plan_units(spec, prep, use_gpu=use_gpu, threads=threads, inline=inline, log=log)
        if inline:
            _run_inline(spec, prep, units, threads, log)
        elif prep.todo:
            _run_tune(spec, prep, units, threads, address, max_concurrent, log, verbose)
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except StorageFault as exc:  # full or read-only: ended as an interruption, resumable
        status, fault = "KILLED", exc
        raise
    finally:
        records = prep.store.latest_by_trial([t.trial_id for t in prep.todo])
        # A child still RUNNING here was interrupted (an error would have marked it FAILED);
        # one still SCHEDULED never started. Either way the sweep was cut short (Ctrl-C).
        killed = _mark_unfinished(prep.store, records)
        # Trials that saw the stop themselves (Ray stops its workers) ended their runs killed.
        killed |= {tid for tid, rec in records.items() if rec.outcome == "killed"}
        ended = parent_status(status, killed, records, bool(prep.todo))
        prep.store.close_parent(prep.parent, ended)
        if fault is not None:
            fault.killed = sorted(killed)
    outcome = SweepOutcome(prep.parent, skipped=prep.done, interrupted=bool(killed))
    for t in prep.todo:
        rec = records.get(t.trial_id)
        outcome.outcomes[t.trial_id] = (
            "killed" if t.trial_id in killed else (rec.outcome if rec else None) or "failed"
        )
    if not killed:
        _draw_plots(spec, trials, prep, log)
    return outcome


def parent_status(status: str, killed: set[str], records: dict[str, TrialRecord], ran: bool) -> str:
    """How a submission's parent run ends: KILLED when trials were cut short (resumable),
    FAILED when it ran trials and none of them ended well, else ``status``."""
    if killed:
        return "KILLED"
    ended_well = any(rec.finished for rec in records.values())
    if ran and not ended_well:
        return "FAILED"
    return status


def _draw_plots(spec: SweepSpec, trials: list[TrialConfig], prep: Prepared, log: Any) -> None:
    """The sweep's plots into its parent run; a plotting error is a warning, never a failure."""
    try:
        from aesweep.sweeps.plots import log_sweep_plots

        names = log_sweep_plots(spec, trials, prep.store, prep.parent)
    except Exception as exc:
        logging.getLogger(__name__).warning("the sweep's plots were not drawn: %r", exc)
        log(f"warning: the sweep's plots were not drawn: {type(exc).__name__}: {exc}")
        return
    if names:
        log(f"plots: {', '.join(names)} in the parent run")


def _mark_unfinished(store: SweepStore, records: dict[str, TrialRecord]) -> set[str]:
    """End the child runs left RUNNING or SCHEDULED as KILLED; returns their trial ids."""
    killed = set()
    for rec in records.values():
        if rec.status in ("RUNNING", "SCHEDULED"):
            store.mark_killed(rec.run_id)
            killed.add(rec.trial_id)
    return killed


def _storage(spec: SweepSpec) -> str:
    """``tracking.storage`` as every process reads it: a URI as written (never a local
    path), a local folder absolute."""
    from aesweep.trainables.storage import storage_text

    return storage_text(spec.tracking.storage)


def _unit_dir(spec: SweepSpec, prep: Prepared, name: str) -> str:
    """The inline runner's folder of one unit in the storage, as Tune lays it out."""
    from aesweep.trainables.storage import open_location

    return open_location(_storage(spec)).child(prep.experiment_dir, name).text


def _run_inline(spec: SweepSpec, prep: Prepared, units: Units, threads: int, log: Any) -> None:
    """The packs, then the single trials, one by one; after each, the compact view's line of
    it and the overall bar."""
    from aesweep.sweeps.progress import overall_line, trial_line
    from aesweep.trainables.entry import inline_pack, inline_trainable

    use_gpu = spec.resources.gpus_per_trial != 0
    progress = _progress_view(prep, units, live=False).progress
    started = time.monotonic()
    work: list[tuple[str, list[TrialConfig], Callable[[], object]]] = []
    for pack in units.packs:
        body = pack_payload(prep, pack, threads=threads, use_gpu=use_gpu).model_copy(
            update={"inline_dir": _unit_dir(spec, prep, pack.pack_id)}
        )
        work.append((pack.pack_id, pack.members, functools.partial(inline_pack, body)))
    for t in units.singles:
        one = payload(prep, t, threads=threads, use_gpu=use_gpu).model_copy(
            update={"inline_dir": _unit_dir(spec, prep, trial_name(t))}
        )
        work.append((t.trial_id, [t], functools.partial(inline_trainable, one)))
    for i, (unit, members, call) in enumerate(work, 1):
        line = progress.trials[unit]
        log(f"[{i}/{len(work)}] {line.name}")
        try:
            call()
        except Exception as exc:  # one failing trial (or pack) does not stop the sweep
            why = storage_fault(exc)
            if why is not None:  # a full or read-only storage stops every trial alike
                raise StorageFault(_storage(spec), why) from None
            log(f"    failed: {type(exc).__name__}: {exc}")
        recs = prep.store.latest_by_trial([t.trial_id for t in members])
        ended = [(r.outcome or "failed") for r in recs.values()] or ["failed"]
        line.state = next((o for o in ("finished", "diverged") if o in ended), ended[0])
        line.epoch = max((int(r.metrics.get("epoch", 0)) for r in recs.values()), default=0)
        costs = [r.metrics["cost"] for r in recs.values() if "cost" in r.metrics]
        line.cost = min(costs) if costs else None
        log(f"    {trial_line(line)}")
        log(f"    {overall_line(progress, time.monotonic() - started)}")


def _run_tune(
    spec: SweepSpec,
    prep: Prepared,
    units: Units,
    threads: int,
    address: str | None,
    max_concurrent: int | None,
    log: Any,
    verbose: bool = False,
) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Checkpointing every epoch is intended; Tune's warning about frequent snapshots is not.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Metrics live in MLflow; Tune's complaint that trials it stopped have none is noise.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    import ray
    from ray import tune

    from aesweep.trainables.entry import tune_trainable

    if not ray.is_initialized():
        connect(spec, address, log)
    cluster = ray.cluster_resources()
    gpus = resolve_gpus(spec, cluster)
    # A unit is what one Tune trial runs: a pack (by its id) or a single trial (by its own).
    by_id = {t.trial_id: t for t in units.singles}
    by_id.update({p.pack_id: p.members[0] for p in units.packs})
    names = {t.trial_id: trial_name(t) for t in units.singles}
    names.update({p.pack_id: p.pack_id for p in units.packs})  # a pack's folder: its id
    sched = spec.search.scheduler
    rank = spec.rank_metric if sched is not None else None
    payloads: dict[str, TrialPayload | PackPayload] = {
        p.pack_id: pack_payload(prep, p, threads=threads, use_gpu=gpus > 0) for p in units.packs
    }
    payloads.update(
        {
            t.trial_id: payload(prep, t, threads=threads, use_gpu=gpus > 0, rank=rank)
            for t in units.singles
        }
    )
    resources = {"cpu": spec.resources.cpus_per_trial, "gpu": gpus}
    if spec.resources.memory_per_trial:
        resources["memory"] = int(spec.resources.memory_per_trial * 2**30)
    trainable = tune.with_resources(
        tune.with_parameters(tune_trainable, payloads=payloads), resources
    )

    def name(trial: Any) -> str:
        return names[trial.config["trial_id"]]

    def epochs_of(trial: Any) -> int:
        return by_id[trial.config["trial_id"]].epochs

    def tid_of(trial: Any) -> str:
        return str(trial.config["trial_id"])

    scheduler = None if sched is None else _asha(spec, epochs_of, tid_of)
    audited = getattr(scheduler, "audited", {})
    stops = _StopRecorder(epochs_of, prep.store, prep.run_ids.get, audited, tid_of)
    watch = StorageWatch(_storage(spec))
    callbacks: list[Any] = [stops.callback(), watch.callback()]
    if not verbose:
        callbacks.append(_progress_callback(_progress_view(prep, units)))
    tuner = tune.Tuner(
        trainable,
        param_space={"trial_id": tune.grid_search(list(payloads))},
        tune_config=tune.TuneConfig(
            # metric and mode once, here: Tune refuses them given to the scheduler too.
            metric=rank[0] if rank else None,
            mode=rank[1] if rank else None,
            scheduler=scheduler,
            max_concurrent_trials=max_concurrent,
            # Every trial asks for the same resources: a worker process runs trial after
            # trial, so torch, MLflow and the FID network are imported/loaded once per worker.
            reuse_actors=True,
            trial_name_creator=name,
            trial_dirname_creator=name,
        ),
        run_config=_run_config(
            tune, spec, prep.experiment_dir, verbose, callbacks, watch.stopper()
        ),
    )
    try:
        watch.fit(tuner, verbose)
    finally:
        _record_stops(prep.store, prep.run_ids.get, stops.stopped, audited, log)


def _record_stops(
    store: SweepStore,
    run_of: Callable[[str], str | None],
    stopped: dict[str, int],
    audited: dict[str, int],
    log: Any,
) -> None:
    """Tag the runs the scheduler stopped (FINISHED, outcome ``stopped``, the epoch) and the
    audited ones (the epoch it would have stopped them at)."""
    for tid, epoch in stopped.items():
        run_id = run_of(tid)
        if run_id is not None:  # the run it logs to now (it may have started over)
            store.mark_stopped(store.current_run(run_id), epoch)
    for tid, epoch in audited.items():
        run_id = run_of(tid)
        if run_id is not None:
            store.set_run_tags(run_id, {TAG_AUDIT_EPOCH: epoch})
    if stopped:
        log(
            f"ASHA stopped {len(stopped)} trials early"
            + (f"; {len(audited)} it would have stopped ran on (audit)" if audited else "")
        )


def _quiet(line: str) -> None:
    """A ``log`` that says nothing (the recorder's writes of one trial each)."""


class _StopRecorder:
    """Which trials the scheduler stopped: Tune ends them normally after a report it answered
    with STOP, so a trial that completed before its last epoch, not diverged, was stopped. Its
    run is tagged at once (a driver killed later loses nothing: it is not rerun), and again
    after the fit (:func:`_record_stops`)."""

    def __init__(
        self,
        epochs_of: Callable[[Any], int],
        store: SweepStore,
        run_of: Callable[[str], str | None],
        audited: dict[str, int],
        tid_of: Callable[[Any], str],
    ) -> None:
        self.epochs_of, self.tid_of = epochs_of, tid_of
        self.store, self.run_of = store, run_of
        self.audited = audited
        self.stopped: dict[str, int] = {}

    def complete(self, tid: str, last: dict[str, Any], epochs: int) -> None:
        epoch = int(last.get("epoch", 0) or 0)
        stopped = last.get("diverged") != 1.0 and 0 < epoch < epochs
        if stopped:
            self.stopped[tid] = epoch
        audited = {tid: self.audited[tid]} if tid in self.audited else {}
        if not (stopped or audited):
            return
        try:  # each write waits for a tracking server that is away (tracking.retry)
            _record_stops(self.store, self.run_of, {tid: epoch} if stopped else {}, audited, _quiet)
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            # Never abort the sweep for it: the stop is kept and written after the fit.
            logging.getLogger(__name__).warning(
                "trial %s: its stop is recorded after the sweep (%s)", tid, type(exc).__name__
            )

    def callback(self) -> Any:
        from ray.tune import Callback

        recorder = self

        class Stops(Callback):
            def on_trial_complete(
                self, iteration: int, trials: list, trial: Any, **info: Any
            ) -> None:
                last = trial.last_result or {}
                recorder.complete(recorder.tid_of(trial), last, recorder.epochs_of(trial))

        return Stops()


def _asha(spec: SweepSpec, epochs_of: Callable[[Any], int], tid_of: Callable[[Any], str]) -> Any:
    """Ray Tune's ASHAScheduler on the epochs (metric and mode come from TuneConfig), which
    never stops a trial at its own last epoch (it ends itself, recording its result: a STOP
    there would cut what runs after the last report), and with ``audit`` K lets the first K
    trials it would stop at the earliest rung run to the end (``audited``: trial id -> epoch)."""
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    given = spec.search.scheduler
    assert given is not None
    sched: SchedulerConfig = given

    class AuditedASHA(ASHAScheduler):
        def __init__(self) -> None:
            super().__init__(
                time_attr="epoch",
                grace_period=sched.grace_period,
                reduction_factor=sched.reduction_factor,
                max_t=sched.max_t or spec.epochs,
            )
            self.audited: dict[str, int] = {}

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
            tid = tid_of(trial)
            if tid in self.audited:  # runs on, out of the rungs (it would bias them)
                return str(TrialScheduler.CONTINUE)
            action = str(super().on_trial_result(tune_controller, trial, result))
            epoch = int(result.get("epoch", 0) or 0)
            if epoch >= epochs_of(trial):
                return str(TrialScheduler.CONTINUE)
            if (
                action == TrialScheduler.STOP
                and epoch == sched.grace_period
                and len(self.audited) < sched.audit
            ):
                self.audited[tid] = epoch
                return str(TrialScheduler.CONTINUE)
            return action

        def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
            if tid_of(trial) in self.audited:
                self._trial_info.pop(trial.trial_id, None)
                return
            super().on_trial_complete(tune_controller, trial, result)

    return AuditedASHA()


def _run_config(
    tune: Any, spec: SweepSpec, name: str, verbose: bool, callbacks: list, stop: Any = None
) -> Any:
    """Tune's RunConfig of a sweep: its storage, retries, kept checkpoints, callbacks and
    stopper; Tune's own tables (whose config column holds only the trial id) and its
    TensorBoard hint with --verbose only, else the compact view. A storage URI is handed over
    as its filesystem and the path on it."""
    from aesweep.trainables.storage import tune_storage

    path, filesystem = tune_storage(_storage(spec))
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


class StorageWatch:
    """Ends a Tune fit when the storage fills up or turns read-only: after each trial error
    the storage is probed (:func:`aesweep.trainables.storage.probe_storage`); a full or
    read-only one stops every trial (a stopper's ``stop_all``: retrying them could only fail
    again) and the fit raises :class:`StorageFault` instead of Tune's own error, which reads
    back the error files it could not write there."""

    def __init__(self, storage: str) -> None:
        self.storage = storage
        self.why: str | None = None

    def check(self) -> str | None:
        if self.why is None:
            self.why = probe_storage(self.storage)
        return self.why

    def callback(self) -> Any:
        from ray.tune import Callback

        watch = self

        class Storage(Callback):
            def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
                watch.check()

            def on_trial_recover(
                self, iteration: int, trials: list, trial: Any, **info: Any
            ) -> None:
                watch.check()

        return Storage()

    def stopper(self) -> Any:
        from ray.tune import Stopper

        watch = self

        class StopOnStorage(Stopper):
            def __call__(self, trial_id: str, result: dict) -> bool:
                return False

            def stop_all(self) -> bool:
                return watch.why is not None

        return StopOnStorage()

    def fit(self, tuner: Any, verbose: bool) -> None:
        """``tuner.fit()``; :class:`StorageFault` when the storage stopped it. Tune's own
        tracebacks of the storage's errors are left out: the fault is said in one line."""
        quiet = _QuietStorageFaults()
        loggers = [logging.getLogger(name) for name in TUNE_STORAGE_LOGGERS]
        for logger in loggers:
            logger.addFilter(quiet)
        try:
            _fit(tuner, verbose)
        except Exception:
            if self.check() is None:
                raise
        finally:
            for logger in loggers:
                logger.removeFilter(quiet)
        if self.why is not None:
            raise StorageFault(self.storage, self.why)


TUNE_STORAGE_LOGGERS = ("ray.tune.execution.tune_controller", "ray.tune.execution.experiment_state")
"""Where Ray Tune logs a trial's error and a failed save of its state, with tracebacks."""


class _QuietStorageFaults(logging.Filter):
    """Drops a log record whose traceback is a full or read-only storage's error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return storage_fault(exc) is None


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


def _progress_view(prep: Prepared, units: Units, live: bool | None = None) -> Any:
    """The compact view of this submission's trials, a pack as one line (live on a terminal
    unless ``live``)."""
    from aesweep.sweeps.progress import ProgressView, SweepProgress, TrialProgress

    trials = {
        p.pack_id: TrialProgress(f"{p.pack_id} ({len(p.members)} trials)", p.members[0].epochs)
        for p in units.packs
    }
    trials.update({t.trial_id: TrialProgress(trial_name(t), t.epochs) for t in units.singles})
    return ProgressView(SweepProgress(trials, skipped=len(prep.done)), live=live)


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


def run_optuna(
    spec: SweepSpec,
    spec_text: str,
    *,
    address: str | None = None,
    max_concurrent: int | None = None,
    log: Any = print,
    verbose: bool = False,
    wait: bool = False,
) -> SweepOutcome:
    """An Optuna search through Ray Tune's ``OptunaSearch`` (TPE, seeded by ``search.seed``):
    the finished trials of earlier submissions (MLflow) seed the searcher with their values and
    metric and count towards ``num_samples``; the rest are sampled and run, each trial function
    resolving its trial and child run (:func:`aesweep.trainables.entry.search_trainable`)."""
    connect(spec, address, log)
    with held_submission(spec, wait, log) as lock, terminate_as_interrupt():
        return _run_optuna(spec, spec_text, max_concurrent, log, verbose, lock)


def _run_optuna(
    spec: SweepSpec,
    spec_text: str,
    max_concurrent: int | None,
    log: Any,
    verbose: bool,
    lock: SubmissionLock,
) -> SweepOutcome:
    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from aesweep.config.sampled import SearchPayload
    from aesweep.sweeps.plan import integer_keys, optuna_space, sampled_trials
    from aesweep.sweeps.recorded import recorded_trials, searcher_history
    from aesweep.trainables.entry import search_trainable

    store = SweepStore(spec.tracking.uri, spec.experiment)
    points, rewards = searcher_history(spec, store)
    parent = store.open_parent(spec.name, spec_hash(spec), spec_text, summary(spec, []))
    lock.set_parent(parent)
    store.log_parent_params(parent, search_params(spec))
    total = spec.search.num_samples or 0
    left = max(0, total - len(points))
    if points:
        log(
            f"{len(points)} of {total} trials already finished in MLflow: the searcher starts "
            "from them; not run again"
        )
    sampled = sampled_trials(spec)
    space = optuna_space(spec)
    integers = integer_keys(spec)
    metric, mode = spec.rank_metric
    gpus = resolve_gpus(spec, ray.cluster_resources())
    context = SearchPayload(
        sampled=sampled,
        tracking_uri=store.uri,
        experiment=spec.experiment,
        parent_run_id=parent,
        storage=_storage(spec),
        threads=max(1, int(spec.resources.cpus_per_trial)),
        use_gpu=gpus > 0,
        rank_metric=metric,
        rank_mode=mode,
        keys=list(space),
        workdir=str(Path.cwd()),
        system_metrics_s=spec.tracking.system_metrics_s,
    )

    def trial_of(trial: Any) -> TrialConfig:
        return sampled.trial({k: trial.config[k] for k in space})

    def name(trial: Any) -> str:
        return trial_name(trial_of(trial))

    resources = {"cpu": spec.resources.cpus_per_trial, "gpu": gpus}
    if spec.resources.memory_per_trial:
        resources["memory"] = int(spec.resources.memory_per_trial * 2**30)

    def run_of(tid: str) -> str | None:
        rec = store.latest_by_trial([tid]).get(tid)
        return None if rec is None else rec.run_id

    def tid_of(trial: Any) -> str:
        return trial_of(trial).trial_id

    scheduler = None
    if spec.search.scheduler is not None:
        scheduler = _asha(spec, lambda t: spec.epochs, tid_of)
    stops = _StopRecorder(
        lambda t: spec.epochs, store, run_of, getattr(scheduler, "audited", {}), tid_of
    )
    watch = StorageWatch(_storage(spec))
    status = "FINISHED"
    fault: StorageFault | None = None
    try:
        if left:
            # The space as Tune's param_space, metric and mode in TuneConfig only: OptunaSearch
            # given a space of its own ignores TuneConfig's metric and mode.
            searcher = OptunaSearch(
                points_to_evaluate=points or None,
                evaluated_rewards=rewards or None,
                # TPE's first draws are random: seeded as the first submission, a resubmitted
                # one would draw the finished trials again. Deterministic per history size.
                seed=spec.search.seed + len(points),
            )
            tuner = tune.Tuner(
                tune.with_resources(
                    tune.with_parameters(search_trainable, context=context), resources
                ),
                param_space={k: _tune_domain(tune, v, k in integers) for k, v in space.items()},
                tune_config=tune.TuneConfig(
                    search_alg=searcher,
                    metric=metric,  # once, here: not in the searcher or the scheduler too
                    mode=mode,
                    scheduler=scheduler,
                    num_samples=left,
                    max_concurrent_trials=max_concurrent,
                    reuse_actors=True,
                    trial_name_creator=name,
                    trial_dirname_creator=name,
                ),
                run_config=_run_config(
                    tune,
                    spec,
                    f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}-{parent[:6]}",
                    verbose,
                    [stops.callback(), watch.callback()],
                    watch.stopper(),
                ),
            )
            try:
                watch.fit(tuner, verbose)
            finally:
                audited = getattr(scheduler, "audited", {})
                _record_stops(store, run_of, stops.stopped, audited, log)
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except StorageFault as exc:
        status, fault = "KILLED", exc
        raise
    finally:
        mine = {
            t.trial_id: r
            for t, r in recorded_trials(spec, store)
            if r.tags.get("mlflow.parentRunId") == parent
        }
        killed = _mark_unfinished(store, mine)
        ended = store.latest_by_trial(list(mine))
        killed |= {tid for tid, rec in ended.items() if rec.outcome == "killed"}
        store.close_parent(parent, parent_status(status, killed, ended, bool(mine)))
        if fault is not None:
            fault.killed = sorted(killed)
    outcome = SweepOutcome(parent, skipped=[str(i) for i in range(len(points))])
    outcome.interrupted = bool(killed)
    after = store.latest_by_trial(list(mine))
    for tid in mine:
        rec = after.get(tid)
        outcome.outcomes[tid] = (
            "killed" if tid in killed else (rec.outcome if rec else None) or "failed"
        )
    return outcome


def _tune_domain(tune: Any, values: Any, integer: bool = False) -> Any:
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
