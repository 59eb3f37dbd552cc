"""Stopping ``aesweep ui`` (SIGTERM, SIGINT) stops everything it started: the MLflow server,
its uvicorn supervisor and workers; its port is closed afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from aesweep.tracking.store import SweepStore
from tests.conftest import REPO, free_port, tiny_spec

pytestmark = [pytest.mark.kill, pytest.mark.slow]
START_TIMEOUT_S = 240  # MLflow's server takes long to import on a busy 2-core machine
STOP_TIMEOUT_S = 30


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a live process, None when it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid, pgid = text[text.rindex(")") + 2 :].split()[:3]
    return None if state in ("Z", "X") else (state, int(ppid), int(pgid))


def _tree(root: int) -> set[int]:
    """The live descendants of ``root``, by parent pid."""
    stats = {int(p): _stat(int(p)) for p in os.listdir("/proc") if p.isdigit()}
    found, todo = set(), [root]
    while todo:
        parent = todo.pop()
        for pid, st in stats.items():
            if st is not None and st[1] == parent and pid not in found:
                found.add(pid)
                todo.append(pid)
    return found


def _answers(port: int) -> bool:
    with (
        contextlib.suppress(OSError),
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r,
    ):
        return r.status == 200
    return False


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_aesweep_ui_stops_all_it_started(tmp_path: Path, sig: int) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = tiny_spec(uri, tmp_path / "ray")
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    SweepStore(uri, "tiny").open_parent("tiny", "h", "name: tiny\n", "a sweep")  # a store to show
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_TELEMETRY": "true"}
    cmd = [sys.executable, "-m", "aesweep.sweeps.cli", "ui", "spec.yaml", "--port", str(port)]
    log = tmp_path / "ui.log"
    with log.open("wb") as out:  # its own session: the signal reaches aesweep only, as kill(1)
        proc = subprocess.Popen(
            cmd, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    started: set[int] = set()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(port):
            assert proc.poll() is None, f"aesweep ui exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"no UI after {START_TIMEOUT_S}s: {log.read_text()}"
            time.sleep(1)
        started = _tree(proc.pid)
        assert started, "the UI server runs below aesweep ui"
        os.kill(proc.pid, sig)  # aesweep's pid only, not its group
        proc.wait(timeout=STOP_TIMEOUT_S)
        deadline = time.monotonic() + 5  # the kernel's bookkeeping of just-ended processes
        while time.monotonic() < deadline and any(_stat(p) for p in started):
            time.sleep(0.1)
        left = {p: Path(f"/proc/{p}/cmdline").read_bytes() for p in started if _stat(p)}
        assert not left, f"still running after {signal.Signals(sig).name}: {left}"
        assert _port_closed(port)
        assert proc.returncode == (0 if sig == signal.SIGINT else 128 + sig)
        assert "runs of tiny: http://127.0.0.1:" in log.read_text()
    finally:
        for pid in started | {proc.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
