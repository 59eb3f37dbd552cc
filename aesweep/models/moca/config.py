"""Config of MoCA (Momentum Contrastive Autoencoder, §3; REFERENCE: Contrastive uniformity).

Where the hyper-parameters live: the paper's MoCA is this family x the ``momentum_queue``
strategy. The temperature τ is part of the contrastive distance, so it is a field here (it is
used under every strategy); the queue size K and the base momentum m0 define the comparison
set, so they are fields of ``momentum_queue`` (``size``, ``momentum``).
"""

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from aesweep.config.base import Registered
from aesweep.config.distances import CONTRASTIVE, DistanceKind
from aesweep.config.grid import Sweepable
from aesweep.config.models import (
    MODELS,
    RECONSTRUCTIONS,
    AutoencoderConfig,
    WithLatentWeight,
    WithReconstruction,
)


@MODELS.register("moca", implementation="aesweep.models.moca.model:MoCA")
class MoCAConfig(WithLatentWeight, WithReconstruction, AutoencoderConfig):
    """rec + λ L_MoCo with unit-norm latents (prior: the sphere; samples decode z/||z||,
    z ~ N(0, I)). λ grid in the paper: {100, 1000, 3000, 6000}.

    With ``momentum_queue`` the latent term is the paper's L_MoCo (queries against the queue of
    momentum keys, the keys of the same images as positives). With ``minibatch`` or
    ``moving_window`` it is the contrastive uniformity of the set the strategy forms,
    (1/N) Σ_i log((1/N) Σ_j exp(z_i·z_j/τ)) over its N rows (no momentum encoder, no positives).
    """

    family: Literal["moca"] = "moca"
    prior: Literal["sphere"] = Field("sphere", description="the latent prior: the unit sphere")
    lambda_: Sweepable[Annotated[float, Field(ge=0)]] = Field(
        1000.0, alias="lambda", description="λ, the weight of L_MoCo"
    )
    reconstruction: Annotated[str, Registered(RECONSTRUCTIONS)] = Field(
        "sum", description="MoCA's rec: mean over the batch of ||x - x̂||² (form 'sum')"
    )
    tau: Sweepable[Annotated[float, Field(gt=0)]] = Field(
        0.05, description="temperature τ of the contrastive distance (MoCA: 0.05)"
    )
    distance: ClassVar[DistanceKind] = CONTRASTIVE
