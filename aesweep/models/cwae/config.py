"""Config of CWAE; the closed-form distance needs latent_dim >= 8 (REFERENCE: Distances)."""

from typing import ClassVar, Literal

from pydantic import model_validator

from aesweep.config.distances import CRAMER_WOLD, DistanceKind
from aesweep.config.models import (
    MODELS,
    AutoencoderConfig,
    WithLatentWeight,
    WithReconstruction,
    require_cw_closed_form,
)


@MODELS.register("cwae", implementation="aesweep.models.cwae.model:CWAE")
class CWAEConfig(WithLatentWeight, WithReconstruction, AutoencoderConfig):
    """rec + λ log cw(Z) (REFERENCE: Cramer-Wold distance of a sample to N(0, I))."""

    family: Literal["cwae"] = "cwae"
    distance: ClassVar[DistanceKind] = CRAMER_WOLD

    @model_validator(mode="after")
    def _closed_form_holds(self) -> "CWAEConfig":
        require_cw_closed_form(self.latent_dim)
        return self
