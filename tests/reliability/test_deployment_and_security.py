"""The compose file (accepted by docker compose where it exists; ports on 127.0.0.1 only), and
the security rules: specs name only registered components (checkpoints load weights only:
tests/trainables/test_trainables_checkpoints.py)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from aesweep.sweeps.cli import main
from tests.conftest import REPO

COMPOSE = REPO / "docker" / "compose.yaml"


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_config_is_accepted() -> None:
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("neither 'docker compose' nor 'docker-compose' is installed here")
    done = subprocess.run([*cmd, "-f", str(COMPOSE), "config"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_compose_publishes_only_loopback_ports_and_has_the_services() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"postgres", "mlflow", "ray-head", "ray-worker"} <= set(services)
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert sorted(published) == [
        "127.0.0.1:10001:10001",
        "127.0.0.1:5000:5000",
        "127.0.0.1:8265:8265",
    ]
    # The driver named: SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3 (not installed)
    assert "postgresql+psycopg2://" in services["mlflow"]["command"]
    gpus = services["ray-worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpus["capabilities"] == ["gpu"]
    readme = (REPO / "README.md").read_text()
    for port in ("5000", "8265", "10001"):
        assert f"127.0.0.1:{port}" in readme or f"127.0.0.1`:{port}" in readme


def test_a_spec_cannot_name_arbitrary_code(write_spec, capsys) -> None:
    path = write_spec(
        {
            "name": "x",
            "models": [{"family": "os:system"}],
            "data": {"dataset": "!!python/object:os.system"},
        }
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown family 'os:system'" in err
    tagged = write_spec(
        "name: x\nmodels: !!python/object/apply:os.system ['true']\n", name="t.yaml"
    )
    assert main(["validate", str(tagged)]) == 2  # yaml.safe_load refuses python tags
    assert "YAML" in capsys.readouterr().err
