"""The compose file (accepted by docker compose where it exists; ports on 127.0.0.1 only), and
the security rules: specs name only registered components (checkpoints load weights only:
tests/trainables/test_trainables_checkpoints.py)."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from aesweep.data.cifar10 import read_batch
from aesweep.data.config import CIFAR10Config
from aesweep.data.loading import load_dataset
from aesweep.data.safe_pickle import UnsafePickleError
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
    assert "postgresql://" in services["mlflow"]["command"]
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
