"""Many MLflow runs created at once: a sweep of 10,000 trials creates 10,000 child runs.

MLflow has no batch ``create_run``; one run through its client is three calls (create with
its tags, its params, its status), each a transaction. On a SQL store (SQLite, PostgreSQL,
MySQL) :func:`create_runs` therefore writes the rows MLflow's own ``create_run`` +
``log_batch`` + ``update_run`` would write (its ``runs``, ``tags`` and ``params`` tables)
in one transaction per :data:`CHUNK` runs; any other store (an ``mlflow server``) gets the
three calls per run from a bounded thread pool. Both read back alike (tested).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mlflow.entities import LifecycleStage, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME, MLFLOW_USER

CHUNK = 1000
"""Runs per SQL transaction (a killed driver loses at most one chunk's uncommitted rows)."""
THREADS = 8
"""Concurrent requests to a tracking server: enough to hide the round trips, few enough for
a server with a handful of workers."""
PARAMS_PER_CALL = 100  # MLflow's log_batch limit on params


@dataclass(frozen=True)
class NewRun:
    """One run to create: its name, tags and params (strings, within MLflow's limits)."""

    name: str
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def create_runs(
    client: MlflowClient, experiment_id: str, runs: Sequence[NewRun], status: str
) -> list[str]:
    """Create ``runs`` in ``experiment_id`` with ``status``; their run ids, in order."""
    if not runs:
        return []
    store = _sql_store(client)
    if store is not None:
        return _insert(store, experiment_id, runs, status)
    return _call_by_call(client, experiment_id, runs, status)


def _sql_store(client: MlflowClient) -> Any | None:
    """The client's SQLAlchemy store, or None (a server, or an MLflow without one)."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = client._tracking_client.store
    except (ImportError, AttributeError):
        return None
    return store if isinstance(store, SqlAlchemyStore) else None


def _insert(store: Any, experiment_id: str, runs: Sequence[NewRun], status: str) -> list[str]:
    """The rows of ``runs`` (as MLflow's ``create_run`` writes them, plus params and status),
    one transaction per :data:`CHUNK`."""
    from mlflow.store.tracking.dbmodels.models import SqlParam, SqlRun, SqlTag
    from mlflow.utils.uri import append_to_uri_path
    from sqlalchemy import insert

    experiment = store.get_experiment(experiment_id)
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:  # as create_run refuses it
        raise MlflowException(f"the experiment {experiment_id} is deleted: no runs in it")
    ids: list[str] = []
    for start in range(0, len(runs), CHUNK):
        rows, tags, params = [], [], []
        for run in runs[start : start + CHUNK]:
            run_id = uuid.uuid4().hex
            rows.append(
                {
                    "run_uuid": run_id,
                    "name": run.name,
                    "artifact_uri": append_to_uri_path(
                        experiment.artifact_location, run_id, store.ARTIFACTS_FOLDER_NAME
                    ),
                    "experiment_id": int(experiment_id),
                    "source_type": "UNKNOWN",
                    "source_name": "",
                    "entry_point_name": "",
                    "user_id": run.tags.get(MLFLOW_USER, "unknown"),
                    "status": status,
                    "start_time": int(time.time() * 1000),
                    "end_time": None,
                    "deleted_time": None,
                    "source_version": "",
                    "lifecycle_stage": LifecycleStage.ACTIVE,
                }
            )
            named = {MLFLOW_RUN_NAME: run.name, **run.tags}
            tags += [{"run_uuid": run_id, "key": k, "value": v} for k, v in named.items()]
            params += [{"run_uuid": run_id, "key": k, "value": v} for k, v in run.params.items()]
            ids.append(run_id)
        with store.ManagedSessionMaker() as session:
            session.execute(insert(SqlRun), rows)
            if tags:
                session.execute(insert(SqlTag), tags)
            if params:
                session.execute(insert(SqlParam), params)
    return ids


def _call_by_call(
    client: MlflowClient, experiment_id: str, runs: Sequence[NewRun], status: str
) -> list[str]:
    """Each run through the client (create with tags, its params, its status), at most
    :data:`THREADS` at once."""

    def one(run: NewRun) -> str:
        made = client.create_run(experiment_id, run_name=run.name, tags=run.tags)
        run_id: str = made.info.run_id
        batch = [Param(k, v) for k, v in run.params.items()]
        for i in range(0, len(batch), PARAMS_PER_CALL):
            client.log_batch(run_id, params=batch[i : i + PARAMS_PER_CALL])
        client.update_run(run_id, status=status)
        return run_id

    if len(runs) == 1:
        return [one(runs[0])]
    with ThreadPoolExecutor(min(THREADS, len(runs))) as pool:
        return list(pool.map(one, runs))
