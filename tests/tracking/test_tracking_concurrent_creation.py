"""Several processes opening one fresh SQLite store at once (several `aesweep run` started
together) all get it; without the lock MLflow's migrations collide (duplicate column name)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest


def _open(uris: list[str], name: str, barrier, errors) -> None:  # type: ignore[no-untyped-def]
    """Import once, then open each store at the barrier with the other processes."""
    from aesweep.tracking.store import SweepStore

    for uri in uris:
        barrier.wait()
        try:
            SweepStore(uri, name).ensure_experiment()
        except Exception as exc:  # what the test reports
            errors.put(f"{uri[-10:]}: {type(exc).__name__}: {exc}"[:300])


@pytest.mark.slow
def test_processes_creating_one_store_at_once_all_succeed(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    # Three fresh stores, one after the other, each opened by four processes at once (three
    # chances for the migrations to collide); each process pays its imports once.
    uris = [f"sqlite:///{tmp_path / f'mlflow{attempt}.db'}" for attempt in range(3)]
    barrier, errors = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_open, args=(uris, f"exp{i}", barrier, errors)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == [] and all(p.exitcode == 0 for p in procs), found

    uri = uris[-1]
    from mlflow.tracking import MlflowClient

    names = {e.name for e in MlflowClient(tracking_uri=uri).search_experiments()}
    assert {f"exp{i}" for i in range(4)} <= names
