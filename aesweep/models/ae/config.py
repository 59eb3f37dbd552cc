"""Config of the plain autoencoder (no latent term; λ is ignored)."""

from typing import ClassVar, Literal

from aesweep.models.config import MODEL_CONFIGS, ModelConfig


@MODEL_CONFIGS.register("ae")
class AEConfig(ModelConfig):
    """Reconstruction only: the LCW paper's AE baseline (REFERENCE: Models)."""

    family: Literal["ae"] = "ae"
    implementation: ClassVar[str] = "aesweep.models.ae.model:AE"
