"""Problems with the cluster side of `aesweep run` are bad input like any other: one line on
stderr, exit code 2, and nothing created (no MLflow store, no parent run, no storage folder):
an unreachable or malformed ``--address``, a Ray storage or MLflow file store that cannot be
created, a trial that no node of the Ray cluster could ever hold (it would stay PENDING
forever), and the ``ray[client]`` extra that ``ray://`` addresses need."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from aesweep.sweeps.cli import main
from aesweep.sweeps.spec import SweepSpec
from tests.conftest import REPO, tiny_spec

BIN = Path(sys.executable).parent


def _nothing_created(tmp_path: Path) -> None:
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "mlartifacts").exists()
    assert not (tmp_path / "ray").exists()


@pytest.mark.parametrize("address", ["ray://127.0.0.1:1", "127.0.0.1:1"])
def test_unreachable_ray_address_is_one_line_and_creates_nothing(
    write_spec, mlflow_uri, tmp_path, address
) -> None:
    path = write_spec(tiny_spec(mlflow_uri, tmp_path / "ray"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [str(BIN / "aesweep"), "run", str(path), "--address", address]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stderr.strip().splitlines()
    assert (
        line == f"{path}: --address {address}: nothing answers at 127.0.0.1:1 (connection refused)"
    )
    _nothing_created(tmp_path)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--address", "http://127.0.0.1:8265"], "is not a Ray address"),
        (["--address", "ray://127.0.0.1:10001/x"], "is not a Ray address"),
        (["--address", "127.0.0.1"], "no valid port"),
        (["--address", "127.0.0.1:99999"], "no valid port"),
        (["--address", "ray://no-such-host.invalid:10001"], "unknown host no-such-host.invalid"),
        (["--inline", "--address", "auto"], "--inline runs without Ray"),
        (["--max-concurrent", "0"], "--max-concurrent: must be at least 1"),
    ],
)
def test_malformed_run_options_are_one_line(
    write_spec, mlflow_uri, tmp_path, capsys, argv, expected
) -> None:
    path = write_spec(tiny_spec(mlflow_uri, tmp_path / "ray"))
    assert main(["run", str(path), *argv]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert expected.replace("is not", "not") in line
    _nothing_created(tmp_path)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("storage", "/proc/aesweep/runs", "tracking.storage: /proc/aesweep/runs cannot be created"),
        ("storage", "{tmp}/a-file/runs", "tracking.storage: {tmp}/a-file is a file"),
        ("uri", "/proc/aesweep/mlruns", "tracking.uri: /proc/aesweep/mlruns cannot be created"),
        ("uri", "file:///proc/aesweep/mlruns", "tracking.uri: /proc/aesweep/mlruns cannot be"),
    ],
)
def test_storage_and_file_store_that_cannot_be_created(
    write_spec, mlflow_uri, tmp_path, capsys, field, value, expected
) -> None:
    (tmp_path / "a-file").write_text("in the way\n")
    spec = tiny_spec(mlflow_uri, tmp_path / "ray")
    spec["tracking"][field] = value.format(tmp=tmp_path)
    path = write_spec(spec)
    assert main(["run", str(path), "--inline"]) == 2  # before: failed inside the trial
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert expected.format(tmp=tmp_path) in line
    _nothing_created(tmp_path)
    assert not Path("/proc/aesweep").exists()


@pytest.mark.timeout(300)
def test_a_trial_larger_than_every_node_of_a_local_ray_is_refused(
    write_spec, mlflow_uri, tmp_path, capsys, ray_session
) -> None:
    """The session's Ray has 2 CPUs: a 3-CPU trial would wait PENDING forever."""
    spec = tiny_spec(mlflow_uri, tmp_path / "ray")
    spec["resources"] = {"cpus_per_trial": 3, "memory_per_trial": 1_000_000}
    path = write_spec(spec)
    assert main(["run", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2, lines
    assert "resources.cpus_per_trial: 3 per trial, but the largest node of " in lines[0]
    assert "has 2 CPUs: no trial could ever start" in lines[0]
    assert "resources.memory_per_trial: 1e+06 per trial" in lines[1] and "GiB" in lines[1]
    _nothing_created(tmp_path)


def _spec(**resources: object) -> SweepSpec:
    return SweepSpec.model_validate(
        {"name": "t", "models": [{"family": "cwae"}], "resources": resources}
    )


def test_node_resources_need_one_node_that_holds_the_whole_trial() -> None:
    from aesweep.sweeps.preflight import check_node_resources

    nodes = [{"CPU": 4.0, "memory": 8 * 2**30}, {"CPU": 1.0, "GPU": 1.0, "memory": 2 * 2**30}]
    where = "the Ray cluster at x"
    assert check_node_resources(_spec(cpus_per_trial=4), nodes, 0.0, where) == []
    assert check_node_resources(_spec(cpus_per_trial=1), nodes, 1.0, where) == []
    assert check_node_resources(_spec(memory_per_trial=8), nodes, 0.0, where) == []
    (both,) = check_node_resources(_spec(cpus_per_trial=2), nodes, 1.0, where)
    assert both == (
        "resources: no node of the Ray cluster at x has 2 CPUs, 1 GPUs at once: "
        "no trial could ever start"
    )
    (gpu,) = check_node_resources(_spec(), nodes, 2.0, where)
    assert gpu.startswith("resources.gpus_per_trial: 2 per trial, but the largest node of the")
    assert check_node_resources(_spec(), [], 0.0, where) == [
        "the Ray cluster at x has no alive node"
    ]


def test_memory_per_trial_is_a_resource_of_the_spec() -> None:
    assert _spec(memory_per_trial=1.5).resources.memory_per_trial == 1.5
    assert _spec().resources.memory_per_trial is None
    with pytest.raises(ValueError):
        _spec(memory_per_trial=0)


def test_the_ray_client_is_a_dependency_of_the_package_and_the_image() -> None:
    """`--address ray://HOST:10001` (README, compose file) needs ray[client] (grpc)."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (ray,) = [d for d in deps if d.startswith("ray[")]
    extras = ray.split("[", 1)[1].split("]", 1)[0].split(",")
    assert {"tune", "client"} <= {e.strip() for e in extras}
    assert importlib.util.find_spec("grpc") is not None, "ray[client] is not installed here"
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "pip install /src" in dockerfile  # the image installs the package's dependencies
