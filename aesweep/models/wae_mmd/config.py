"""Config of WAE-MMD (WAE paper section 2.2; multi-scale IMQ kernel of the authors' code)."""

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from aesweep.config.distances import MMD, DistanceKind
from aesweep.config.models import MODELS, AutoencoderConfig, WithLatentWeight, WithReconstruction
from aesweep.config.wae_encoder import WithWAEEncoder


@MODELS.register("wae_mmd", implementation="aesweep.models.wae_mmd.model:WAEMMD")
class WAEMMDConfig(WithLatentWeight, WithReconstruction, WithWAEEncoder, AutoencoderConfig):
    """rec + λ MMD_IMQ(Z, P), U-statistic in training (REFERENCE: MMD)."""

    family: Literal["wae_mmd"] = "wae_mmd"
    scales: Annotated[tuple[Annotated[float, Field(gt=0)], ...], Field(min_length=1)] = Field(
        (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0), description="multipliers s of the IMQ scale C"
    )
    distance: ClassVar[DistanceKind] = MMD
