"""The sweep spec a researcher writes, as pydantic v2 models (DESIGN: Spec sketch).

Lists in sweepable fields are grid axes; scalars are fixed; unknown keys are errors. The
model, strategy and dataset entries are discriminated unions built from the registries.
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from aesweep.data.config import DATA_CONFIGS
from aesweep.fid.config import FIDConfig
from aesweep.models.catalog import MODEL_CONFIGS
from aesweep.strategies.config import STRATEGY_CONFIGS, MinibatchConfig
from aesweep.sweeps.grid import Sweepable, grid_model
from aesweep.sweeps.lr_schedule import LRSchedule


def _union(registry: Any, *, grid: bool, tag: str) -> Any:
    classes = [registry.get(n) for n in registry.names()]
    if grid:
        classes = [grid_model(c) for c in classes]
    members = reduce(or_, classes) if len(classes) > 1 else classes[0]
    return Annotated[members, Field(discriminator=tag)]


ModelEntry = _union(MODEL_CONFIGS, grid=True, tag="family")
StrategyEntry = _union(STRATEGY_CONFIGS, grid=True, tag="kind")
DataEntry = _union(DATA_CONFIGS, grid=False, tag="dataset")
ModelSpec = _union(MODEL_CONFIGS, grid=False, tag="family")
StrategySpec = _union(STRATEGY_CONFIGS, grid=False, tag="kind")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class OptimizerConfig(_Strict):
    """The autoencoder's optimiser; ``lr`` is the papers' main grid axis."""

    name: Literal["sgd", "adam"] = "adam"
    lr: Sweepable[Annotated[float, Field(gt=0)]] = 1e-3
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.0
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (
        0.9,
        0.999,
    )
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    schedule: LRSchedule | None = Field(
        None,
        exclude_if=lambda v: v is None,  # out of trial ids while unset
        description="a learning-rate schedule (aesweep.sweeps.lr_schedule); null: constant",
    )


OptimizerGrid = grid_model(OptimizerConfig)
"""The optimizer as a spec writes it: ``lr`` may be a list (a grid axis)."""


class EvaluationConfig(_Strict):
    """Test-split evaluation: how often, and how many test points the latent distances use."""

    every: Annotated[int, Field(gt=0)] = 5  # the last epoch is always evaluated
    latent_samples: Annotated[int, Field(gt=1)] = 2000
    batch_size: Annotated[int, Field(gt=0)] = 500
    # Image grids change no metric and FID is off by default: at their defaults they stay out
    # of the resolved config, so trial ids of specs that do not set them do not change.
    images: bool = Field(
        True,
        exclude_if=lambda v: v is True,
        description="log sample, reconstruction and interpolation grids (image data only)",
    )
    images_every: Annotated[int, Field(gt=0)] | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="epochs between image grids (null: at every evaluation); the last always",
    )
    fid: FIDConfig | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="standard Inception FID of generated samples (aesweep.fid); null: off",
    )


class ComputeConfig(_Strict):
    """How a trial computes on a GPU: mixed precision (bfloat16 autocast of the networks; every
    loss and distance stays float32) and ``torch.compile`` of the networks. Both off by default;
    ``amp`` has no effect on a CPU."""

    amp: bool = False
    compile: bool = False


class SelectionConfig(_Strict):
    """How ``results`` picks the best learning rate / λ: MoW uses the lowest test cost."""

    metric: str = "cost"
    mode: Literal["min", "max"] = "min"


class ResourcesConfig(_Strict):
    """Per-trial resources. ``auto`` GPUs: a share of one GPU when there is one, else none."""

    cpus_per_trial: Annotated[float, Field(gt=0)] = 1.0
    gpus_per_trial: Annotated[float, Field(ge=0)] | Literal["auto"] = "auto"


class TrackingConfig(_Strict):
    """Where results go: MLflow (``uri``, ``experiment``) and Ray Tune's storage."""

    uri: str = "sqlite:///mlflow.db"
    experiment: str | None = None
    storage: str = "aesweep_runs"


class CheckpointConfig(_Strict):
    every: Annotated[int, Field(gt=0)] = 1
    keep: Annotated[int, Field(gt=0)] = 2


class FailureConfig(_Strict):
    max_retries: Annotated[int, Field(ge=0)] = 2


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


class SweepSpec(_Strict):
    """One YAML file: what to train, over which grid, and where results go."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)]
    data: Annotated[list[DataEntry], BeforeValidator(_as_list), Field(min_length=1)] = Field(
        default_factory=lambda: [DATA_CONFIGS.get("digits")()]
    )
    models: Annotated[list[ModelEntry], Field(min_length=1)]
    strategies: Annotated[list[StrategyEntry], Field(min_length=1)] = Field(
        default_factory=lambda: [grid_model(MinibatchConfig)()]
    )
    optimizer: OptimizerGrid = Field(default_factory=lambda: OptimizerGrid())
    epochs: Annotated[int, Field(gt=0)] = 10
    seeds: Annotated[list[int], BeforeValidator(_as_list), Field(min_length=1)] = [0]
    evaluation: EvaluationConfig = EvaluationConfig()
    compute: ComputeConfig = ComputeConfig()
    selection: SelectionConfig = SelectionConfig()
    resources: ResourcesConfig = ResourcesConfig()
    tracking: TrackingConfig = TrackingConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    failure: FailureConfig = FailureConfig()

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or self.name
