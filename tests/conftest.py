"""Shared fixtures: one Ray instance per test session, temporary MLflow stores, spec files."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


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
def mlflow_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a spec dict (or YAML text) to a file in tmp_path and return its path."""

    def write(content: dict | str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
        return path

    return write


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


# Markers, applied by what a test uses so that they stay consistent (``make test-fast`` skips
# ray, slow, fid and kill tests; ``make test`` runs everything):
RAY_FIXTURES = {"ray_session"}
FID_FIXTURES = {"fid_extractor", "fid_reference", "sample_sets", "sample_fids"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & RAY_FIXTURES:
            item.add_marker(pytest.mark.ray)
        if used & FID_FIXTURES:
            item.add_marker(pytest.mark.fid)
