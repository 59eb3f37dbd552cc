"""The fields every model family shares, and the registry of family configs.

Each family registers its config class with ``@MODEL_CONFIGS.register("name")``; the config
names the module that implements it (``implementation``), imported only when a trial runs.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aesweep.registry import Registry
from aesweep.sweeps.grid import Sweepable

ARCHITECTURES: Registry[object] = Registry("architecture")
"""Network builders by name (lazy: importing this module imports no torch)."""
ARCHITECTURES.register_lazy("mlp", "aesweep.models.architectures.mlp:MLPAutoencoder")

Distance = Literal["mmd", "cw", "sliced", "contrastive", "sliced_data"]
"""Latent distances, and ``sliced_data``: a sliced Wasserstein distance between generated and
real samples in data space (the Run-Sort-ReRun generator), which latent strategies cannot feed."""
Reconstruction = Literal["sqrt_sum", "wae_scaled", "sum"]


class ModelConfig(BaseModel):
    """Fields shared by all families. ``lambda`` weighs the latent term (REFERENCE: Models)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    family: str
    latent_dim: Sweepable[Annotated[int, Field(gt=0)]] = 8
    architecture: str = "mlp"
    width: Annotated[float, Field(gt=0)] = 1.0
    lambda_: Sweepable[Annotated[float, Field(ge=0)]] = Field(1.0, alias="lambda")
    prior: Literal["gaussian", "sphere"] = "gaussian"
    reconstruction: Reconstruction = Field(
        "sqrt_sum",
        description="training form of rec: sqrt_sum = sqrt(mean_batch sum_pixels (x-x̂)²) "
        "(moving-window code), wae_scaled = 0.05 mean_batch sum (WAE code), sum = mean_batch sum",
    )

    implementation: ClassVar[str]
    """``module:Class`` of the torch implementation."""
    trainable: ClassVar[str] = "aesweep.trainables.autoencoder:train_autoencoder"
    """``module:function`` that trains one trial of this family (see trainables/entry.py)."""
    distance: ClassVar[Distance | None] = None
    """The latent distance this family regularises (decides strategy compatibility and cost)."""

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, value: str) -> str:
        if value not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {value!r}; allowed: {', '.join(ARCHITECTURES)}")
        return value

    @property
    def label(self) -> str:
        """A short name for tables (the family)."""
        return self.family


MODEL_CONFIGS: Registry[type[ModelConfig]] = Registry("model family")
