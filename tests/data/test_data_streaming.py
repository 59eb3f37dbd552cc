"""Streamed image datasets (CelebA-sized data through a DataLoader with workers).

A folder of real MNIST digits written as PNG files is read back exactly; training on it
streamed (2 worker processes) gives bit-identical parameters to training on the same files
held in memory, for the strategies that draw batches in order (minibatch, moving window) and
the one that draws rows by index twice (Run-Sort-ReRun); a sweep on streamed data runs through
Ray and MLflow; CelebA's layout, crop and resize are read as the papers describe. No real
CelebA is on this machine: its loader is run on synthetic JPEGs in the same layout.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient
from PIL import Image

from aesweep.catalog import MODELS, STRATEGIES
from aesweep.data.config import CelebAConfig, ImageFolderConfig, MNISTConfig
from aesweep.data.image_files import ImageFiles
from aesweep.data.loading import load_dataset
from aesweep.data.streaming import StreamingImages
from aesweep.fid.stats import split_images
from aesweep.models.loading import build_model
from aesweep.strategies.loading import build_strategy
from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan
from aesweep.tracking.store import SweepStore
from aesweep.trainables.step.members import SteppedMembers
from tests.conftest import SHARED_DATA, tiny_spec

N_IMAGES = 400


@pytest.fixture(scope="module")
def mnist_pngs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.Tensor]:
    """The first N_IMAGES MNIST training digits as 8-bit PNG files, and their pixels."""
    folder = tmp_path_factory.mktemp("mnist_png")
    images = load_dataset(MNISTConfig(root=str(SHARED_DATA), train_size=N_IMAGES)).train
    pixels = (images * 255).round().to(torch.uint8)
    for i, x in enumerate(pixels):
        sub = folder / str(i % 3)  # nested folders are searched too
        sub.mkdir(exist_ok=True)
        Image.fromarray(x[0].numpy()).save(sub / f"{i:04d}.png")
    return folder, pixels


def folder_cfg(folder: Path, **fields: object) -> ImageFolderConfig:
    return ImageFolderConfig(path=str(folder), channels=1, **fields)


def test_folder_is_read_exactly_and_split_without_overlap(mnist_pngs) -> None:
    folder, pixels = mnist_pngs
    data = load_dataset(folder_cfg(folder, test_fraction=0.25))
    assert isinstance(data.train, StreamingImages)
    assert (len(data.train), len(data.test)) == (300, 100)
    assert data.sample_shape == (1, 28, 28) and data.is_image
    train = data.train[:]  # every streamed row, through the workers
    assert train.dtype == torch.float32 and train.shape == (300, 1, 28, 28)
    # Each decoded image is one of the source digits, bit for bit, and no image is in both.
    source = {bytes(x.numpy()): i for i, x in enumerate(pixels)}
    ids = [source.get(bytes((x * 255).round().to(torch.uint8).numpy())) for x in train]
    test_ids = [source.get(bytes((x * 255).round().to(torch.uint8).numpy())) for x in data.test]
    assert None not in ids and None not in test_ids
    assert sorted(ids + test_ids) == list(range(N_IMAGES))
    # Random access returns the rows in the order asked, single rows included.
    ix = torch.tensor([5, 0, 299, 5])
    assert torch.equal(data.train[ix], train[ix])
    assert torch.equal(data.train[7], train[7])
    assert data.pixel_std == pytest.approx(float(train.std()), rel=1e-6)


def train_params(data, strategy: dict, epochs: int = 2) -> list[torch.Tensor]:
    if strategy["kind"] != "run_sort_rerun":  # the one step (a trial of a set strategy)
        members = SteppedMembers([_trial(data, strategy, epochs)], data, torch.device("cpu"))
        for epoch in range(1, epochs + 1):
            result = members.train_epoch(epoch, first=epoch == 1)
            assert math.isfinite(result.means[0]["train_loss"])
        return list(members.state["params"].values())
    torch.manual_seed(0)
    model = build_model(MODELS.get("swae")(latent_dim=4, width=0.25), data)
    cfg = STRATEGIES.get(strategy["kind"]).model_validate(strategy)
    strat = build_strategy(cfg, model, data.train, epochs=epochs)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for epoch in range(1, epochs + 1):
        sums = strat.train_epoch(model, optimizer, data.train, epoch)
        assert math.isfinite(sums.means()["train_loss"])
    return [p.detach().clone() for p in model.parameters()]


def _trial(data, strategy: dict, epochs: int, family: str = "swae", latent_dim: int = 4):
    """A digits trial config of ``strategy`` (its data config is not read: the loaded
    ``data`` is handed to the trainer)."""
    from aesweep.config.trial import TrialConfig

    return TrialConfig.model_validate(
        {
            "trial_id": "t",
            "sweep": "s",
            "data": {"dataset": "digits"},
            "model": {"family": family, "latent_dim": latent_dim, "width": 0.25},
            "strategy": strategy,
            "optimizer": {"name": "sgd", "lr": 0.05},
            "epochs": epochs,
            "seed": 0,
            "evaluation": {},
            "checkpoint": {},
        }
    )


@pytest.mark.parametrize(
    "strategy",
    [
        {"kind": "minibatch", "batch_size": 32},
        {"kind": "moving_window", "window": 32, "fresh": 4},
        {"kind": "run_sort_rerun", "effective_batch": 128, "chunk": 32},
    ],
    ids=lambda s: s["kind"],
)
def test_streamed_training_equals_in_memory_training(mnist_pngs, strategy) -> None:
    folder, _ = mnist_pngs
    streamed = load_dataset(folder_cfg(folder, workers=2, train_size=256))
    in_memory = load_dataset(folder_cfg(folder, in_memory=True, train_size=256))
    assert isinstance(streamed.train, StreamingImages)
    assert not isinstance(in_memory.train, StreamingImages)
    a, b = train_params(streamed, strategy), train_params(in_memory, strategy)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    initial = train_params(in_memory, strategy, epochs=0)
    assert not all(torch.equal(x, y) for x, y in zip(a, initial, strict=True))  # it trained


def test_reading_fields_do_not_change_trial_ids(mnist_pngs, write_spec) -> None:
    folder, _ = mnist_pngs
    data = {"dataset": "image_folder", "path": str(folder), "channels": 1}
    base = {
        "name": "s",
        "models": [{"family": "cwae", "latent_dim": 8}],
        "strategies": [{"kind": "minibatch", "batch_size": 8}],  # fits 10 training images
        "data": data,
    }
    _, plain = load_plan(write_spec(base))
    other = {**base, "data": {**base["data"], "workers": 0, "prefetch": 2, "in_memory": True}}
    _, reread = load_plan(write_spec(other))
    assert plain[0].trial_id == reread[0].trial_id
    _, smaller = load_plan(write_spec({**base, "data": {**base["data"], "train_size": 10}}))
    assert smaller[0].trial_id != plain[0].trial_id


def test_fid_splits_load_only_the_images_asked_for(mnist_pngs) -> None:
    folder, _ = mnist_pngs
    cfg = folder_cfg(folder, test_fraction=0.25)
    data = load_dataset(cfg)
    assert split_images(cfg, "train", 10).shape == (10, 1, 28, 28)
    both = split_images(cfg, "train+test", 310)
    assert torch.equal(both[:300], data.train[:]) and torch.equal(both[300:], data.test[:10])
    assert len(split_images(cfg, "test")) == 100


def test_sweep_on_streamed_data_runs_through_ray(mnist_pngs, write_spec, tmp_path, ray_session):
    folder, _ = mnist_pngs
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = tiny_spec(uri, tmp_path / "ray")
    spec["data"] = {"dataset": "image_folder", "path": str(folder), "channels": 1, "workers": 2}
    spec["optimizer"] = {"name": "adam", "lr": 0.001}
    assert main(["run", str(write_spec(spec))]) == 0
    store = SweepStore(uri, "tiny")
    runs = MlflowClient(tracking_uri=store.uri).search_runs(
        [store.experiment_id], "tags.`aesweep.kind` = 'trial'"
    )
    (run,) = runs
    assert run.data.tags["aesweep.outcome"] == "finished"
    assert run.data.params["data.dataset"] == "image_folder"
    assert math.isfinite(run.data.metrics["rec_error"]) and run.data.metrics["rec_error"] > 0


def write_jpeg(path: Path, rng: np.random.Generator, height: int = 218, width: int = 178) -> None:
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)


def test_celeba_layout_partitions_and_missing_files(tmp_path) -> None:
    cfg = CelebAConfig(root=str(tmp_path), workers=0)
    assert "CelebA not found" in (cfg.missing() or "")
    images = tmp_path / "celeba" / "img_align_celeba"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    partition = []
    for i in range(12):
        name = f"{i + 1:06d}.jpg"
        write_jpeg(images / name, rng)
        partition.append(f"{name} {[0, 0, 0, 0, 1, 2][i % 6]}")
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text("\n".join(partition) + "\n")
    assert cfg.missing() is None
    data = load_dataset(cfg)
    assert isinstance(data.train, StreamingImages) and data.sample_shape == (3, 64, 64)
    assert (len(data.train), len(data.test)) == (8, 2)  # partition 0 train, 2 test; 1 unused
    assert data.train.files.files[0].name == "000001.jpg"
    assert data.test.shape == (2, 3, 64, 64)
    assert float(data.test.min()) >= 0 and float(data.test.max()) <= 1


def test_centre_crop_takes_the_middle_and_resize_keeps_the_mean(tmp_path) -> None:
    # Pixel values encode their own row and column, so the crop's window can be read off.
    rows, cols = np.meshgrid(np.arange(218), np.arange(178), indexing="ij")
    image = np.stack([rows % 256, cols % 256, np.full_like(rows, 7)], axis=-1).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "grid.png")
    cropped = ImageFiles([tmp_path / "grid.png"], channels=3, crop=140)[0]
    top, left = (218 - 140) // 2, (178 - 140) // 2  # centred; 39 rows and 19 columns cut
    assert cropped.shape == (3, 140, 140)
    assert torch.equal(cropped[0, :, 0], torch.arange(top, top + 140, dtype=torch.uint8))
    assert torch.equal(cropped[1, 0, :], torch.arange(left, left + 140, dtype=torch.uint8))
    resized = ImageFiles([tmp_path / "grid.png"], channels=3, crop=140, size=64)[0]
    assert resized.shape == (3, 64, 64)
    assert (resized[2] == 7).all()  # a constant channel stays constant
    mean = float(cropped[0].float().mean())
    assert float(resized[0].float().mean()) == pytest.approx(mean, abs=1)


def test_missing_folder_is_a_preflight_line(write_spec, tmp_path, capsys) -> None:
    spec = tiny_spec(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "ray")
    spec["data"] = {"dataset": "image_folder", "path": str(tmp_path / "nothing")}
    assert main(["run", str(write_spec(spec)), "--inline"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert any("data[0].path: no folder" in ln for ln in lines)
    assert not (tmp_path / "ray").exists()
    lonely = tmp_path / "one"
    lonely.mkdir()
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(lonely / "only.png")
    spec["data"]["path"] = str(lonely)
    assert main(["run", str(write_spec(spec)), "--inline"]) == 2
    assert "fewer than 2 PNG/JPEG images" in capsys.readouterr().err


def test_a_resumed_streamed_trial_continues_on_the_same_batches(mnist_pngs, tmp_path) -> None:
    """Two epochs straight against one epoch, a checkpoint, fresh objects, and the second
    epoch: the checkpoint's RNG state gives the second epoch the same streamed order."""
    folder, _ = mnist_pngs
    data = load_dataset(folder_cfg(folder, workers=2, train_size=256))
    strategy = {"kind": "moving_window", "window": 32, "fresh": 8}

    def fresh(seed: int) -> SteppedMembers:
        trial = _trial(data, strategy, 2, family="cwae", latent_dim=8)
        trial = trial.model_copy(update={"seed": seed})
        return SteppedMembers([trial], data, torch.device("cpu"))

    straight = fresh(0)
    straight.train_epoch(1, first=True)
    straight.train_epoch(2, first=False)
    first = fresh(0)
    first.train_epoch(1, first=True)
    first.save(tmp_path, 1)
    first.train_epoch(2, first=False)  # what a killed trial got through before dying: lost
    resumed = fresh(99)  # another seed: everything must come from the checkpoint
    assert resumed.load(tmp_path) == 1
    resumed.train_epoch(2, first=False)
    for name, p in straight.state["params"].items():
        assert torch.equal(p, resumed.state["params"][name])
