"""The base configs of model families, and the registries of what their fields name.

A family registers its config class with ``@MODELS.register("name", implementation=
"aesweep.models.<name>.model:Class")`` in ``aesweep/models/<name>/config.py``. The slim
:class:`ModelConfig` holds what every family has; :class:`AutoencoderConfig` what the stage-1
autoencoders share; :class:`WithReconstruction` and :class:`WithLatentWeight` add the
per-image reconstruction form and λ to the families they apply to, so a field that does not
apply to a family is an unknown key there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
)

from aesweep.config import metrics
from aesweep.config.base import STRICT_INPUT, Described, Registered, StrictConfig
from aesweep.config.costs import COSTS
from aesweep.config.data import DataConfig
from aesweep.config.distances import DistanceKind
from aesweep.config.grid import Sweepable
from aesweep.config.init import INITS, InitConfig, PytorchInit
from aesweep.config.registry import Registry

if TYPE_CHECKING:
    from aesweep.config.trial import TrialConfig


@dataclass(frozen=True)
class ArchitectureInfo:
    """What is known of an architecture before torch is imported. ``kernels``: the filter
    sizes its builder's ``kernel`` argument takes (empty: its filters are fixed and it has no
    such argument)."""

    description: str
    images_only: bool
    kernels: tuple[int, ...] = ()


Kernel = Literal[4, 5]
"""The filter sides the model field ``kernel`` takes."""
DEFAULT_KERNEL: Kernel = 4
"""The model field ``kernel`` by default: every architecture's own filters (out of trial ids)."""


ARCHITECTURES: Registry[ArchitectureInfo] = Registry("architecture")
"""Network builders ``(sample_shape, latent_dim, *, width, sigmoid_output) -> encoder/decoder``
(and ``kernel=`` for those whose :attr:`ArchitectureInfo.kernels` name a choice)."""
ARCHITECTURES.add(
    "mlp",
    ArchitectureInfo("MoW's MNIST MLP: 3 x 200 ReLU, mirrored (any sample shape)", False),
    implementation="aesweep.models.architectures.mlp:MLPAutoencoder",
)
ARCHITECTURES.add(
    "dcgan",
    ArchitectureInfo(
        "WAE's DCGAN-style networks, 4x4 (or, with kernel 5, 5x5) filters and BatchNorm",
        True,
        kernels=(4, 5),
    ),
    implementation="aesweep.models.architectures.dcgan:DCGANAutoencoder",
)
ARCHITECTURES.add(
    "conv_cifar",
    ArchitectureInfo("MoW's CIFAR-10 convolutional networks", True),
    implementation="aesweep.models.architectures.conv_cifar:ConvCifarAutoencoder",
)
ARCHITECTURES.add(
    "conv64",
    ArchitectureInfo("LCW's CelebA 64x64 convolutional networks", True),
    implementation="aesweep.models.architectures.conv64:Conv64Autoencoder",
)

RECONSTRUCTIONS: Registry[Described] = Registry("reconstruction form")
"""Training forms of rec from the per-image sums of squared pixel errors (REFERENCE: Models)."""
RECONSTRUCTIONS.add(
    "sqrt_sum",
    Described("sqrt(mean_batch Σ_pixels (x - x̂)²), the moving-window code"),
    implementation="aesweep.models.reconstruction:sqrt_sum",
)
RECONSTRUCTIONS.add(
    "wae_scaled",
    Described("0.05 mean_batch Σ_pixels (x - x̂)², the WAE code"),
    implementation="aesweep.models.reconstruction:wae_scaled",
)
RECONSTRUCTIONS.add(
    "sum",
    Described("mean_batch Σ_pixels (x - x̂)² (MoCA)"),
    implementation="aesweep.models.reconstruction:pixel_sum",
)

PRIORS: Registry[Described] = Registry("prior")
"""Latent priors: how they are sampled, how an encoder's output is projected onto their
support, and the IMQ kernel's base scale for them (REFERENCE: MMD)."""
PRIORS.add(
    "gaussian",
    Described("N(0, I)"),
    implementation="aesweep.models.priors:GaussianPrior",
)
PRIORS.add(
    "sphere",
    Described("the unit sphere: z / ||z||, z ~ N(0, I) (MoCA)"),
    implementation="aesweep.models.priors:SpherePrior",
)


class LatentTrickConfig(StrictConfig):
    """Stage 2 of the LCW construction (LCW paper, "Latent Trick" and "Architecture"): freeze
    the autoencoder, encode the training set once and train G (``layers`` x [Linear ``hidden``,
    BatchNorm1d, ReLU], then Linear to the latent dimension) to minimise the two-sample
    Cramér-Wold distance cw(G(ε), Z_batch; γ) (no log) with Adam. Applies to any autoencoder
    family (AE+LT, CWAE+LT, LCW = CW² + LT)."""

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


class ModelConfig(StrictConfig):
    """What every family has: its name and the latent (or noise) dimension."""

    family: str
    latent_dim: Sweepable[Annotated[int, Field(gt=0)]] = Field(
        8, description="dimension of the latent space (the generator family: of its noise)"
    )

    distance: ClassVar[DistanceKind]
    """What the family's regulariser compares (decides strategy compatibility and cost)."""
    trainable: ClassVar[str]
    """``module:function`` that trains one trial of this family (see trainables/entry.py)."""
    train_parts: ClassVar[tuple[str, ...]] = ("loss",)
    """The parts of a training step it logs, as ``train_<part>`` (epoch means)."""

    def logged_metrics(self, trial: TrialConfig) -> frozenset[str]:
        """The metrics a trial of this model logs (``selection.metric`` must be one)."""
        raise NotImplementedError

    def data_problem(self, data: DataConfig) -> tuple[str, str] | None:
        """(the field, why) when this model cannot train on ``data``, known before loading
        it; None when it can."""
        return None

    @property
    def label(self) -> str:
        """A short name for tables."""
        return self.family

    @property
    def latent_weight(self) -> float | None:
        """λ, for families whose objective weighs a latent term (None: no λ)."""
        return None


def _check_family(name: str, cls: type[ModelConfig]) -> None:
    for attr in ("distance", "trainable"):
        if not hasattr(cls, attr):
            raise TypeError(f"model family {name!r}: {cls.__name__} must declare {attr}")


MODELS: Registry[type[ModelConfig]] = Registry("model family", check=_check_family)


class AutoencoderConfig(ModelConfig):
    """What the stage-1 autoencoder families share: networks and their initialisation, prior
    and the Latent Trick."""

    architecture: Annotated[str, Registered(ARCHITECTURES)] = Field(
        "mlp", description="the encoder/decoder networks: " + ", ".join(ARCHITECTURES)
    )
    width: Annotated[float, Field(gt=0)] = Field(1.0, description="scales units and channels")
    kernel: Kernel = Field(
        DEFAULT_KERNEL,
        exclude_if=lambda v: v == DEFAULT_KERNEL,  # out of trial ids at the default
        description="side of the square convolution filters, for architectures that offer a "
        "choice (dcgan: 4, or 5 as the WAE code's CelebA conv_filters_dim); 4 leaves every "
        "architecture's own filters",
    )
    prior: Annotated[str, Registered(PRIORS)] = Field(
        "gaussian", description="the latent prior: " + ", ".join(PRIORS)
    )
    init: InitConfig = Field(
        PytorchInit(),
        exclude_if=lambda v: v.is_default,  # out of trial ids while PyTorch's own
        description="how the encoder and decoder (and WAE-GAN's discriminator) are initialised "
        "(kind: "
        + ", ".join(INITS)
        + "); pytorch: PyTorch's defaults (see aesweep/config/init.py)",
    )
    latent_trick: LatentTrickConfig | None = Field(
        None,
        description="stage 2 of the LCW paper: a latent generator trained on the frozen "
        "autoencoder's latents (null: off); its sampler is evaluated next to the prior's",
    )

    trainable: ClassVar[str] = "aesweep.trainables.autoencoder:train_autoencoder"
    train_parts: ClassVar[tuple[str, ...]] = ("loss", "rec", "latent")

    @field_validator("kernel")
    @classmethod
    def _kernel_offered(cls, kernel: int, info: ValidationInfo) -> int:
        architecture = info.data.get("architecture")
        if kernel == DEFAULT_KERNEL or architecture is None:
            return kernel
        if kernel not in ARCHITECTURES.get(architecture).kernels:
            offered = [n for n in ARCHITECTURES if kernel in ARCHITECTURES.get(n).kernels]
            raise ValueError(
                f"architecture {architecture} has fixed filters; kernel {kernel} needs "
                f"architecture {' or '.join(offered)}"
            )
        return kernel

    @field_validator("latent_trick")
    @classmethod
    def _latent_trick_applies(
        cls, latent_trick: LatentTrickConfig | None, info: ValidationInfo
    ) -> LatentTrickConfig | None:
        latent_dim = info.data.get("latent_dim")
        if latent_trick is not None and latent_dim is not None and not cw_closed_form(latent_dim):
            raise ValueError(
                f"its Cramér-Wold distance needs latent_dim 1, 2 or >= 8, got {latent_dim}"
            )
        return latent_trick

    def data_problem(self, data: DataConfig) -> tuple[str, str] | None:
        if ARCHITECTURES.get(self.architecture).images_only and not data.images:
            return "architecture", f"{self.architecture} needs image data"
        return None

    def logged_metrics(self, trial: TrialConfig) -> frozenset[str]:
        """Stage 1's evaluation (rec_error, the latent distances, cost where its distance
        exists), the prior sampler's metrics and the trial's own (``gen_``), the Latent
        Trick's (``lt_``) when on, FID when ``evaluation.fid`` is set, training parts, timings
        and ``lr`` under a schedule (README "Metrics")."""
        names = {
            *metrics.AUTOENCODER_METRICS,
            *metrics.EPOCH_TIMINGS,
            *(metrics.TRAIN_PREFIX + part for part in self.train_parts),
        }
        if cw_closed_form(self.latent_dim):
            names.add(metrics.CW_DISTANCE)
        if self.distance.cost_metric in names:
            names.add(metrics.COST)
        names |= {cost for cost, (distance, _) in COSTS.items() if distance in names}
        fid = trial.evaluation.fid is not None
        sampler = {*metrics.SAMPLER_METRICS, *(metrics.OPTIONAL_SAMPLER_METRICS if fid else ())}
        timings = {*metrics.SAMPLER_TIMINGS, *(metrics.FID_TIMINGS if fid else ())}
        names |= sampler | timings
        names |= {metrics.OWN_SAMPLER_PREFIX + m for m in sampler}
        if self.latent_trick is not None:
            stage2 = {*metrics.LATENT_TRICK_METRICS, *sampler, *timings}
            names |= {metrics.LATENT_TRICK_PREFIX + m for m in stage2}
        if trial.optimizer.schedule is not None:
            names.add(metrics.LEARNING_RATE)
        return frozenset(names)

    @model_serializer(mode="wrap")
    def _drop_unset_latent_trick(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Without the Latent Trick the field is left out of the resolved config, so the trial
        ids of specs that do not use it are those they had before it existed."""
        data: dict[str, Any] = handler(self)
        if data.get("latent_trick", 0) is None:
            del data["latent_trick"]
        return data

    @property
    def label(self) -> str:
        """The family, with ``+lt`` when the Latent Trick is on."""
        return self.family + ("+lt" if self.latent_trick is not None else "")


class WithReconstruction(BaseModel):
    """Families whose reconstruction term is a per-image pixel error, in one of the papers'
    training forms (the evaluation's rec_error is always MoW's mean per-image sum). A mixin:
    list it before :class:`AutoencoderConfig` among a family's bases."""

    model_config = ConfigDict(**STRICT_INPUT, frozen=True)

    reconstruction: Annotated[str, Registered(RECONSTRUCTIONS)] = Field(
        "sqrt_sum",
        description="training form of rec: sqrt_sum = sqrt(mean_batch sum_pixels (x-x̂)²) "
        "(moving-window code), wae_scaled = 0.05 mean_batch sum (WAE code), sum = mean_batch sum",
    )


class WithLatentWeight(BaseModel):
    """Families whose objective is rec + λ · (latent term). A mixin: list it first among a
    family's bases, so its :attr:`latent_weight` is the one that counts."""

    model_config = ConfigDict(**STRICT_INPUT, frozen=True)

    lambda_: Sweepable[Annotated[float, Field(ge=0)]] = Field(
        1.0, alias="lambda", description="λ, the weight of the latent term"
    )

    @property
    def latent_weight(self) -> float | None:
        return self.lambda_


def cw_closed_form(latent_dim: int) -> bool:
    """Whether the closed-form Cramér-Wold distance to N(0, I) exists in dimension
    ``latent_dim``: d >= 8, or exactly 1 or 2 (REFERENCE: Distances)."""
    return latent_dim >= 8 or latent_dim in (1, 2)


def require_cw_closed_form(latent_dim: int) -> int:
    """``latent_dim``, if the closed-form Cramér-Wold distance exists there (a field
    validator's body: the error names ``latent_dim``)."""
    if not cw_closed_form(latent_dim):
        raise ValueError(
            "the closed-form Cramér-Wold distance needs latent_dim >= 8 (or exactly 1 or 2), "
            f"got {latent_dim}"
        )
    return latent_dim
