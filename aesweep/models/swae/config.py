"""Config of SWAE (REFERENCE: Sliced Wasserstein; MoW §4 and Appendix B)."""

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from aesweep.models.config import MODEL_CONFIGS, Distance, ModelConfig


@MODEL_CONFIGS.register("swae")
class SWAEConfig(ModelConfig):
    """rec + λ mean_{l,i} (sort(Z θ_l)_i - sort(P θ_l)_i)², with ``projections`` fresh unit
    directions θ_l and a fresh prior sample P of the same size every step."""

    family: Literal["swae"] = "swae"
    projections: Annotated[int, Field(gt=0)] = Field(
        50, description="L: random directions drawn each step (SWAE / MoW: 50)"
    )
    implementation: ClassVar[str] = "aesweep.models.swae.model:SWAE"
    distance: ClassVar[Distance | None] = "sliced"
