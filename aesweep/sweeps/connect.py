"""Joining Ray for a sweep: a new single-node Ray here, or a cluster at ``--address`` (a
``ray://`` client retried while a busy head starts its client server; a refused token said at
once), and the checks made before any MLflow record exists: some node can hold one trial, and
on a cluster every node sees the tracking store and storage on this machine's disk."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from aesweep.sweeps.spec import SweepSpec

_log = logging.getLogger(__name__)


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


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


CLIENT_CONNECT_S = 150.0  # a Ray client server on a loaded head can take a minute to answer


def _init_ray(address: str | None) -> None:
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
            _log.info("the Ray client server at %s is not answering yet; trying again", address)
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


def connect(spec: SweepSpec, address: str | None) -> dict[str, float]:
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
            _init_ray(address)
        except Exception as exc:  # whatever Ray raises, it is one line here
            raise ClusterError(
                [f"--address {address or 'local'}: cannot connect to Ray ({first_line(exc)})"]
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
        problems = check_shared_paths(spec)
    if problems:
        if started:
            ray.shutdown()
        raise ClusterError(problems)
    joined = f"joined the Ray cluster at {gcs}" if address else f"started a local Ray ({gcs})"
    _log.info(
        "%s: %g CPUs, %g GPUs, %d node%s",
        joined,
        cluster.get("CPU", 0),
        cluster.get("GPU", 0),
        len(nodes),
        "s" if len(nodes) != 1 else "",
    )
    return cluster


SHARED_PROBE_S = 120.0  # a node starts a worker for the check: seconds on a loaded one


def check_shared_paths(spec: SweepSpec) -> list[str]:
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
            return unchecked_problems(paths, first_line(exc))
        for node, ref in refs.items():
            if ref not in ready:
                why = f"it did not answer the check in {SHARED_PROBE_S:g} s"
                answers[node] = [(p.field, why) for p in probes]
                continue
            try:
                answers[node] = ray.get(ref)
            except Exception as exc:  # the check itself failed there: it proves nothing
                why = f"the check failed ({first_line(exc)})"
                answers[node] = [(p.field, why) for p in probes]
    problems = unshared_problems(paths, answers)
    if not problems:
        fields = " and ".join(dict.fromkeys(p.field for p in paths))
        _log.info("every node (%d) sees %s on this machine's disk", len(nodes), fields)
    return problems
