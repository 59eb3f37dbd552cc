"""Riding out a tracking server that is away for a while (restarted, redeployed, a network
blip): every MLflow call that aesweep makes to an ``http(s)://`` server, in the driver and in
the trials, goes through :func:`resilient`, which retries a call that could not reach the
server with exponential backoff for a bounded time (``AESWEEP_TRACKING_RETRY_S``, default
300 s), logging one line when an outage starts and one when it ends.

A retried call sends the same request again (the same metric timestamps): MLflow's store
keeps a metric, tag or param written twice once, so nothing logged during an outage is lost
or doubled. A SQLite or file store is local: its calls are made as they are.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

RETRY_ENV = "AESWEEP_TRACKING_RETRY_S"
DEFAULT_RETRY_S = 300.0
FIRST_WAIT_S = 1.0
MAX_WAIT_S = 15.0  # a server that is back is noticed within this many seconds
# MLflow's own retries of one request (urllib3's, inside each call): two quick ones, so that
# an outage reaches the loop here (which says so and waits for it) within seconds rather than
# after MLflow's default of about four silent minutes. A value the user set is kept.
MLFLOW_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
# What a Ray worker on another node must see as the driver does (set in the driver's
# environment: handed to the workers through Ray's runtime environment).
FORWARDED_ENV = (
    RETRY_ENV,
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
)

_log = logging.getLogger(__name__)
T = TypeVar("T")


def retry_budget(environ: Mapping[str, str] | None = None) -> float:
    """The seconds one MLflow call may spend waiting for an unreachable server; raises
    ValueError naming ``AESWEEP_TRACKING_RETRY_S`` when it is set to something else than a
    number of seconds >= 0."""
    text = (os.environ if environ is None else environ).get(RETRY_ENV, "").strip()
    if not text:
        return DEFAULT_RETRY_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value >= 0 and value != float("inf")):
        raise ValueError(f"{RETRY_ENV}={text!r}: must be a number of seconds >= 0")
    return value


def budget_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """None when ``AESWEEP_TRACKING_RETRY_S`` is unset or valid, else the one line why not."""
    try:
        retry_budget(environ)
    except ValueError as exc:
        return str(exc)
    return None


def forwarded_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The retry settings set in this environment, for Ray workers to get the same."""
    env = os.environ if environ is None else environ
    return {k: env[k] for k in FORWARDED_ENV if k in env}


def is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says the server could not be
    reached or did not answer: refused, reset, timed out, cut mid-answer, or still answering
    429/5xx after MLflow's own retries. A TLS failure is a configuration error: not retried."""
    return _unreachable_cause(exc) is not None


def _unreachable_cause(exc: BaseException) -> BaseException | None:
    """The exception in ``exc``'s chain that says the server is unreachable, or None."""
    import requests

    transient = (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
        requests.exceptions.RetryError,
        ConnectionError,
        TimeoutError,
    )
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, requests.exceptions.SSLError):
            return None
        if isinstance(current, transient):
            return current
        current = current.__cause__ or current.__context__
    return None


class _Outage:
    """This process's view of one server: since when it has been unreachable (None: it
    answers), so that concurrent calls log an outage once."""

    def __init__(self) -> None:
        self.since: float | None = None


_outages: dict[str, _Outage] = {}
_lock = threading.Lock()


def _outage(uri: str) -> _Outage:
    with _lock:
        return _outages.setdefault(uri, _Outage())


def _began(uri: str, exc: BaseException, budget: float) -> None:
    state = _outage(uri)
    with _lock:
        if state.since is not None:
            return
        state.since = time.monotonic()
    cause = _unreachable_cause(exc) or exc
    _log.warning(
        "MLflow server %s is unreachable (%s): retrying for up to %g s (%s)",
        uri,
        type(cause).__name__,
        budget,
        RETRY_ENV,
    )


def _ended(uri: str) -> None:
    state = _outage(uri)
    with _lock:
        since, state.since = state.since, None
    if since is not None:
        _log.warning("MLflow server %s answers again after %.0f s", uri, time.monotonic() - since)


def call_with_retries(call: Callable[[], T], uri: str, budget_s: float | None = None) -> T:
    """``call()``; while it fails because the server at ``uri`` cannot be reached, again after
    1, 2, 4, ... (at most 15) seconds, for at most ``budget_s`` seconds (default: the
    environment's budget) since its first failure; then the last error is raised."""
    budget = retry_budget() if budget_s is None else budget_s
    deadline: float | None = None
    wait = FIRST_WAIT_S
    while True:
        try:
            result = call()
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + budget
                _began(uri, exc, budget)
            if now >= deadline:
                _log.error("MLflow server %s: gave up after %g s (%s)", uri, budget, RETRY_ENV)
                raise
            time.sleep(min(wait * random.uniform(0.75, 1.0), deadline - now))
            wait = min(wait * 2, MAX_WAIT_S)
            continue
        if deadline is not None or _outage(uri).since is not None:
            _ended(uri)
        return result


class _Resilient:
    """A client whose every method is :func:`call_with_retries` of the wrapped client's."""

    def __init__(self, client: Any, uri: str) -> None:
        self._client = client
        self._uri = uri

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_client", "_uri"):
            # Unpickling (a driver's callbacks shipped through a ``ray://`` client) looks up
            # dunders before ``_client`` exists: answering from ``_client`` would recurse.
            raise AttributeError(name)
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            return call_with_retries(lambda: attr(*args, **kwargs), self._uri)

        return call


def resilient(client: T, uri: str) -> T:
    """``client`` (an ``MlflowClient``) whose calls ride out an outage of the server at
    ``uri``; with a local store, ``client`` itself. Sets MLflow's own per-request retries
    to a few quick ones unless the environment sets them."""
    if not is_remote(uri):
        return client
    for key, value in MLFLOW_HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    return cast(T, _Resilient(client, uri))
