"""The tracking server seen from outside: the reachability check preflight runs on an
``http://`` store, and the ``mlflow ui`` command line."""

from __future__ import annotations

import subprocess
import sys

from aesweep.tracking.server import check_reachable, ui_command
from tests.conftest import REPO


def test_an_unreachable_server_is_one_line(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Set here so the check's defaults do not leak into the rest of the session.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    why = check_reachable("http://127.0.0.1:1")
    assert why is not None
    assert "\n" not in why
    assert why.startswith("MLflow server http://127.0.0.1:1 is not reachable (")


def test_importing_the_server_module_does_not_import_mlflow() -> None:
    probe = "import sys, aesweep.tracking.server; print('mlflow' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_ui_command_serves_the_store_with_this_python() -> None:
    cmd = ui_command("sqlite:////tmp/x/mlflow.db", "127.0.0.1", 5001, 2)
    assert cmd[:4] == [sys.executable, "-m", "mlflow", "ui"]
    args = dict(zip(cmd[4::2], cmd[5::2], strict=True))
    assert args == {
        "--backend-store-uri": "sqlite:////tmp/x/mlflow.db",
        "--host": "127.0.0.1",
        "--port": "5001",
        "--workers": "2",
        "--uvicorn-opts": "--log-level warning --no-access-log",  # no INFO line per request
    }
