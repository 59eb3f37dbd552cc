"""Read-only commands create nothing and show no MLflow INFO lines; aesweep's experiments are
tagged as model-training ones; the UI's runs link and its output filter."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

import yaml
from mlflow.tracking import MlflowClient

from aesweep.tracking.schema import EXPERIMENT_KIND, TAG_EXPERIMENT_KIND
from aesweep.tracking.server import is_noise, runs_page_url
from aesweep.tracking.store import NoRunsYet, SweepStore, store_exists
from tests.conftest import REPO, tiny_spec


def _aesweep(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``aesweep ARGS`` in its own session; that whole session is killed at the end (the UI
    of today's code would go on serving)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_LOGGING_LEVEL", None)  # MLflow's default (INFO), as users have it
    cmd = [sys.executable, "-m", "aesweep.sweeps.cli", *args]
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=PIPE, stderr=PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_results_status_and_ui_on_a_never_run_spec_create_nothing(tmp_path: Path) -> None:
    # A relative store and storage, as in the shipped specs: resolved in the command's folder.
    spec = tiny_spec("sqlite:///mlflow.db", Path("ray"))
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    message = "no runs yet for tiny in sqlite:///mlflow.db: run the sweep first"

    results = _aesweep("results", "spec.yaml", cwd=tmp_path)
    assert results.returncode == 1, results.stderr
    assert message in results.stderr

    status = _aesweep("status", "spec.yaml", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert message in status.stderr
    lines = status.stdout.splitlines()
    assert len(lines) == 3  # both trials, then the progress line
    assert all(" pending " in line for line in lines[:2])
    assert lines[-1] == "0/2 trials done: 2 pending"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ui = _aesweep("ui", "spec.yaml", "--port", str(port), cwd=tmp_path, timeout=120)
    assert ui.returncode == 1, ui.stderr
    assert message in ui.stderr

    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]
    for done in (results, status, ui):
        output = done.stdout + done.stderr
        assert not [line for line in output.splitlines() if "INFO" in line], output


def test_an_existing_store_without_the_experiment_is_not_written(mlflow_uri: str) -> None:
    other = SweepStore(mlflow_uri, "other")
    other.ensure_experiment()
    db = Path(mlflow_uri.removeprefix("sqlite:///"))
    before = db.stat().st_mtime_ns, db.stat().st_size
    try:
        SweepStore.open_existing(mlflow_uri, "tiny")
    except NoRunsYet as exc:
        assert str(exc) == f"no runs yet for tiny in {mlflow_uri}: run the sweep first"
    else:
        raise AssertionError("open_existing found an experiment that does not exist")
    assert (db.stat().st_mtime_ns, db.stat().st_size) == before
    assert SweepStore.open_existing(mlflow_uri, "other").experiment_id == other.experiment_id


def test_store_exists_only_when_opening_creates_nothing(tmp_path: Path) -> None:
    assert not store_exists(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert not store_exists(str(tmp_path / "mlruns"))
    assert not store_exists((tmp_path / "mlruns").as_uri())
    (tmp_path / "mlflow.db").touch()
    (tmp_path / "mlruns").mkdir()
    assert store_exists(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert store_exists((tmp_path / "mlruns").as_uri())
    assert store_exists("http://127.0.0.1:1")  # a server: asked, not guessed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db", "mlruns"]


def test_experiments_are_tagged_as_model_training(mlflow_uri: str) -> None:
    client = MlflowClient(tracking_uri=SweepStore(mlflow_uri, "x").uri)
    # A new experiment gets the tag when it is created.
    store = SweepStore(mlflow_uri, "new")
    exp = store.ensure_experiment()
    assert client.get_experiment(exp).tags[TAG_EXPERIMENT_KIND] == EXPERIMENT_KIND
    # An experiment made without it (an older aesweep) gets it on the next run or `ui`.
    old = client.create_experiment("old")
    assert TAG_EXPERIMENT_KIND not in client.get_experiment(old).tags
    assert SweepStore(mlflow_uri, "old").ensure_experiment() == old
    assert client.get_experiment(old).tags[TAG_EXPERIMENT_KIND] == EXPERIMENT_KIND
    older = client.create_experiment("older")
    SweepStore.open_existing(mlflow_uri, "older").tag_experiment_kind()
    assert client.get_experiment(older).tags[TAG_EXPERIMENT_KIND] == EXPERIMENT_KIND


def test_runs_page_url_is_the_runs_table_of_model_training() -> None:
    url = runs_page_url("http://127.0.0.1:5000/", "7")
    assert url == "http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning"


def test_server_noise_is_dropped_and_problems_are_kept() -> None:
    noise = [
        "2026/12/01 09:58:49 INFO:     Started server process [18281]",
        "2026/12/01 09:57:51 INFO mlflow.store.db.utils: Creating initial MLflow database tables",
        "INFO:     Uvicorn running on http://127.0.0.1:5000 (Press CTRL+C to quit)",
        "Registry store URI not provided. Using backend store URI.",
        "[MLflow] Security middleware enabled with default settings (localhost-only).",
    ]
    kept = [
        "2026/12/01 09:58:49 WARNING mlflow.server: something to know",
        "ERROR:    [Errno 98] error while attempting to bind on address",
        "Traceback (most recent call last):",
    ]
    assert all(is_noise(line) for line in noise)
    assert not any(is_noise(line) for line in kept)
