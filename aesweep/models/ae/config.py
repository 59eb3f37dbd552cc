"""Config of the plain autoencoder: reconstruction only, so it has no λ."""

from typing import ClassVar, Literal

from aesweep.config.distances import NO_DISTANCE, DistanceKind
from aesweep.config.models import MODELS, AutoencoderConfig, WithReconstruction


@MODELS.register("ae", implementation="aesweep.models.ae.model:AE")
class AEConfig(WithReconstruction, AutoencoderConfig):
    """Reconstruction only: the LCW paper's AE baseline (REFERENCE: Models)."""

    family: Literal["ae"] = "ae"
    distance: ClassVar[DistanceKind] = NO_DISTANCE
