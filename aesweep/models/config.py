"""The fields every model family shares, and the registry of family configs.

Each family registers its config class with ``@MODEL_CONFIGS.register("name")``; the config
names the module that implements it (``implementation``), imported only when a trial runs.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from aesweep.models.latent_trick.config import LatentTrickConfig
from aesweep.registry import Registry
from aesweep.sweeps.grid import Sweepable

ARCHITECTURES: Registry[object] = Registry("architecture")
"""Network builders by name (lazy: importing this module imports no torch)."""
ARCHITECTURES.register_lazy("mlp", "aesweep.models.architectures.mlp:MLPAutoencoder")
ARCHITECTURES.register_lazy("dcgan", "aesweep.models.architectures.dcgan:DCGANAutoencoder")
ARCHITECTURES.register_lazy(
    "conv_cifar", "aesweep.models.architectures.conv_cifar:ConvCifarAutoencoder"
)
ARCHITECTURES.register_lazy("conv64", "aesweep.models.architectures.conv64:Conv64Autoencoder")

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
    latent_trick: LatentTrickConfig | None = Field(
        None,
        description="stage 2 of the LCW paper: a latent generator trained on the frozen "
        "autoencoder's latents (null: off); its sampler is evaluated next to the prior's",
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

    @model_validator(mode="after")
    def _latent_trick_applies(self) -> ModelConfig:
        if self.latent_trick is None:
            return self
        if type(self).trainable != ModelConfig.trainable:
            raise ValueError(
                f"latent_trick: {self.family} has no encoder to freeze; the Latent Trick "
                "applies to autoencoder families only"
            )
        if 3 <= self.latent_dim <= 7:
            raise ValueError(
                f"latent_trick: its Cramér-Wold distance needs latent_dim 1, 2 or >= 8, "
                f"got {self.latent_dim}"
            )
        return self

    @model_serializer(mode="wrap")
    def _drop_unset_latent_trick(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Without the Latent Trick the field is left out of the resolved config, so the trial
        ids of specs that do not use it are those they had before it existed."""
        data = handler(self)
        if data.get("latent_trick", 0) is None:
            del data["latent_trick"]
        return data

    @property
    def label(self) -> str:
        """A short name for tables: the family, with ``+lt`` when the Latent Trick is on."""
        return self.family + ("+lt" if self.latent_trick is not None else "")


MODEL_CONFIGS: Registry[type[ModelConfig]] = Registry("model family")
