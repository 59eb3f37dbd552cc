"""Dataset configs and their registry. Loaders return in-memory tensors (images in [0, 1])."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from aesweep.registry import Registry

DATA_CONFIGS: Registry[type[DataConfig]] = Registry("dataset")


class DataConfig(BaseModel):
    """Fields shared by all datasets: optional caps on the split sizes (first N, fixed order)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    dataset: str
    train_size: Annotated[int, Field(gt=0)] | None = None
    test_size: Annotated[int, Field(gt=0)] | None = None
    loader: ClassVar[str]
    """``module:function`` returning a :class:`aesweep.data.base.TensorDataset`."""

    def missing(self) -> str | None:
        """Why this dataset cannot be loaded here, checked before any trial starts (or None)."""
        return None


@DATA_CONFIGS.register("digits")
class DigitsConfig(DataConfig):
    """scikit-learn's 8x8 digits (1,797 images, shipped with scikit-learn): the embedded default."""

    dataset: Literal["digits"] = "digits"
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    loader: ClassVar[str] = "aesweep.data.digits:load_digits"


@DATA_CONFIGS.register("mnist")
class MNISTConfig(DataConfig):
    """MNIST through torchvision, read from ``root`` (``download: true`` fetches it)."""

    dataset: Literal["mnist"] = "mnist"
    root: str = "~/.cache/aesweep/data"
    download: bool = False
    loader: ClassVar[str] = "aesweep.data.mnist:load_mnist"

    def missing(self) -> str | None:
        raw = Path(self.root).expanduser() / "MNIST" / "raw"
        names = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")
        if self.download or all((raw / n).exists() or (raw / f"{n}.gz").exists() for n in names):
            return None
        return (
            f"MNIST not found in {raw}; set data.root to the folder holding MNIST/raw, "
            "or data.download: true"
        )


@DATA_CONFIGS.register("gaussian_mixture")
class GaussianMixtureConfig(DataConfig):
    """A 1-D mixture of equal-weight Gaussians (the Run-Sort-ReRun paper's Figure 1 toy)."""

    dataset: Literal["gaussian_mixture"] = "gaussian_mixture"
    means: Annotated[tuple[float, ...], Field(min_length=1)] = (-1.5, -0.5, 0.5, 1.5)
    std: Annotated[float, Field(gt=0)] = 0.2
    train_size: Annotated[int, Field(gt=0)] | None = 10_000
    test_size: Annotated[int, Field(gt=0)] | None = 2_000
    sample_seed: int = 0
    loader: ClassVar[str] = "aesweep.data.gaussian_mixture:load_gaussian_mixture"
