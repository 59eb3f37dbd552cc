"""Two training details of the WAE authors' code (tolstikhin/wae) for the WAE families:
the encoder's pretraining (``e_pretrain``) and noise on its inputs (``e_add_noise``).

``e_pretrain`` (``WAE.pretrain_encoder`` and ``WAE.pretrain_loss`` in their ``wae.py``): before
the first epoch, the encoder alone takes up to ``steps`` (200) steps of the trial's optimiser
(a fresh instance at the base rate) on the moment-matching loss

    mean_ij (mean_Q - mean_P)_j² + mean_jk (cov_Q - cov_P)_jk²

between the latents Q of ``sample_size`` training images drawn without replacement each step
(``e_pretrain_sample_size``: 1,000 for MNIST, 256 for CelebA in their ``configs.py``) and as
many prior draws P (covariances with n - 1); it stops early once the loss is below
``stop_below`` (0.1). ``e_add_noise`` (``encoder`` in their ``models.py``): while training, the
encoder sees its input plus TensorFlow's truncated normal noise of std 0.01 (values beyond two
std redrawn); evaluation encodes the clean input.

Both are off by default and then left out of trial ids, so specs that do not name them keep
their ids.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from aesweep.config.base import STRICT_INPUT, StrictConfig


class EncoderPretraining(StrictConfig):
    """The moment-matching pretraining of the encoder (WAE authors' ``pretrain_encoder``)."""

    sample_size: Annotated[int, Field(gt=1)] = Field(
        1000,
        description="training images (and prior draws) per step; the WAE code: 1,000 for "
        "MNIST, 256 for CelebA",
    )
    steps: Annotated[int, Field(gt=0)] = Field(200, description="at most this many steps")
    stop_below: Annotated[float, Field(ge=0)] = Field(
        0.1, description="stop once a step's loss is below this (the WAE code: 0.1)"
    )


class WithWAEEncoder(BaseModel):
    """The WAE families' encoder options (module docstring). A mixin: list it before
    :class:`aesweep.config.models.AutoencoderConfig` among a family's bases."""

    model_config = ConfigDict(**STRICT_INPUT, frozen=True)

    e_pretrain: EncoderPretraining | None = Field(
        None,
        exclude_if=lambda v: v is None,  # out of trial ids while off
        description="pretrain the encoder to match the prior's mean and covariance before "
        "training (the WAE code's e_pretrain; {} takes its MNIST settings); null: off",
    )
    e_add_noise: Annotated[float, Field(ge=0)] = Field(
        0.0,
        exclude_if=lambda v: v == 0,  # out of trial ids while off
        description="std of the truncated normal noise (beyond 2 std redrawn) added to the "
        "encoder's inputs while training (the WAE code's e_add_noise: 0.01); 0: off",
    )
