"""Config of SWAE (REFERENCE: Sliced Wasserstein; MoW §4 and Appendix B)."""

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from aesweep.config.distances import SLICED, DistanceKind
from aesweep.config.models import MODELS, AutoencoderConfig, WithLatentWeight, WithReconstruction


@MODELS.register("swae", implementation="aesweep.models.swae.model:SWAE")
class SWAEConfig(WithLatentWeight, WithReconstruction, AutoencoderConfig):
    """rec + λ mean_{l,i} (sort(Z θ_l)_i - sort(P θ_l)_i)², with ``projections`` fresh unit
    directions θ_l and a fresh prior sample P of the same size every step."""

    family: Literal["swae"] = "swae"
    projections: Annotated[int, Field(gt=0)] = Field(
        50, description="L: random directions drawn each step (SWAE / MoW: 50)"
    )
    distance: ClassVar[DistanceKind] = SLICED
