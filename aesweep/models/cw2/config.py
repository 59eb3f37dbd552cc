"""Config of CW² (LCW paper, "CW² model"; REFERENCE: Models).

The reconstruction term is the two-sample Cramér-Wold distance between the batch and its
reconstruction, so there is no per-image ``reconstruction`` form; ``gamma`` picks its bandwidth.
"""

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from aesweep.config.distances import CRAMER_WOLD, DistanceKind
from aesweep.config.models import (
    MODELS,
    AutoencoderConfig,
    WithLatentWeight,
    require_cw_closed_form,
)


@MODELS.register("cw2", implementation="aesweep.models.cw2.model:CW2")
class CW2Config(WithLatentWeight, AutoencoderConfig):
    """log cw(X̂, X; γ) + λ log cw(Z) (the authors' latest code: λ on the latent term).

    ``gamma``: ``fixed`` = Silverman's γ = (1.06 σ N^-0.2)² from the training set's pixel σ
    and the batch's N (LCW: 0.0202 / 0.0153 / 0.0116 for MNIST with N = 64 / 128 / 256);
    ``batch`` = the same rule with σ of the joined batch [X̂; X] (detached: a bandwidth).
    """

    family: Literal["cw2"] = "cw2"
    gamma: Literal["fixed", "batch"] = Field(
        "fixed", description="γ of cw(X̂, X): from the dataset's pixel σ, or the batch's σ"
    )
    distance: ClassVar[DistanceKind] = CRAMER_WOLD

    @field_validator("latent_dim")
    @classmethod
    def _closed_form_holds(cls, latent_dim: int) -> int:
        return require_cw_closed_form(latent_dim)
