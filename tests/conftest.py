"""Shared fixtures: one Ray instance per test session, temporary MLflow stores and servers,
spec files."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _temp_on_a_ram_disk(min_free: int = 4 << 30) -> Path | None:
    """Every temporary file of the tests (stores, checkpoints, Ray's session folders, those
    of the processes they start) in a folder of /dev/shm when it has room: SQLite's fsync per
    commit dominates many a tracking test on a disk. Not when TMPDIR is set (a user's choice,
    or the parent of an xdist worker's); removed at the end of the session."""
    if "TMPDIR" in os.environ:
        return None
    try:
        if shutil.disk_usage("/dev/shm").free < min_free:
            return None
        root = Path(tempfile.mkdtemp(prefix="aes-", dir="/dev/shm"))
        root.chmod(0o1777)  # like /tmp: the PostgreSQL test's server runs as another account
    except OSError:
        return None
    os.environ["TMPDIR"] = str(root)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
    return root


TEMP_ROOT = _temp_on_a_ram_disk()


def _migrate_sqlite_stores_once() -> None:
    """MLflow's migrations run once per test process, not for every new SQLite store (3.4 s of
    CPU each, the largest cost of many a tracking test): a store this process creates starts
    as a copy of a store that MLflow's own ``_initialize_tables`` built (SQLite's backup API),
    then MLflow goes on as it always does (its schema check, its default experiment). The
    processes the tests start (CLIs, servers, Ray workers) run the migrations themselves."""
    import sqlite3

    import mlflow.store.db.utils as db_utils
    import sqlalchemy

    initialise = db_utils._initialize_tables
    template: list[str] = []

    def from_template(engine: Any) -> None:
        url = engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            initialise(engine)
            return
        if not template:
            folder = tempfile.mkdtemp(prefix="mlflow-template-")
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            path = os.path.join(folder, "mlflow.db")
            built = sqlalchemy.create_engine(f"sqlite:///{path}")
            initialise(built)
            built.dispose()
            template.append(path)
        source, target = sqlite3.connect(template[0]), sqlite3.connect(url.database)
        with contextlib.closing(source), contextlib.closing(target):
            source.backup(target)

    db_utils._initialize_tables = from_template


_migrate_sqlite_stores_once()


def pytest_unconfigure(config: pytest.Config) -> None:
    if TEMP_ROOT is not None:
        shutil.rmtree(TEMP_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """Ray, started once for the whole session: 2 CPUs, no dashboard."""
    import ray

    if not ray.is_initialized():
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            logging_level="ERROR",
            log_to_driver=False,
        )
    yield
    ray.shutdown()


@pytest.fixture
def float64() -> Iterator[None]:
    """torch's default dtype float64 for the test (numbers compared against a reference)."""
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.fixture
def mlflow_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def free_port() -> int:
    """A TCP port nothing listens on at the moment, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
        return r.status == 200
    return False


@contextlib.contextmanager
def serve_mlflow(backend_store_uri: str, folder: Path, timeout: float = 120) -> Iterator[str]:
    """A real ``mlflow server`` on 127.0.0.1 for ``backend_store_uri``, artifacts and its log
    in ``folder``; yields its ``http://`` URL once ``/health`` answers and stops it (its whole
    process group) afterwards. A server that exits or never answers fails with its log's tail."""
    from aesweep.tracking.server import ui_env

    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
        "--port", str(port), "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", str(folder / "artifacts"), "--workers", "1",
    ]  # fmt: skip
    log = folder / "mlflow-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, start_new_session=True, stdout=out, stderr=out, env=ui_env())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _answers(f"{url}/health"):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                raise AssertionError(f"mlflow server on {backend_store_uri} did not start:\n{tail}")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """A real MLflow tracking server over a SQLite store in ``tmp_path``: its URL."""
    with serve_mlflow(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "server") as url:
        yield url


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a spec dict (or YAML text) to a file in tmp_path and return its path."""

    def write(content: dict | str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
        return path

    return write


def model_trial_ids(folder: Path, model: str) -> list[str]:
    """The trial ids ``aesweep`` plans for a one-epoch digits spec of the one model written as
    a YAML mapping (``"{family: cwae, latent_dim: 8}"``): for checks that a model field joins
    the ids only away from its default."""
    from aesweep.sweeps.load import load_plan

    path = folder / f"ids-{hashlib.sha256(model.encode()).hexdigest()[:12]}.yaml"
    path.write_text(f"name: x\ndata: {{dataset: digits}}\nmodels: [{model}]\nepochs: 1\n")
    return [t.trial_id for t in load_plan(path)[1]]


def tiny_spec(mlflow_uri: str, storage: Path, **overrides: object) -> dict:
    """A 2-trial digits sweep for 1 epoch: the smallest real sweep."""
    spec = {
        "name": "tiny",
        "data": {"dataset": "digits", "train_size": 256, "test_size": 128},
        "models": [{"family": "cwae", "latent_dim": 8, "lambda": 1.0}],
        "strategies": [{"kind": "minibatch", "batch_size": 32}],
        "optimizer": {"name": "adam", "lr": [0.001, 0.0005]},
        "epochs": 1,
        "evaluation": {"every": 1, "latent_samples": 128},
        "tracking": {"uri": mlflow_uri, "experiment": "tiny", "storage": str(storage)},
    }
    spec.update(overrides)
    return spec


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.3) -> None:
    """Poll ``predicate`` until it holds; after ``timeout`` seconds fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def at_epoch(
    store: Any,
    epoch: int,
    act: Callable[[Any], dict[str, Any] | None],
    timeout: float = 180,
    poll: float = 0.2,
) -> Iterator[dict[str, Any]]:
    """While the block runs, a thread polls ``store`` (a ``SweepStore``) and does ``act`` once
    to the first trial record RUNNING at ``epoch`` or later (its worker tagged). Yields what
    it did: ``record``, ``epoch`` (the epoch logged then) and what ``act`` returned; empty if
    it never came to it (the thread is joined when the block ends)."""
    done: dict[str, Any] = {}

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                records = store.trial_records()
            except Exception:  # a read the sweep's writes turned away (SQLite busy): poll again
                time.sleep(poll)
                continue
            for rec in records:
                reached = int(rec.metrics.get("epoch", 0))
                if (
                    rec.status == "RUNNING"
                    and reached >= epoch
                    and "aesweep.worker_pid" in rec.tags
                ):
                    done.update(act(rec) or {})
                    done["record"], done["epoch"] = rec, reached
                    return
            time.sleep(poll)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        thread.join(5)


def _kill_worker(rec: Any) -> dict[str, Any]:
    pid = int(rec.tags["aesweep.worker_pid"])
    os.kill(pid, signal.SIGKILL)
    return {"pid": pid}


def kill_worker_at_epoch(
    store: Any, epoch: int, **kw: Any
) -> contextlib.AbstractContextManager[dict[str, Any]]:
    """:func:`at_epoch` that SIGKILLs the Ray worker process (the ``aesweep.worker_pid`` tag)
    of the first trial RUNNING at ``epoch``; what it yields also holds that ``pid``."""
    return at_epoch(store, epoch, _kill_worker, **kw)


# Markers, applied by what a test uses so that they stay consistent (``make test-fast`` skips
# ray, slow, fid and kill tests; ``make test`` runs everything):
RAY_FIXTURES = {"ray_session"}
FID_FIXTURES = {"fid_extractor", "fid_reference", "sample_sets", "sample_fids"}

# ``make test`` runs the suite in parallel processes (pytest-xdist, ``--dist loadgroup``): the
# tests that share an expensive session fixture run in one process, so it is built once.
SHARED_SESSION_GROUPS = {name: "fid" for name in FID_FIXTURES} | {
    "evaluated_sweep": "evaluated-sweep"
}
# The longest tests start first, so that none of them is left running alone at the end.
FIRST = ("kill", "slow", "ray")


def xdist_group(item: pytest.Item) -> str | None:
    """The process group of a test: its module's when it uses a module-scoped fixture (built
    once per module), a shared session fixture's group, else none (any process)."""
    used = set(getattr(item, "fixturenames", ()))
    groups = sorted({SHARED_SESSION_GROUPS[name] for name in used & SHARED_SESSION_GROUPS.keys()})
    if groups:
        return "+".join(groups)
    infos = getattr(item, "_fixtureinfo", None)
    defs = infos.name2fixturedefs if infos is not None else {}
    if any(d and d[-1].scope in ("module", "class", "package") for d in defs.values()):
        return item.nodeid.split("::")[0]
    return None


def _priority(item: pytest.Item) -> int:
    return next((i for i, m in enumerate(FIRST) if item.get_closest_marker(m)), len(FIRST))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & RAY_FIXTURES:
            item.add_marker(pytest.mark.ray)
        if used & FID_FIXTURES:
            item.add_marker(pytest.mark.fid)
        group = xdist_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    # Whole modules move, each keeping its order (module fixtures are built once).
    module_priority: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        module_priority[module] = min(module_priority.get(module, len(FIRST)), _priority(item))
    items.sort(key=lambda item: module_priority[item.nodeid.split("::")[0]])
