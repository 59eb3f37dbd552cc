"""Checks before any trial starts: the tracking store and Ray's storage, the datasets, the
GPUs requested, the FID network, the Ray address; once Ray is up (``run.connect``), that some
node can ever hold one trial and, on a cluster, that every node sees the tracking store and
storage that lie on this machine's disk (:mod:`aesweep.sweeps.shared_paths`).

Each problem is one line; the CLI prints them and exits with 2, so a sweep never dies an
hour in (or waits forever) for a reason it could have known at submission.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from aesweep.sweeps.spec import SweepSpec

GIB = 2**30
ADDRESS_TIMEOUT_S = 5.0


def _creatable_folder(path: Path) -> str | None:
    """None when ``path`` is a writable folder or can be created as one, else why not.
    Creates nothing that stays: a probe folder is made and removed (``os.access`` says yes
    to root even where nothing can be created, such as under /proc)."""
    path = path.expanduser().absolute()
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder" if existing == path else f"{existing} is a file"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".aesweep-probe-", dir=existing))
    except OSError as exc:
        return f"{path} cannot be created or written ({exc.strerror or type(exc).__name__})"
    return None


def check_tracking(uri: str) -> str | None:
    """The MLflow store is reachable and writable (a SQLite file's folder must exist)."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///")).expanduser()
        folder = db.resolve().parent
        if not folder.is_dir():
            return f"tracking.uri: folder {folder} does not exist"
        if not os.access(folder, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
            return f"tracking.uri: {db} is not writable"
        return None
    if uri.startswith(("http://", "https://")):
        from aesweep.tracking.retry import budget_problem
        from aesweep.tracking.server import check_reachable

        why = budget_problem() or check_reachable(uri)
        return f"tracking.uri: {why}" if why else None
    if uri.startswith("file:") or "://" not in uri:  # MLflow's file store: a folder
        folder = Path(urlsplit(uri).path if uri.startswith("file:") else uri)
        why = _creatable_folder(folder)
        return f"tracking.uri: {why}" if why else None
    return None


def check_storage(spec: SweepSpec) -> str | None:
    """Ray Tune's storage (checkpoints): a folder that exists or can be created, writable; a
    URI whose filesystem opens and takes a probe file (written and removed again)."""
    from aesweep.trainables.storage import is_uri

    storage = spec.tracking.storage
    why = _writable_uri(storage) if is_uri(storage) else _creatable_folder(Path(storage))
    return f"tracking.storage: {why}" if why else None


def _writable_uri(uri: str) -> str | None:
    from aesweep.trainables.storage import open_location

    try:
        root = open_location(uri)
        if root.is_local:  # file://
            return _creatable_folder(Path(root.path))
        probe = root.child(f".aesweep-probe-{os.getpid()}")
        with root.fs.open_output_stream(probe.path) as out:
            out.write(b"probe")
        root.fs.delete_file(probe.path)
    except Exception as exc:  # whatever the filesystem raises, it is one line here
        text = str(exc).strip().splitlines()
        return f"{uri} cannot be written ({text[0] if text else type(exc).__name__})"
    return None


def check_address(address: str | None) -> str | None:
    """``--address``: ``auto``, ``local``, ``HOST:PORT`` (a head's GCS) or
    ``ray://HOST:PORT`` (its Ray client server); something must answer at HOST:PORT. Ray's
    own attempts to connect to a dead address take from half a minute to forever."""
    if address is None or address in ("auto", "local"):
        return None
    usage = "use auto, HOST:PORT (the head's GCS, e.g. 6379) or ray://HOST[:10001] (its client)"
    parts = urlsplit(address if "://" in address else f"gcs://{address}")
    if parts.scheme not in ("ray", "gcs") or not parts.hostname or parts.path not in ("", "/"):
        return f"--address {address}: not a Ray address; {usage}"
    try:
        port = parts.port or (10001 if parts.scheme == "ray" else None)  # Ray client's default
    except ValueError:
        port = None
    if port is None:
        return f"--address {address}: no valid port; {usage}"
    try:
        with socket.create_connection((parts.hostname, port), timeout=ADDRESS_TIMEOUT_S):
            pass
    except socket.gaierror:
        return f"--address {address}: unknown host {parts.hostname}"
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or type(exc).__name__
        return f"--address {address}: nothing answers at {parts.hostname}:{port} ({why.lower()})"
    return None


def check_node_resources(
    spec: SweepSpec, nodes: list[dict[str, float]], gpus: float, where: str
) -> list[str]:
    """Some alive node (its total resources, as ``ray.nodes()`` gives them) can hold one
    trial; else Ray would leave every trial PENDING forever. ``gpus``: the resolved
    request (``auto`` already decided)."""
    res = spec.resources
    memory = res.memory_per_trial
    wanted = {
        "CPU": ("cpus_per_trial", res.cpus_per_trial, 1.0, "CPUs"),
        "GPU": ("gpus_per_trial", gpus, 1.0, "GPUs"),
        "memory": ("memory_per_trial", memory or 0.0, GIB, "GiB of memory"),
    }
    wanted = {k: w for k, w in wanted.items() if w[1] > 0}

    def fits(node: dict[str, float], key: str) -> bool:
        _, amount, unit, _ = wanted[key]
        return node.get(key, 0.0) >= amount * unit - 1e-6

    if not nodes:
        return [f"{where} has no alive node"]
    if any(all(fits(n, k) for k in wanted) for n in nodes):
        return []
    problems = []
    for key, (name, amount, unit, what) in wanted.items():
        if not any(fits(n, key) for n in nodes):
            most = max(n.get(key, 0.0) for n in nodes) / unit
            problems.append(
                f"resources.{name}: {amount:g} per trial, but the largest node of {where} "
                f"has {most:.3g} {what}: no trial could ever start"
            )
    if not problems:
        asked = ", ".join(f"{w[1]:g} {w[3]}" for w in wanted.values())
        problems.append(
            f"resources: no node of {where} has {asked} at once: no trial could ever start"
        )
    return problems


def check_data(spec: SweepSpec) -> list[str]:
    problems = []
    for i, data in enumerate(spec.data):
        why = data.missing()
        if why:
            problems.append(f"data[{i}].{data.location_field}: {why}")
    return problems


def check_local_gpus(spec: SweepSpec) -> str | None:
    """Numeric GPU requests on this machine (a cluster's GPUs are checked once joined)."""
    wanted = spec.resources.gpus_per_trial
    if wanted == "auto" or wanted == 0:
        return None
    import torch

    if not torch.cuda.is_available():
        return (
            f"resources.gpus_per_trial: {wanted} requested, but this machine has no GPU (use auto)"
        )
    return None


def check_fid(spec: SweepSpec) -> str | None:
    """The FID network can be found (or fetched) when the spec asks for FID."""
    fid = spec.evaluation.fid
    if fid is None:
        return None
    from aesweep.fid.weights import InceptionWeightsError, locate_weights

    try:
        locate_weights(fid.weights, cache_dir=fid.cache_dir)
    except InceptionWeightsError as exc:
        return f"evaluation.fid: {exc}"
    return None


def preflight(spec: SweepSpec, *, address: str | None) -> list[str]:
    checks = [check_tracking(spec.tracking.uri), check_storage(spec), check_fid(spec)]
    problems = [p for p in checks if p]
    problems += check_data(spec)
    if address is None:
        gpu = check_local_gpus(spec)
        if gpu:
            problems.append(gpu)
    return problems
