"""Problems with the cluster side of `aesweep run` are bad input like any other: one line on
stderr, exit code 2, and nothing created (no MLflow store, no parent run, no storage folder):
an unreachable or malformed ``--address``, a Ray storage or MLflow file store that cannot be
created, a trial that no node of the Ray cluster could ever hold (it would stay PENDING
forever), and the ``ray[client]`` extra that ``ray://`` addresses need."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
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


# --- on a cluster, the tracking store and the storage are the same files on every node ------


def _tracking(uri: str, storage: str) -> SweepSpec:
    return SweepSpec.model_validate(
        {
            "name": "t",
            "models": [{"family": "cwae"}],
            "tracking": {"uri": uri, "storage": storage},
        }
    )


def test_only_locations_on_this_disk_are_checked_on_the_nodes(tmp_path, monkeypatch) -> None:
    from aesweep.sweeps.shared_paths import local_paths

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    found = local_paths(_tracking("sqlite:///mlflow.db", "runs/new/deeper"))
    assert [(p.field, p.path, p.folder) for p in found] == [
        ("tracking.uri", str(tmp_path / "mlflow.db"), str(tmp_path)),
        ("tracking.storage", str(tmp_path / "runs/new/deeper"), str(tmp_path / "runs")),
    ]
    (store,) = local_paths(_tracking(f"file://{tmp_path}/mlruns", "s3://bucket/runs"))
    assert (store.field, store.folder) == ("tracking.uri", str(tmp_path))
    assert local_paths(_tracking("https://mlflow.example:5000", "gs://bucket/runs")) == []


def test_a_node_sees_the_marker_only_in_the_folder_the_driver_wrote_it(tmp_path) -> None:
    """The check a node runs, here in this process: the driver's own folder passes; a folder
    of the same name elsewhere (another disk, as a node without the shared mount has) does not,
    and the markers are gone afterwards."""
    from aesweep.sweeps.shared_paths import LocalPath, node_sees, probe_markers

    shared, elsewhere = tmp_path / "shared", tmp_path / "elsewhere"
    shared.mkdir()
    elsewhere.mkdir()
    paths = [LocalPath("tracking.uri", str(shared / "mlflow.db"), str(shared))]
    with probe_markers(paths) as probes:
        assert node_sees(probes) == []
        (probe,) = probes
        moved = str(elsewhere / Path(probe.marker).name)
        Path(moved).write_text("another machine's file\n")
        other = [type(probe)(probe.field, str(elsewhere), moved, probe.token)]
        assert node_sees(other) == [("tracking.uri", f"its {elsewhere} is not this machine's")]
    assert list(shared.iterdir()) == []


def _unshare_works(folder: Path) -> bool:
    cmd = ["unshare", "--mount", "sh", "-c", 'mount -t tmpfs aesweep-probe "$0"', str(folder)]
    if os.geteuid() != 0:
        cmd[1:1] = ["--map-root-user"]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_node_that_does_not_see_the_sqlite_store_or_the_storage_is_refused(
    write_spec, tmp_path
) -> None:
    """A real two-node Ray cluster on this machine where the second node does not share the
    folder holding the SQLite store and the storage: it runs in a mount namespace of its own
    (``unshare --mount``) with an empty tmpfs mounted over that folder, so at the same path it
    sees a different, empty folder, as a worker on another machine sees its own disk. `run
    --address` is refused in one line per field, naming that node, and nothing is created.
    (Before this check, the trials there opened an empty database of their own.)"""
    from tests.reliability.test_cluster import alive_nodes, free_port, ray_nodes, wait_port

    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("unshare") is None or not _unshare_works(disk):
        pytest.skip("needs unshare --mount (a mount namespace) to give a node a disk of its own")
    own_disk = ["unshare", "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    own_disk += ["sh", "-c", 'mount -t tmpfs aesweep-node-disk "$0" && exec "$@"', str(disk)]
    port = free_port()
    temp = tempfile.mkdtemp(prefix="aesweep-ray-", dir="/tmp")  # short: Ray's socket paths
    head = ["--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", temp]
    second = ["--address", f"127.0.0.1:{port}", "--resources", '{"own_disk": 1}']
    path = write_spec(tiny_spec(f"sqlite:///{disk / 'mlflow.db'}", disk / "ray"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [str(BIN / "aesweep"), "run", str(path), "--address", f"127.0.0.1:{port}"]
    try:
        with ray_nodes(head, second, prefixes={1: own_disk}):
            wait_port(port, 90)
            nodes = alive_nodes(f"127.0.0.1:{port}", want=2, timeout=240)
            assert len(nodes) == 2, nodes
            (other,) = [nid for nid, res in nodes.items() if "own_disk" in res]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    ours = [ln for ln in done.stderr.splitlines() if ln.startswith(f"{path}: ")]
    assert len(ours) == 2, done.stderr[-3000:]
    uri, storage = ours
    assert uri.startswith(f"{path}: tracking.uri: {disk / 'mlflow.db'} is on this machine's disk")
    assert storage.startswith(f"{path}: tracking.storage: {disk / 'ray'} is on this machine's")
    (head_id,) = set(nodes) - {other}
    for line in ours:
        assert f"({other[:8]}): its {disk} is not this machine's" in line
        assert head_id[:8] not in line  # the head shares the folder: not named
    assert "use an MLflow tracking server (tracking.uri: http://HOST:5000)" in uri
    assert list(disk.iterdir()) == []  # no database, no storage folder, no marker left
