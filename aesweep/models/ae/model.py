"""The plain autoencoder: reconstruction only."""

from aesweep.models.base import AutoencoderModel


class AE(AutoencoderModel):
    """No latent term; λ has no effect (LCW baseline)."""
