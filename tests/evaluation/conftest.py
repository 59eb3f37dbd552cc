"""One small real sweep shared by the evaluation tests: digits, 2 epochs, 2 lrs x 2 seeds, the
second lr (1e30 with plain SGD) diverging; run inline once per session into a SQLite MLflow."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from aesweep.sweeps.cli import main
from aesweep.tracking.store import SweepStore

GOOD_LR = 0.05
BAD_LR = 1e30

torch.set_num_threads(1)  # tiny networks: one thread is fastest on a shared CPU


@dataclass(frozen=True)
class Sweep:
    spec_path: Path
    uri: str
    experiment: str

    @property
    def store(self) -> SweepStore:
        return SweepStore(self.uri, self.experiment)


def sweep_spec(uri: str, storage: Path, name: str = "evaluation") -> dict:
    return {
        "name": name,
        "data": {"dataset": "digits", "train_size": 128, "test_size": 32},
        "models": [{"family": "cwae", "latent_dim": 8, "width": 0.25}],
        "strategies": [{"kind": "minibatch", "batch_size": 32}],
        "optimizer": {"name": "sgd", "lr": [GOOD_LR, BAD_LR]},
        "epochs": 2,
        "seeds": [0, 1],
        "evaluation": {"every": 1, "latent_samples": 32},
        "tracking": {"uri": uri, "experiment": name, "storage": str(storage)},
    }


@pytest.fixture(scope="session")
def evaluated_sweep(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    root = tmp_path_factory.mktemp("evaluation")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    path = root / "spec.yaml"
    path.write_text(yaml.safe_dump(sweep_spec(uri, root / "ray")))
    assert main(["run", str(path), "--inline"]) == 0
    return Sweep(path, uri, "evaluation")


def open_png(path: str | Path | bytes):  # type: ignore[no-untyped-def]
    """A PNG as a PIL image, after PIL has verified the file."""
    from PIL import Image

    data = path if isinstance(path, bytes) else Path(path).read_bytes()
    assert len(data) > 0
    Image.open(io.BytesIO(data)).verify()  # raises on a truncated or corrupt file
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image
