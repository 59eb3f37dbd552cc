"""Config of CWAE; the closed-form distance needs latent_dim >= 8 (REFERENCE: Distances)."""

from typing import ClassVar, Literal

from pydantic import field_validator

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

    @field_validator("latent_dim")
    @classmethod
    def _closed_form_holds(cls, latent_dim: int) -> int:
        return require_cw_closed_form(latent_dim)
