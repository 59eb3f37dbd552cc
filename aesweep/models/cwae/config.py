"""Config of CWAE; the closed-form distance needs latent_dim >= 8 (REFERENCE: Distances)."""

from typing import ClassVar, Literal

from pydantic import model_validator

from aesweep.models.config import MODEL_CONFIGS, Distance, ModelConfig


@MODEL_CONFIGS.register("cwae")
class CWAEConfig(ModelConfig):
    """rec + λ log cw(Z) (REFERENCE: Cramer-Wold distance of a sample to N(0, I))."""

    family: Literal["cwae"] = "cwae"
    implementation: ClassVar[str] = "aesweep.models.cwae.model:CWAE"
    distance: ClassVar[Distance | None] = "cw"

    @model_validator(mode="after")
    def _closed_form_holds(self) -> "CWAEConfig":
        if self.latent_dim < 8 and self.latent_dim not in (1, 2):
            raise ValueError(
                f"latent_dim {self.latent_dim}: the closed-form Cramér-Wold distance needs "
                "latent_dim >= 8 (or exactly 1 or 2)"
            )
        return self
