"""A tracking server seen from outside: is an ``http(s)://`` MLflow server reachable, the
command line that serves a store's UI, the URL of an experiment's runs in that UI, and
serving it so that nothing started outlives the command.

mlflow is imported only inside ``check_reachable``, so the light commands (``validate``,
``plan``) can import this module without paying for it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO


def check_reachable(uri: str) -> str | None:
    """None when the MLflow server at ``uri`` answers a search, else one line saying why not
    (one retry, ten seconds: preflight must not hang on a dead server). These settings hold
    for this check only: the sweep's own calls, and the Ray workers started after it, ride
    out an outage (:mod:`aesweep.tracking.retry`)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from aesweep.tracking.uri import node_uri

    try:
        with _environ(PREFLIGHT_HTTP):
            MlflowClient(tracking_uri=node_uri(uri)).search_experiments(max_results=1)
    except MlflowException as exc:
        refused = credentials_refused(uri, exc.get_http_status_code())
        return refused or f"MLflow server {uri} is not reachable ({type(exc).__name__})"
    except Exception as exc:  # any failure to talk to the server is the same problem
        return f"MLflow server {uri} is not reachable ({type(exc).__name__})"
    return None


CREDENTIAL_VARS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
"""Where MLflow's client takes a server's basic-auth user and password from (or from
``~/.mlflow/credentials``; ``MLFLOW_TRACKING_TOKEN`` for a bearer token)."""


def credentials_refused(uri: str, status: int) -> str | None:
    """The line for a server that answered but refused us (HTTP 401 or 403), else None: the
    server is up, so the fix is the credentials, not the address."""
    if status == 403:
        return f"MLflow server {uri} denies this user access (403): ask its admin for permission"
    if status != 401:
        return None
    given = [v for v in (*CREDENTIAL_VARS, "MLFLOW_TRACKING_TOKEN") if os.environ.get(v)]
    if given:
        return f"MLflow server {uri} refused the credentials in {' and '.join(given)} (401)"
    return (
        f"MLflow server {uri} requires a login: set {CREDENTIAL_VARS[0]} and "
        f"{CREDENTIAL_VARS[1]} (401)"
    )


PREFLIGHT_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


@contextlib.contextmanager
def _environ(defaults: dict[str, str]) -> Iterator[None]:
    """``defaults`` in ``os.environ`` (a value already set wins) while the block runs; the
    environment as it was afterwards."""
    added = [k for k in defaults if k not in os.environ]
    for key in added:
        os.environ[key] = defaults[key]
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def ui_command(uri: str, host: str, port: int, workers: int) -> list[str]:
    """``python -m mlflow ui`` for the store at ``uri`` (already resolved), in this Python."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        # Uvicorn's INFO lines (startup, one per request) are not for users; warnings are.
        "--uvicorn-opts",
        "--log-level warning --no-access-log",
    ]


def runs_page_url(base: str, experiment_id: str) -> str:
    """The runs table of an experiment in MLflow 3's UI (route ``experiments/:id/runs``).

    The UI's "GenAI / Model training" switch, not the experiment's kind tag, picks what an
    experiment opens on (the GenAI overview by default); ``workflowType=machine_learning``
    puts it on "Model training", so the link lands on the runs table."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def ui_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The UI server's environment: no background job runner (MLflow's GenAI jobs would
    start a dozen more processes; set MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true to have it), and
    MLflow's INFO logging and Python's deprecation warnings off unless asked for."""
    return {
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        # Starlette's own deprecation warning is a UserWarning: ignored by its message.
        "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore:starlette.middleware.wsgi is",
        **(os.environ if environ is None else environ),
    }


NOISE = re.compile(
    r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )?INFO\b"  # a logger's INFO line
    r"|^INFO:"  # uvicorn's own format
    r"|^Registry store URI not provided"
    r"|^\[MLflow\] Security middleware enabled"
)


def is_noise(line: str) -> bool:
    """A line of the server's output that users need not see (INFO, startup chatter)."""
    return NOISE.search(line) is not None


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signum)


def serve(
    cmd: list[str],
    env: dict[str, str],
    *,
    out: IO[str] | None = None,
    stop_timeout: float = 10.0,
) -> int:
    """Run ``cmd`` (the UI server) until it exits or this process is told to stop (SIGINT,
    SIGTERM, SIGHUP), passing its output on without the noise.

    The server runs in a session (process group) of its own, so a signal is not delivered to
    it behind our back; on any way out its whole group, and any descendant that left it, is
    sent SIGTERM and, after ``stop_timeout`` seconds, SIGKILL: nothing started outlives this
    call. Returns the server's exit code, 0 after Ctrl-C, 128 + the signal after another."""
    out = sys.stderr if out is None else out
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in handled}
    proc: subprocess.Popen[str] | None = None
    try:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if not is_noise(line):
                out.write(line)
                out.flush()
        return proc.wait()
    except (_Stopped, KeyboardInterrupt) as exc:
        signum = exc.signum if isinstance(exc, _Stopped) else signal.SIGINT
        return 0 if signum == signal.SIGINT else 128 + signum
    finally:
        # A second signal while stopping must not cut the cleanup short.
        for sig in handled:
            signal.signal(sig, signal.SIG_IGN)
        try:
            if proc is not None:
                stop_group(proc, timeout=stop_timeout)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def stop_group(proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    """SIGTERM to ``proc``'s process group (``proc`` leads it) and to its descendants found
    outside the group; SIGKILL to whatever is left after ``timeout`` seconds."""
    pgid = proc.pid
    others = [p for p in descendants(proc.pid) if _pgid(p) != pgid]
    _signal_all(pgid, others, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    while time.monotonic() < deadline and _any_alive(pgid, others):
        time.sleep(0.1)
    _signal_all(pgid, others, signal.SIGKILL)
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _signal_all(pgid: int, pids: list[int], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _any_alive(pgid: int, pids: list[int]) -> bool:
    return bool(list(_group_members(pgid))) or any(_alive(p) for p in pids)


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) from ``/proc/PID/stat``; None if gone or not Linux."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def _all_pids() -> Iterator[int]:
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                yield int(entry)


def _pgid(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return stat[2] if stat else None


def _alive(pid: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def _group_members(pgid: int) -> Iterator[int]:
    """Live (not zombie) processes of the group, from ``/proc``."""
    for pid in _all_pids():
        stat = _proc_stat(pid)
        if stat is not None and stat[2] == pgid and stat[0] not in ("Z", "X"):
            yield pid


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...) from ``/proc``."""
    children: dict[int, list[int]] = {}
    for p in _all_pids():
        stat = _proc_stat(p)
        if stat is not None:
            children.setdefault(stat[1], []).append(p)
    found, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        if _alive(p):
            found.append(p)
        todo += children.get(p, [])
    return found
