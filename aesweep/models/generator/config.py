"""Config of the data-space generator trained with a sliced Wasserstein distance (RSR Figure 1).

Noise N(0, I_latent_dim) -> MLP (``hidden``, LeakyReLU, one BatchNorm on running statistics
after the last hidden layer, as the authors' toy) -> a sample. Its distance (``sliced_data``)
compares generated and real samples, so only ``minibatch`` and ``run_sort_rerun`` can train it.
It has its own training function (aesweep/trainables/generator.py): no epochs over a dataset,
``iterations_per_epoch`` optimiser steps between evaluations.
"""

from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field

from aesweep.config import metrics
from aesweep.config.distances import SLICED_DATA, DistanceKind
from aesweep.config.grid import Sweepable
from aesweep.config.models import MODELS, ModelConfig

if TYPE_CHECKING:
    from aesweep.config.trial import TrialConfig


@MODELS.register("generator", implementation="aesweep.models.generator.model:Generator")
class GeneratorConfig(ModelConfig):
    """G: N(0, I) -> data, minimising ``mean_l W_p^p(G(ε) θ_l, X θ_l)`` (RSR eq. 4-5).

    ``latent_dim`` is the noise dimension (the toy: 1). It has no encoder, so the
    autoencoders' fields (architecture, prior, λ, reconstruction, latent_trick) do not apply.
    In 1-D data the single direction is θ = 1 under ``minibatch``; otherwise ``projections``
    random directions per step.
    """

    family: Literal["generator"] = "generator"
    latent_dim: Sweepable[Annotated[int, Field(gt=0)]] = Field(
        1, description="dimension of the noise ε"
    )
    hidden: Annotated[tuple[Annotated[int, Field(gt=0)], ...], Field(min_length=1)] = Field(
        (32, 64, 128, 128), description="units of the hidden layers"
    )
    negative_slope: Annotated[float, Field(ge=0)] = Field(
        0.01, description="slope of the LeakyReLU for negative inputs"
    )
    batch_norm: bool = Field(True, description="BatchNorm on running statistics before the output")
    power: Literal[1, 2] = Field(
        2, description="p of W_p^p (REFERENCE: 2; the authors' toy script uses 1)"
    )
    projections: Annotated[int, Field(gt=0)] = Field(
        50, description="random directions per minibatch step for data of dimension > 1"
    )
    iterations_per_epoch: Annotated[int, Field(gt=0)] = Field(
        100, description="optimiser steps between evaluations (the paper: 20,000 in total)"
    )
    cosine_annealing: bool = Field(
        True, description="cosine-annealed lr over all steps to 1e-7 (the authors' toy)"
    )
    histogram_samples: Annotated[int, Field(gt=1)] = Field(
        10_240, description="generated samples in the logged histogram (1-D data)"
    )
    trainable: ClassVar[str] = "aesweep.trainables.generator:train_generator"
    distance: ClassVar[DistanceKind] = SLICED_DATA

    def logged_metrics(self, trial: "TrialConfig") -> frozenset[str]:
        """W1 to the test split, the training loss, timings and the annealed lr."""
        return frozenset(
            {
                *(metrics.MIXTURE_METRICS if trial.data.dataset == "gaussian_mixture" else ()),
                *metrics.GENERATOR_METRICS,
                *metrics.EPOCH_TIMINGS,
                metrics.TRAIN_PREFIX + "loss",
                metrics.LEARNING_RATE,
            }
        )
