"""Checks before any trial starts: the tracking store, the datasets, the GPUs requested, the
FID network.

Each problem is one line; the CLI prints them and exits with 2, so a sweep never dies an
hour in for a reason it could have known at submission.
"""

from __future__ import annotations

import os
from pathlib import Path

from aesweep.sweeps.spec import SweepSpec


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
        from aesweep.tracking.server import check_reachable

        why = check_reachable(uri)
        return f"tracking.uri: {why}" if why else None
    return None


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
    problems = [p for p in [check_tracking(spec.tracking.uri), check_fid(spec)] if p]
    problems += check_data(spec)
    if address is None:
        gpu = check_local_gpus(spec)
        if gpu:
            problems.append(gpu)
    return problems
