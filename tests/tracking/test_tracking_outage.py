"""A tracking server that goes away and comes back: a real ``mlflow server`` (SQLite store in
tmp_path) is killed mid-sweep and restarted on the same port and store. Trials and the driver
wait for it (tracking.retry): nothing logged during the outage is lost or doubled, no run is
left RUNNING, and a scheduler's stop recorded during it does not abort the driver. The outage
here is short (the suite's time); the budget the sweep runs with is at least two minutes."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from aesweep.sweeps.cli import main
from aesweep.sweeps.preflight import check_tracking
from aesweep.sweeps.stops import StopRecorder
from aesweep.tracking.retry import RETRY_ENV, is_unreachable
from aesweep.tracking.schema import TAG_OUTCOME, TAG_STOPPED_EPOCH
from aesweep.tracking.store import SweepStore, TrialRun
from tests.conftest import tiny_spec, wait_for

BIN = Path(sys.executable).parent
START_TIMEOUT_S = 240  # MLflow's server takes long to import on a busy 2-core machine
OUTAGE_S = 125.0  # how long the server stays away mid-sweep: over 2 minutes
SWEEP_BUDGET_S = "240"  # the sweep's retry budget: an outage of at least 2 minutes
EPOCHS = 8
# Every MLflow setting a call in this process could pick up, restored after each test.
HTTP_ENV = (
    RETRY_ENV,
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
)


@pytest.fixture(autouse=True)
def _own_http_env() -> Iterator[None]:
    """None of these set at the start; as they were afterwards (the store sets MLflow's)."""
    saved = {key: os.environ.pop(key, None) for key in HTTP_ENV}
    try:
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=5) as r:
        return bool(r.status == 200)
    return False


class Server:
    """``mlflow server`` on a fixed port over one SQLite store and artifact folder, in a
    process group of its own: started, killed (the whole group, SIGKILL: a crash) and started
    again on the same port and store."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [
            str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(self.port),
            "--backend-store-uri", f"sqlite:///{self.folder / 'server.db'}",
            "--artifacts-destination", str(self.folder / "server-artifacts"), "--workers", "1",
        ]  # fmt: skip
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: _answers(self.url), START_TIMEOUT_S, f"mlflow server at {self.url}")

    def kill(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None
        wait_for(lambda: not _answers(self.url), 30, "the killed server to stop answering")


@pytest.fixture
def server(tmp_path: Path):
    srv = Server(tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


def _outage_spec(uri: str, storage: Path) -> dict:
    """Two digits trials (one per lr), each its own Ray trial, evaluated and imaged every
    epoch for long enough to span the outage; no retry of a failed trial (an outage must not
    fail one)."""
    return tiny_spec(
        uri,
        storage,
        name="outage",
        data={"dataset": "digits", "train_size": 512, "test_size": 128},
        epochs=EPOCHS,
        compute={"pack": "off"},
        failure={"max_retries": 0},
        tracking={
            "uri": uri,
            "experiment": "outage",
            "storage": str(storage),
            "system_metrics_interval": 1.0,
        },
    )


def _trial_runs(client: MlflowClient) -> list:
    exp = client.get_experiment_by_name("outage")
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id], filter_string="tags.`aesweep.kind` = 'trial'")


def _logged_epochs(client: MlflowClient) -> dict[str, int]:
    """Run id -> the last epoch logged so far (trial runs with some metric)."""
    return {r.info.run_id: int(r.data.metrics["epoch"]) for r in _trial_runs(client)
            if "epoch" in r.data.metrics}  # fmt: skip


@contextlib.contextmanager
def _recording_a_stop(store: SweepStore, run_id: str) -> Iterator[list[BaseException]]:
    """The scheduler's stop recorder (a Ray Tune callback of the driver) writing a stop in a
    thread while the block runs; after it, the thread is joined and its errors are listed."""
    recorder = StopRecorder(lambda t: 10, store, {"t1": run_id}.get, {}, lambda t: "t1")
    errors: list[BaseException] = []

    def complete() -> None:
        try:
            recorder.complete("t1", {"epoch": 3, "diverged": 0.0}, 10)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=complete, daemon=True)
    thread.start()
    yield errors
    thread.join(300)
    assert not thread.is_alive()
    assert recorder.stopped == {"t1": 3}


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_sweep_rides_out_a_tracking_server_outage(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A sweep whose server is killed after its first metrics and restarted a while later
    ends as if nothing happened; a scheduler's stop the driver records during the outage is
    written once the server is back; an error the server answers is not waited on."""
    caplog.set_level(logging.WARNING, logger="aesweep.tracking.retry")
    assert check_tracking(server.url) is None  # what `aesweep run` checks first, here too
    stops = SweepStore(server.url, "stops")
    stop_run = stops.create_trial_run(
        stops.open_parent("stops", "hash", "name: stops\n", "1 trial"), "t1", "t1", {}, "g"
    )
    TrialRun(server.url, stop_run).start()
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(_outage_spec(server.url, tmp_path / "ray")))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", RETRY_ENV: SWEEP_BUDGET_S}
    out = tmp_path / "sweep.log"
    with open(out, "wb") as log:
        sweep = subprocess.Popen(
            [str(BIN / "aesweep"), "run", str(spec)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        client = MlflowClient(tracking_uri=server.url)
        wait_for(
            lambda: bool(_logged_epochs(client)) or sweep.poll() is not None,
            300,
            "the first trial metrics",
        )
        before = _logged_epochs(client)
        assert sweep.poll() is None, out.read_text()[-3000:]
        server.kill()
        with _recording_a_stop(stops, stop_run) as errors:
            time.sleep(OUTAGE_S)
            assert sweep.poll() is None, out.read_text()[-3000:]  # the sweep waits
            server.start()
        rc = sweep.wait(300)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.wait(30)
    text = out.read_text()
    assert rc == 0, text[-3000:]
    assert "is unreachable" in text and "answers again after" in text, text[-3000:]
    assert errors == []  # the driver's callback waited too
    assert "is unreachable" in caplog.text and "answers again after" in caplog.text

    client = MlflowClient(tracking_uri=server.url)
    runs = _trial_runs(client)
    assert len(runs) == 2
    expected = list(range(1, EPOCHS + 1))
    for run in runs:
        rid = run.info.run_id
        assert run.info.status == "FINISHED", run.data.tags
        assert run.data.tags.get(TAG_OUTCOME) == "finished"
        assert before.get(rid, 0) < EPOCHS  # it had epochs left to log when the outage began
        for key in ("cost", "rec_error", "cw_distance", "epoch"):
            steps = [m.step for m in client.get_metric_history(rid, key)]
            assert sorted(steps) == expected, (key, steps)  # every epoch, exactly once
        for kind in ("samples", "reconstructions", "interpolations"):
            names = sorted(Path(a.path).name for a in client.list_artifacts(rid, kind))
            assert names == [f"epoch_{e:04d}.png" for e in expected], (kind, names)
    exp = client.get_experiment_by_name("outage")
    assert exp is not None
    parents = client.search_runs([exp.experiment_id], "tags.`aesweep.kind` = 'sweep'")
    assert [p.info.status for p in parents] == ["FINISHED"]

    stopped = client.get_run(stop_run)
    assert stopped.info.status == "FINISHED"
    assert stopped.data.tags[TAG_OUTCOME] == "stopped"
    assert stopped.data.tags[TAG_STOPPED_EPOCH] == "3"

    caplog.clear()
    with pytest.raises(MlflowException) as raised:
        TrialRun(server.url, "0" * 32).log_metrics({"cost": 1.0}, step=1)  # no such run
    assert not is_unreachable(raised.value)
    assert "unreachable" not in caplog.text


def test_a_call_gives_up_after_the_budget(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Bounded: with nothing listening, a call raises MLflow's error once the budget is
    spent, saying so."""
    monkeypatch.setenv(RETRY_ENV, "2")
    caplog.set_level(logging.WARNING, logger="aesweep.tracking.retry")
    run = TrialRun(f"http://127.0.0.1:{_free_port()}", "0" * 32)
    with pytest.raises(MlflowException) as raised:
        run.log_metrics({"cost": 1.0}, step=1)
    assert is_unreachable(raised.value)
    assert "is unreachable" in caplog.text and "gave up after 2 s" in caplog.text


@pytest.mark.parametrize("value", ["soon", "-1", "inf"])
def test_a_bad_retry_budget_is_one_line_and_starts_nothing(
    value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv(RETRY_ENV, value)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec("http://127.0.0.1:1", tmp_path / "ray")))
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{spec}: tracking.uri: {RETRY_ENV}={value!r}: must be a number of seconds >= 0"]
    assert not (tmp_path / "ray").exists()


def test_a_resilient_client_survives_pickling() -> None:
    """A driver's callbacks hold resilient clients and travel pickled through a ``ray://``
    client: unpickling must not recurse through ``__getattr__``."""
    import pickle

    from mlflow.tracking import MlflowClient

    from aesweep.tracking.retry import resilient

    uri = "http://127.0.0.1:9"
    copy = pickle.loads(pickle.dumps(resilient(MlflowClient(uri), uri)))
    assert copy._uri == uri and callable(copy.get_run)
