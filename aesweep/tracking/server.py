"""A tracking server seen from outside: is an ``http(s)://`` MLflow server reachable, and the
command line that serves a store's UI.

mlflow is imported only inside ``check_reachable``, so the light commands (``validate``,
``plan``) can import this module without paying for it.
"""

from __future__ import annotations

import os
import sys


def check_reachable(uri: str) -> str | None:
    """None when the MLflow server at ``uri`` answers a search, else one line saying why not
    (one retry, ten seconds: preflight must not hang on a dead server)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    from mlflow.tracking import MlflowClient

    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as exc:  # any failure to talk to the server is the same problem
        return f"MLflow server {uri} is not reachable ({type(exc).__name__})"
    return None


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
    ]
