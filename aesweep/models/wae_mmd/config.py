"""Config of WAE-MMD (WAE paper section 2.2; multi-scale IMQ kernel of the authors' code)."""

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from aesweep.models.config import MODEL_CONFIGS, Distance, ModelConfig


@MODEL_CONFIGS.register("wae_mmd")
class WAEMMDConfig(ModelConfig):
    """rec + λ MMD_IMQ(Z, P), U-statistic in training (REFERENCE: MMD)."""

    family: Literal["wae_mmd"] = "wae_mmd"
    scales: Annotated[tuple[float, ...], Field(min_length=1)] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
    implementation: ClassVar[str] = "aesweep.models.wae_mmd.model:WAEMMD"
    distance: ClassVar[Distance | None] = "mmd"
