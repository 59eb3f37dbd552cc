"""Dataset configs, registered with their loaders (``module:function`` returning a
:class:`aesweep.data.base.TensorDataset`; images in [0, 1]). Torch-free."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from aesweep.config.data import DATASETS, DataConfig

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
"""The image files ``image_folder`` and ``aesweep fid`` folders read."""
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_BATCH = "test_batch"


@DATASETS.register("digits", implementation="aesweep.data.digits:load_digits")
class DigitsConfig(DataConfig):
    """scikit-learn's 8x8 digits (1,797 images, shipped with scikit-learn): the embedded default."""

    dataset: Literal["digits"] = "digits"
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.2, description="fraction of the 1,797 images held out as the test split"
    )
    images: ClassVar[bool] = True
    samples: ClassVar[str] = "8x8 grey images"
    size: ClassVar[int] = 1_797

    def full_train_size(self) -> int:
        return self.size - int(round(self.size * self.test_fraction))  # as load_digits splits


@DATASETS.register("mnist", implementation="aesweep.data.mnist:load_mnist")
class MNISTConfig(DataConfig):
    """MNIST through torchvision, read from ``root`` (``download: true`` fetches it)."""

    dataset: Literal["mnist"] = "mnist"
    root: Annotated[str, Field(min_length=1)] = Field(
        "~/.cache/aesweep/data", description="the folder holding torchvision's MNIST/raw"
    )
    download: bool = Field(False, description="fetch the dataset through torchvision if absent")
    folder: ClassVar[str] = "MNIST"
    """torchvision's class and folder name: ``root``/<folder>/raw/*-ubyte."""
    images: ClassVar[bool] = True
    samples: ClassVar[str] = "28x28 grey images"

    def full_train_size(self) -> int:
        return 60_000

    def missing(self) -> str | None:
        raw = Path(self.root).expanduser() / self.folder / "raw"
        names = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")
        if self.download or all((raw / n).exists() or (raw / f"{n}.gz").exists() for n in names):
            return None
        return (
            f"{self.folder} not found in {raw}; set data.root to the folder holding "
            f"{self.folder}/raw, or data.download: true"
        )


@DATASETS.register("fashion_mnist", implementation="aesweep.data.mnist:load_mnist")
class FashionMNISTConfig(MNISTConfig):
    """Fashion-MNIST (the LCW paper's F-MNIST): MNIST's format, ``root``/FashionMNIST/raw."""

    dataset: Literal["fashion_mnist"] = "fashion_mnist"  # type: ignore[assignment]
    folder: ClassVar[str] = "FashionMNIST"


@DATASETS.register("cifar10", implementation="aesweep.data.cifar10:load_cifar10")
class CIFAR10Config(DataConfig):
    """CIFAR-10 (50,000 train, 10,000 test 32x32 RGB), held in memory; read from torchvision's
    layout ``root``/cifar-10-batches-py (``download: true`` fetches it through torchvision)."""

    dataset: Literal["cifar10"] = "cifar10"
    root: Annotated[str, Field(min_length=1)] = Field(
        "~/.cache/aesweep/data", description="the folder holding cifar-10-batches-py"
    )
    download: bool = Field(False, description="fetch the dataset through torchvision if absent")
    images: ClassVar[bool] = True
    samples: ClassVar[str] = "32x32 RGB images"

    def full_train_size(self) -> int:
        return 50_000

    def missing(self) -> str | None:
        folder = Path(self.root).expanduser() / "cifar-10-batches-py"
        names = (*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH)
        absent = [n for n in names if not (folder / n).exists()]
        if self.download or not absent:
            return None
        return (
            f"CIFAR-10 not found in {folder} (missing {', '.join(absent)}); set data.root to "
            "the folder holding cifar-10-batches-py, or data.download: true"
        )


@DATASETS.register(
    "gaussian_mixture", implementation="aesweep.data.gaussian_mixture:load_gaussian_mixture"
)
class GaussianMixtureConfig(DataConfig):
    """A 1-D mixture of equal-weight Gaussians (the Run-Sort-ReRun paper's Figure 1 toy)."""

    dataset: Literal["gaussian_mixture"] = "gaussian_mixture"
    means: Annotated[tuple[float, ...], Field(min_length=1)] = Field(
        (-1.5, -0.5, 0.5, 1.5), description="the means of the equal-weight components"
    )
    std: Annotated[float, Field(gt=0)] = Field(0.2, description="σ of every component")
    train_size: Annotated[int, Field(gt=0)] | None = Field(
        10_000, description="training samples drawn (null: 10,000)"
    )
    test_size: Annotated[int, Field(gt=0)] | None = Field(
        2_000, description="test samples drawn (null: 2,000)"
    )
    sample_seed: int = Field(0, description="seed of the draw (the same data in every trial)")
    images: ClassVar[bool] = False
    samples: ClassVar[str] = "1-D points, not images"

    def full_train_size(self) -> int:
        return 10_000  # drawn when train_size is null (load_gaussian_mixture)

    def train_size_bound(self) -> int:
        return self.train_size or self.full_train_size()


class StreamedImagesConfig(DataConfig):
    """Fields of the image datasets read from files: the training split is streamed through
    a DataLoader with ``workers`` processes (``in_memory: true`` loads it whole instead); the
    test split (capped by ``test_size``) is held in memory for evaluation."""

    channels: Literal[1, 3] = Field(3, description="3: RGB, 1: grey")
    crop: Annotated[int, Field(gt=0)] | None = Field(
        None, description="centre crop to this many pixels square (null: none)"
    )
    size: Annotated[int, Field(gt=0)] | None = Field(
        None, description="resize to this many pixels square (null: as read)"
    )
    workers: Annotated[int, Field(ge=0)] = Field(
        2, description="DataLoader processes decoding the training images"
    )
    prefetch: Annotated[int, Field(gt=0)] = Field(4, description="batches loaded ahead")
    in_memory: bool = Field(False, description="load the training split whole instead")
    images: ClassVar[bool] = True
    samples: ClassVar[str] = "images"


@DATASETS.register("image_folder", implementation="aesweep.data.image_folder:load_image_folder")
class ImageFolderConfig(StreamedImagesConfig):
    """Every PNG/JPEG under ``path`` (recursively, sorted), split by a fixed-seed permutation
    into train and a ``test_fraction`` test split."""

    dataset: Literal["image_folder"] = "image_folder"
    path: Annotated[str, Field(min_length=1)] = Field(
        description="the folder whose PNG/JPEG images (searched recursively) are the data"
    )
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.1, description="fraction of the images held out as the test split"
    )
    location_field: ClassVar[str] = "path"

    def missing(self) -> str | None:
        folder = Path(self.path).expanduser()
        if not folder.is_dir():
            return f"no folder {folder}"
        images = (p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(list(itertools.islice(images, 2))) < 2:  # one to train on, one to test
            return f"fewer than 2 PNG/JPEG images under {folder}"
        return None


@DATASETS.register("celeba", implementation="aesweep.data.image_folder:load_celeba")
class CelebAConfig(StreamedImagesConfig):
    """CelebA in torchvision's layout (``root``/celeba/img_align_celeba/*.jpg and
    list_eval_partition.txt): the official train and test partitions, 140x140 centre crop
    resized to 64x64 (WAE §4). ``test_size`` defaults to 10,000 held in memory (470 MiB)."""

    dataset: Literal["celeba"] = "celeba"
    root: Annotated[str, Field(min_length=1)] = Field(
        "~/.cache/aesweep/data", description="the folder holding torchvision's celeba/"
    )
    crop: Annotated[int, Field(gt=0)] | None = Field(
        140, description="centre crop to this many pixels square (null: none)"
    )
    size: Annotated[int, Field(gt=0)] | None = Field(
        64, description="resize to this many pixels square (null: as read)"
    )
    test_size: Annotated[int, Field(gt=0)] | None = Field(
        10_000, description="the first N images of the official test partition"
    )

    @property
    def folder(self) -> Path:
        return Path(self.root).expanduser() / "celeba"

    def missing(self) -> str | None:
        needed = (self.folder / "img_align_celeba", self.folder / "list_eval_partition.txt")
        absent = [str(p) for p in needed if not p.exists()]
        if not absent:
            return None
        return (
            f"CelebA not found: missing {', '.join(absent)}; set data.root to the folder "
            "holding celeba/ (torchvision's layout; aesweep does not download it)"
        )
