"""Config of WAE-GAN (WAE paper §2.2 and Algorithm 1; REFERENCE: Models).

The encoder's penalty -log D(z) is a per-sample term given the discriminator D; D (trained on
the batch's latents against a prior sample) is what matches the distributions. So the family
regularises no set distance (``distance`` adversarial): minibatch and moving-window strategies can
train it (the penalty then covers the fresh latents only), the momentum queue and
Run-Sort-ReRun cannot.

``prior_trick`` (the WAE code's ``gan_p_trick``, on in their CelebA configuration): D's logit
gets the Gaussian prior's log-density added, so D learns only the rest of the optimal
log p(z) - log q(z) (aesweep/models/wae_gan/model.py). Gaussian prior only; off by default and
then left out of trial ids.
"""

from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from aesweep.config.base import StrictConfig
from aesweep.config.distances import ADVERSARIAL, DistanceKind
from aesweep.config.models import MODELS, AutoencoderConfig, WithLatentWeight, WithReconstruction
from aesweep.config.wae_encoder import WithWAEEncoder

GAUSSIAN_PRIOR = "gaussian"
"""The prior whose log-density ``prior_trick`` adds (the WAE code asserts ``pz == 'normal'``)."""


class DiscriminatorConfig(StrictConfig):
    """The latent discriminator D_γ and its own Adam (REFERENCE: MNIST defaults)."""

    width: Annotated[int, Field(gt=0)] = Field(512, description="units per hidden layer")
    layers: Annotated[int, Field(gt=0)] = Field(4, description="fully connected ReLU layers")
    lr: Annotated[float, Field(gt=0)] = Field(5e-4, description="Adam learning rate of D")
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = Field(
        (0.5, 0.999), description="Adam's (β1, β2) of D"
    )


@MODELS.register("wae_gan", implementation="aesweep.models.wae_gan.model:WAEGAN")
class WAEGANConfig(WithLatentWeight, WithReconstruction, WithWAEEncoder, AutoencoderConfig):
    """Encoder/decoder: rec - λ log D(Z) (non-saturating). Discriminator, after the
    autoencoder's step on the same batch: maximise λ [log D(P) + log(1 - D(Z))]."""

    family: Literal["wae_gan"] = "wae_gan"
    discriminator: DiscriminatorConfig = Field(
        DiscriminatorConfig(), description="the latent discriminator and its optimiser"
    )
    prior_trick: bool = Field(
        False,
        exclude_if=lambda v: v is False,  # out of trial ids while off
        description="add the Gaussian prior's log-density to the discriminator's logit (the "
        "WAE code's gan_p_trick, on for their CelebA); prior gaussian only; false: off",
    )
    distance: ClassVar[DistanceKind] = ADVERSARIAL
    train_parts: ClassVar[tuple[str, ...]] = ("loss", "rec", "latent", "disc_loss", "disc_acc")

    @field_validator("prior_trick")
    @classmethod
    def _gaussian_prior(cls, prior_trick: bool, info: ValidationInfo) -> bool:
        prior = info.data.get("prior")
        if prior_trick and prior is not None and prior != GAUSSIAN_PRIOR:
            raise ValueError(
                f"the prior trick adds a Gaussian prior's log-density; prior is {prior} "
                f"(allowed with prior {GAUSSIAN_PRIOR} only)"
            )
        return prior_trick
