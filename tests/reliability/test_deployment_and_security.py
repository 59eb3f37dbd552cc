"""The deployment and the security rules. The compose cluster: ports on 127.0.0.1 only, every
secret a file with no default, MLflow's basic auth and Ray's token auth on (parsed, checked by
docker compose where it exists, and its MLflow command and a token-auth Ray head run for real
here); CIFAR-10's pickles read as plain data; specs name only registered components
(checkpoints load weights only: tests/trainables/test_trainables_checkpoints.py)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pickle
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from aesweep.data.cifar10 import read_batch
from aesweep.data.config import CIFAR10Config
from aesweep.data.loading import load_dataset
from aesweep.data.safe_pickle import UnsafePickleError
from aesweep.sweeps.cli import main
from aesweep.tracking.server import descendants
from aesweep.tracking.store import SweepStore
from tests.conftest import REPO, tiny_spec, wait_for

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


def test_compose_config_is_accepted(tmp_path) -> None:
    """``docker compose config`` accepts the file with the secrets' folder and the storage
    set, and refuses it, naming the variable, without them (needs docker's compose plugin)."""
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("neither 'docker compose' nor 'docker-compose' is installed here")
    sh = subprocess.run(["sh", str(REPO / "docker" / "make-secrets.sh"), str(tmp_path / "s")])
    assert sh.returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("AESWEEP_")}
    config = [*cmd, "-p", "aesweep", "-f", str(COMPOSE), "config", "--quiet"]
    refused = subprocess.run(config, capture_output=True, text=True, env=env)
    assert refused.returncode != 0 and "AESWEEP_" in refused.stderr
    env |= {"AESWEEP_SECRETS": str(tmp_path / "s"), "AESWEEP_STORAGE": str(tmp_path / "runs")}
    done = subprocess.run(config, capture_output=True, text=True, env=env)
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


# --- CIFAR-10's pickles are read as plain data only -------------------------------------------


def _cifar_batch(rows: int, seed: int = 0) -> dict:
    """A batch in CIFAR-10's python format: uint8 rows of 3072, labels, names."""
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"training batch 1 of 5",
        b"labels": rng.integers(0, 10, rows).tolist(),
        b"data": rng.integers(0, 256, (rows, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(rows)],
    }


@pytest.mark.parametrize("protocol", [2, 4, 5, "python2-names"])
def test_cifar10_batches_load_as_plain_data(tmp_path: Path, protocol: int | str) -> None:
    """The real files (Python 2's cPickle, protocol 2, numpy.core names) and what Python 3
    writes at any protocol load, pixel for pixel."""
    batch = _cifar_batch(5)
    if protocol == "python2-names":
        # numpy 2 writes numpy._core.multiarray; the real files name numpy.core.multiarray
        text = pickle.dumps(batch, protocol=2)
        assert b"cnumpy._core.multiarray\n_reconstruct\n" in text
        text = text.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    else:
        text = pickle.dumps(batch, protocol=protocol)
    path = tmp_path / "data_batch_1"
    path.write_bytes(text)
    images = read_batch(path)
    assert images.shape == (5, 3, 32, 32) and images.dtype == torch.uint8
    assert np.array_equal(images.reshape(5, -1).numpy(), batch[b"data"])


class _RunsCode:
    """Unpickling this calls ``func(*args)``: what a planted file would do."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("how", ["os.system", "builtins.eval", "inside the data"])
def test_a_cifar10_file_that_runs_code_is_refused(tmp_path: Path, how: str) -> None:
    """A batch whose unpickling would run a command or eval is refused with one line naming
    what it asked for, and the command never runs (its marker file is never created)."""
    marker = tmp_path / "pwned"
    if how == "os.system":
        payload: object = _RunsCode(os.system, f"touch {marker}")
        named = f"{os.system.__module__}.system"
    elif how == "builtins.eval":
        payload = _RunsCode(eval, f"open({str(marker)!r}, 'w')")
        named = "builtin__.eval"  # protocol 2 writes Python 2's module name
    else:
        payload = {**_cifar_batch(2), b"labels": _RunsCode(Path.touch, marker)}
        named = "getattr"  # Path.touch pickles as getattr(PosixPath, "touch")
    root = tmp_path / "data"
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(UnsafePickleError) as refused:
        load_dataset(CIFAR10Config(root=str(root)))
    message = str(refused.value)
    assert "\n" not in message and "refusing to unpickle" in message and named in message
    assert str(folder / "data_batch_1") in message
    assert not marker.exists()


def test_a_pickle_that_is_not_a_cifar10_batch_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.float32)}))
    with pytest.raises(ValueError, match="not a CIFAR-10 batch") as wrong:
        read_batch(path)
    assert "\n" not in str(wrong.value)


# --- the compose cluster: secrets in files, authentication on --------------------------------

ENTRYPOINT = REPO / "docker" / "entrypoint.sh"
MAKE_SECRETS = REPO / "docker" / "make-secrets.sh"
SECRET_NAMES = ("postgres_password", "mlflow_admin_password", "mlflow_flask_secret", "ray_token")
_VARIABLE = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}`` (ValueError naming
    every required variable that is unset, as compose refuses to start)."""
    missing: list[str] = []

    def value(m: re.Match[str]) -> str:
        name, op, arg = m.groups()
        if env.get(name):
            return env[name]
        if op == "?":
            missing.append(f"{name}: {arg}")
        return arg if op == "-" else ""

    text = _VARIABLE.sub(value, text)
    if missing:
        raise ValueError("; ".join(sorted(set(missing))))
    return text


def compose_with(secrets: Path, storage: Path) -> dict:
    env = {"AESWEEP_SECRETS": str(secrets), "AESWEEP_STORAGE": str(storage)}
    return yaml.safe_load(interpolate(COMPOSE.read_text(), env))


def test_compose_refuses_to_start_without_secrets_or_storage() -> None:
    """No default password anywhere: without AESWEEP_SECRETS (the secrets' folder) and
    AESWEEP_STORAGE, interpolation fails as ``docker compose`` does; only the admin's user
    name has a default."""
    text = COMPOSE.read_text()
    with pytest.raises(ValueError) as refused:
        interpolate(text, {})
    assert "AESWEEP_SECRETS: set AESWEEP_SECRETS" in str(refused.value)
    assert "AESWEEP_STORAGE: set AESWEEP_STORAGE" in str(refused.value)
    defaults = {m.group(1) for m in _VARIABLE.finditer(text) if m.group(2) == "-"}
    assert defaults == {"MLFLOW_ADMIN_USER"}
    assert "MLFLOW_DB_PASSWORD" not in text


def test_compose_keeps_every_secret_in_a_file_and_turns_authentication_on(tmp_path) -> None:
    compose = compose_with(tmp_path / "secrets", tmp_path / "storage")
    services = compose["services"]
    # every secret is a file of the secrets folder, mounted under /run/secrets
    assert {name: s["file"] for name, s in compose["secrets"].items()} == {
        name: f"{tmp_path / 'secrets'}/{name}" for name in SECRET_NAMES
    }
    for name, service in services.items():
        env = service.get("environment", {})
        # a password's value never sits in the environment or on the command line
        for key, val in env.items():
            if any(w in key for w in ("PASSWORD", "SECRET", "TOKEN")):
                assert key.endswith(("_FILE", "_PATH")), (name, key)
                assert val.startswith("/run/secrets/"), (name, key)
                assert val.removeprefix("/run/secrets/") in service["secrets"], (name, key)
        assert "password" not in str(service.get("command", "")).lower()
    mlflow = services["mlflow"]
    args = shlex.split(mlflow["command"])
    assert args[:4] == ["mlflow", "server", "--app-name", "basic-auth"]
    store = args[args.index("--backend-store-uri") + 1]
    assert store == "postgresql+psycopg2://mlflow@postgres:5432/mlflow"  # no password
    assert mlflow["environment"]["MLFLOW_AUTH_CONFIG_PATH"] == "/etc/aesweep/basic_auth.ini"
    assert {"PGPASSWORD_FILE", "MLFLOW_AUTH_ADMIN_PASSWORD_FILE"} <= set(mlflow["environment"])
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"].startswith("/run/")
    assert "POSTGRES_PASSWORD" not in services["postgres"]["environment"]
    # PostgreSQL on an internal network shared with the MLflow server only
    assert compose["networks"]["db"]["internal"] is True
    assert [n for n, s in services.items() if "db" in s["networks"]] == ["postgres", "mlflow"]
    for name in ("ray-head", "ray-worker"):
        node = services[name]
        assert node["environment"]["RAY_AUTH_MODE"] == "token"
        assert node["environment"]["RAY_AUTH_TOKEN_PATH"] == "/run/secrets/ray_token"
        assert node["environment"]["AESWEEP_NODE_TRACKING_URI"] == "http://mlflow:5000"
        assert node["environment"]["MLFLOW_TRACKING_PASSWORD_FILE"].startswith("/run/secrets/")
        # Ray's storage at the same path on the host and in every container
        assert node["volumes"] == [f"{tmp_path / 'storage'}:{tmp_path / 'storage'}"]
    # the files the image and the database need are in the repository and the image
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    for name in ("entrypoint.sh", "basic_auth.ini"):
        assert (REPO / "docker" / name).is_file() and f"docker/{name}" in dockerfile
    assert "mlflow[auth]" in dockerfile
    init = services["postgres"]["volumes"][1].split(":")[0]
    assert "CREATE DATABASE mlflow_auth" in (COMPOSE.parent / init).read_text()
    ini = (REPO / "docker" / "basic_auth.ini").read_text()
    assert "postgresql+psycopg2://mlflow@postgres:5432/mlflow_auth" in ini
    assert "password =" not in ini


def test_make_secrets_writes_private_random_files_once(tmp_path) -> None:
    folder = tmp_path / "secrets"
    subprocess.run(["sh", str(MAKE_SECRETS), str(folder)], check=True, capture_output=True)
    values = {name: (folder / name).read_text() for name in SECRET_NAMES}
    assert len(set(values.values())) == 4 and all(len(v) >= 32 for v in values.values())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE((folder / n).stat().st_mode) == 0o600 for n in SECRET_NAMES)
    subprocess.run(["sh", str(MAKE_SECRETS), str(folder)], check=True, capture_output=True)
    assert values == {name: (folder / name).read_text() for name in SECRET_NAMES}


def test_entrypoint_reads_secrets_from_files(tmp_path) -> None:
    """NAME_FILE becomes NAME for the command only; a missing file stops the container with
    one line and the command never runs."""
    secret = tmp_path / "pw"
    secret.write_text("s3cret value with spaces\n")
    show = [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"]
    env = {"PATH": os.environ["PATH"], "MLFLOW_TRACKING_PASSWORD_FILE": str(secret)}
    done = subprocess.run(["sh", str(ENTRYPOINT), *show], env=env, capture_output=True, text=True)
    seen = json.loads(done.stdout)
    assert seen["MLFLOW_TRACKING_PASSWORD"] == "s3cret value with spaces"
    assert "MLFLOW_TRACKING_PASSWORD_FILE" not in seen
    marker = tmp_path / "ran"
    env = {"PATH": os.environ["PATH"], "PGPASSWORD_FILE": str(tmp_path / "absent")}
    done = subprocess.run(
        ["sh", str(ENTRYPOINT), "touch", str(marker)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2 and not marker.exists()
    assert done.stderr.strip().splitlines() == [
        f"aesweep-entrypoint: PGPASSWORD_FILE: {tmp_path / 'absent'} is missing, unreadable or "
        "empty"
    ]


# --- the compose MLflow server's command, run here: basic auth from the environment -----------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class AuthServer:
    uri: str
    user: str
    password: str
    pid: int


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory) -> Iterator[AuthServer]:
    """The compose file's MLflow command (``--app-name basic-auth``) through docker's
    entrypoint script, its secrets written by make-secrets.sh and read from files; only what
    needs docker is swapped: SQLite stores in place of PostgreSQL, a free local port."""
    if importlib.util.find_spec("flask_wtf") is None:
        pytest.skip("MLflow's basic-auth app needs Flask-WTF: pip install 'mlflow[auth]'")
    tmp = tmp_path_factory.mktemp("auth")
    secrets = tmp / "secrets"
    subprocess.run(["sh", str(MAKE_SECRETS), str(secrets)], check=True, capture_output=True)
    service = compose_with(secrets, tmp / "storage")["services"]["mlflow"]
    port = _free_port()
    local = {
        "--host": "127.0.0.1",
        "--port": str(port),
        "--backend-store-uri": f"sqlite:///{tmp / 'mlflow.db'}",
        "--artifacts-destination": str(tmp / "artifacts"),
        "--allowed-hosts": f"127.0.0.1:{port}",
    }
    args = shlex.split(service["command"])
    for i, arg in enumerate(args[:-1]):
        args[i + 1] = local.get(arg, args[i + 1])
    ini = (REPO / "docker" / "basic_auth.ini").read_text()
    ini = re.sub(r"(?m)^database_uri = .*$", f"database_uri = sqlite:///{tmp / 'auth.db'}", ini)
    (tmp / "basic_auth.ini").write_text(ini)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    for key, val in service["environment"].items():  # /run/secrets/NAME: the folder's NAME
        env[key] = (
            str(secrets / val.removeprefix("/run/secrets/")) if key.endswith("_FILE") else val
        )
    env["MLFLOW_AUTH_CONFIG_PATH"] = str(tmp / "basic_auth.ini")
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no job runner processes in a test
    cmd = ["sh", str(ENTRYPOINT), str(Path(sys.executable).parent / "mlflow"), *args[1:]]
    proc = subprocess.Popen(
        [*cmd, "--workers", "1"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "server.log").open("w"),
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{uri}/health"), 240, "the basic-auth MLflow server")
        password = (secrets / "mlflow_admin_password").read_text()
        yield AuthServer(
            uri, service["environment"]["MLFLOW_AUTH_ADMIN_USERNAME"], password, proc.pid
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _no_credentials(monkeypatch, tmp_path: Path) -> None:
    for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.mlflow/credentials either


def _experiment(server: AuthServer, monkeypatch, name: str) -> object:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", server.user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", server.password)
    return MlflowClient(tracking_uri=server.uri).get_experiment_by_name(name)


@pytest.mark.slow
def test_preflight_refuses_a_basic_auth_server_without_good_credentials(
    auth_server, write_spec, tmp_path, monkeypatch, capsys
) -> None:
    """Without credentials, and with a wrong password, ``run`` stops at preflight with one
    line that says the server is up and what to set; nothing is created."""
    _no_credentials(monkeypatch, tmp_path)
    spec = tiny_spec(auth_server.uri, tmp_path / "ray")
    spec["tracking"]["experiment"] = "refused"
    path = write_spec(spec)
    assert main(["run", str(path), "--inline"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"{path}: tracking.uri: MLflow server {auth_server.uri} requires a login: set "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (401)"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", auth_server.user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-password")
    assert main(["run", str(path), "--inline"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"{path}: tracking.uri: MLflow server {auth_server.uri} refused the credentials in "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (401)"
    )
    assert not (tmp_path / "ray").exists()
    assert _experiment(auth_server, monkeypatch, "refused") is None


@pytest.mark.slow
def test_a_sweep_logs_through_basic_auth_with_credentials_from_the_environment(
    auth_server, write_spec, tmp_path, monkeypatch
) -> None:
    """The admin's user and password from the environment (the compose Ray nodes' way): the
    sweep's runs land on the server; no secret was on any command line of the server."""
    _no_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", auth_server.user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", auth_server.password)
    spec = tiny_spec(auth_server.uri, tmp_path / "ray")
    spec["tracking"]["system_metrics"] = False  # fewer requests: each checks a password hash
    assert main(["run", str(write_spec(spec)), "--inline"]) == 0
    store = SweepStore(auth_server.uri, "tiny")
    runs = MlflowClient(tracking_uri=store.uri).search_runs(
        [store.experiment_id], "tags.`aesweep.kind` = 'trial'"
    )
    assert sorted(r.data.tags["aesweep.outcome"] for r in runs) == ["finished", "finished"]
    for pid in [auth_server.pid, *descendants(auth_server.pid)]:
        with contextlib.suppress(OSError):
            assert auth_server.password not in Path(f"/proc/{pid}/cmdline").read_text()


@pytest.mark.slow
def test_a_node_reaches_the_server_under_its_own_name(
    auth_server, write_spec, tmp_path, monkeypatch
) -> None:
    """AESWEEP_NODE_TRACKING_URI (set on the compose Ray nodes): a spec naming the server as
    the submitting machine sees it logs, on this node, to the server under the node's name."""
    _no_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", auth_server.user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", auth_server.password)
    monkeypatch.setenv("AESWEEP_NODE_TRACKING_URI", auth_server.uri)
    spec = tiny_spec("http://127.0.0.1:9", tmp_path / "ray")  # nothing listens there
    spec["tracking"]["experiment"] = "renamed"
    spec["optimizer"]["lr"] = 0.001
    spec["tracking"]["system_metrics"] = False
    assert main(["run", str(write_spec(spec)), "--inline"]) == 0
    monkeypatch.delenv("AESWEEP_NODE_TRACKING_URI")
    experiment = MlflowClient(tracking_uri=auth_server.uri).get_experiment_by_name("renamed")
    assert experiment is not None
    (run,) = MlflowClient(tracking_uri=auth_server.uri).search_runs(
        [experiment.experiment_id], "tags.`aesweep.kind` = 'trial'"
    )
    assert run.data.tags["aesweep.outcome"] == "finished"


# --- Ray's token authentication, as the compose Ray nodes run it -----------------------------


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_token_auth_cluster_takes_sweeps_only_with_its_token(
    write_spec, mlflow_uri, tmp_path, monkeypatch
) -> None:
    """A real head started as the compose Ray nodes are (RAY_AUTH_MODE=token, the token in a
    file named by RAY_AUTH_TOKEN_PATH) with its Ray client server. ``run --address ray://``
    without the token stops with one line naming what to set (Ray's client alone only times
    out) and nothing in MLflow; with the token set as the README's host flow does, it joins
    the cluster (a full sweep through ray:// is tests/reliability/test_cluster.py's)."""
    secrets = tmp_path / "secrets"
    subprocess.run(["sh", str(MAKE_SECRETS), str(secrets)], check=True, capture_output=True)
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(secrets / "ray_token"))
    gcs_port, client_port = _free_port(), _free_port()
    temp = tempfile.mkdtemp(prefix="aesweep-ray-", dir="/tmp")  # short: Ray's socket paths
    head = [
        str(Path(sys.executable).parent / "ray"), "start", "--block", "--head",
        "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats",
        "--port", str(gcs_port), "--ray-client-server-port", str(client_port),
        "--include-dashboard", "false", "--temp-dir", temp,
    ]  # fmt: skip
    spec = tiny_spec(mlflow_uri, tmp_path / "storage")
    spec["optimizer"]["lr"] = 0.001
    spec["tracking"]["system_metrics"] = False
    path = write_spec(spec)
    aesweep = [str(Path(sys.executable).parent / "aesweep"), "run", str(path)]
    address = ["--address", f"ray://127.0.0.1:{client_port}"]
    proc = subprocess.Popen(
        head, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: _listens(client_port), 120, "the Ray client server")
        no_token = {**os.environ, "RAY_AUTH_MODE": "disabled"}
        del no_token["RAY_AUTH_TOKEN_PATH"]
        done = subprocess.run(
            [*aesweep, *address], env=no_token, capture_output=True, text=True, timeout=400
        )
        assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
        ours = [ln for ln in done.stderr.splitlines() if "--address ray://" in ln]
        assert len(ours) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
        assert "refused this client's token" in ours[0] and "RAY_AUTH_MODE=token" in ours[0]
        # With the token it joins: the trial asks for more CPUs than the 1-CPU head has, a
        # refusal that only a connected client can give (and that costs no Tune run).
        too_big = [*aesweep, *address, "--set", "resources.cpus_per_trial=2"]
        done = subprocess.run(too_big, capture_output=True, text=True, timeout=400)
        assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
        assert "resources.cpus_per_trial: 2 per trial" in done.stderr, done.stderr[-2000:]
        assert "has 1 CPUs" in done.stderr, done.stderr[-2000:]
        assert "refused this client's token" not in done.stderr
        assert SweepStore(mlflow_uri, "tiny").experiment_id is None
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def _listens(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
