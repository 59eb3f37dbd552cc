"""CPU, memory (and GPU, when there is one) of a running trial over time: MLflow's own
system-metrics monitor, logging ``system/*`` metrics into the trial's run.

MLflow's usual switch (``mlflow.start_run(log_system_metrics=True)``) needs the fluent active
run, which aesweep never uses (trials log by run id, and a pack logs to several runs from one
process), so its :class:`SystemMetricsMonitor` is started here directly, with the run id, the
store and the sampling interval. The monitor samples ``psutil`` (and ``pynvml`` for NVIDIA
GPUs); without ``psutil`` the trial runs without system metrics and a warning says why.

The figures are the node's (all its CPUs, its memory), not the trial's own process: trials
that ran at the same time on one node show the same load, so each run is tagged with the
node that took the samples.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

from mlflow.tracking import MlflowClient

from aesweep.tracking.retry import resilient
from aesweep.tracking.schema import (
    TAG_SYSTEM_METRICS_INTERVAL,
    TAG_SYSTEM_METRICS_NODE,
)
from aesweep.tracking.uri import node_uri

_log = logging.getLogger(__name__)


class _ToEveryRun:
    """A client whose ``log_batch`` writes to each of ``run_ids``: MLflow's batching logger
    then logs one monitor's samples into every member of a pack (one process trains them
    all, so the node's samples are theirs too)."""

    def __init__(self, uri: str, run_ids: list[str]) -> None:
        self._client = resilient(MlflowClient(tracking_uri=uri), uri)
        self._run_ids = run_ids

    def log_batch(self, run_id: str, metrics: list[Any]) -> None:
        for each in self._run_ids:
            self._client.log_batch(run_id=each, metrics=metrics)


def _monitor(run_ids: list[str], uri: str, interval_s: float) -> Any:
    """MLflow's monitor for ``run_ids`` (steps go on after a resumed run's last one), or None
    when ``psutil`` is missing. Its samples are written by a client that rides out a server
    outage (MLflow's monitor itself stops sampling when it cannot read its run)."""
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
    except ImportError as exc:
        _log.warning("no system metrics: %s (pip install psutil)", exc)
        return None
    monitor: Any = SystemMetricsMonitor(
        run_ids[0], sampling_interval=interval_s, resume_logging=True, tracking_uri=uri
    )
    if len(run_ids) > 1:
        monitor.mlflow_logger.client = _ToEveryRun(uri, run_ids)
    else:
        monitor.mlflow_logger.client = resilient(MlflowClient(tracking_uri=uri), uri)
    return monitor


def _stop(monitor: Any) -> None:
    """Stop the sampling thread, then log the samples of the last partial interval with one
    more taken now (a trial shorter than the interval still gets a point; MLflow's monitor
    alone drops what it has not published)."""
    monitor.finish()
    try:
        monitor.collect_metrics()
        monitor.publish_metrics(monitor.aggregate_metrics())
        monitor.mlflow_logger.flush()
    except Exception as exc:  # metrics are a record, never a reason for a trial to fail
        _log.warning("the last system metrics sample was not logged: %r", exc)


@contextlib.contextmanager
def system_metrics(uri: str, run_ids: list[str], interval_s: float | None) -> Iterator[None]:
    """Sample the node every ``interval_s`` seconds into ``run_ids`` while the block runs
    (``None``: off). The runs must be RUNNING: the monitor stops when its run ends."""
    uri = node_uri(uri)
    monitor = _monitor(run_ids, uri, interval_s) if interval_s and run_ids else None
    if monitor is None:
        yield
        return
    client = resilient(MlflowClient(tracking_uri=uri), uri)
    for run_id in run_ids:
        client.set_tag(run_id, TAG_SYSTEM_METRICS_NODE, socket.gethostname())
        client.set_tag(run_id, TAG_SYSTEM_METRICS_INTERVAL, f"{interval_s:g}")
    monitor.start()
    try:
        yield
    finally:
        _stop(monitor)
