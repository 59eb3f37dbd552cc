"""Config of the Latent Trick, a field of every autoencoder family (``latent_trick``; null = off).

LCW paper, "Latent Trick" and "Architecture": after stage 1, freeze the autoencoder, encode the
training set once and train G (``layers`` x [Linear ``hidden``, BatchNorm1d, ReLU], then Linear
to the latent dimension) to minimise the two-sample Cramér-Wold distance cw(G(ε), Z_batch; γ)
(no log) with Adam. Table 2 (MNIST, Fashion-MNIST): lr 5e-4, noise dimension 8.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class LatentTrickConfig(BaseModel):
    """Stage 2 of the LCW construction; applies to any stage-1 family (AE+LT, CWAE+LT, LCW)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: Annotated[int, Field(gt=0)] = Field(
        50, description="passes over the encoded training set (not stated in the LCW paper)"
    )
    lr: Annotated[float, Field(gt=0)] = Field(5e-4, description="Adam learning rate (LCW: 5e-4)")
    noise_dim: Annotated[int, Field(gt=0)] = Field(
        8, description="dimension of ε ~ N(0, I) (LCW: 8 for MNIST, 32 for CelebA)"
    )
    batch_size: Annotated[int, Field(gt=1)] | None = Field(
        None,
        description="latents per step; null: the stage-1 strategy's images per step (at least 2)",
    )
    hidden: Annotated[int, Field(gt=0)] = Field(512, description="units per hidden layer")
    layers: Annotated[int, Field(gt=0)] = Field(5, description="hidden [Linear, BN, ReLU] blocks")
