"""The sweep spec a researcher writes, as pydantic v2 models (DESIGN: Spec sketch).

Lists in sweepable fields are grid axes; scalars are fixed; unknown keys are errors. The
model, strategy and dataset entries are discriminated unions built from the registries.
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from aesweep.catalog import DATASETS, MODELS, STRATEGIES
from aesweep.config.base import StrictConfig
from aesweep.config.data import DataConfig
from aesweep.config.evaluation import (
    CheckpointConfig,
    ComputeConfig,
    EvaluationConfig,
)
from aesweep.config.grid import SCALAR_OR_LIST, GridModel, grid_model, no_duplicates
from aesweep.config.optimizer import OptimizerConfig
from aesweep.config.registry import Registry
from aesweep.strategies.minibatch.config import MinibatchConfig

__all__ = [
    "CheckpointConfig",
    "ComputeConfig",
    "EvaluationConfig",
    "OptimizerConfig",
    "SweepSpec",
]


def _union(registry: Registry[type[BaseModel]], *, grid: bool, tag: str) -> Any:
    classes: list[Any] = registry.values()
    if grid:
        classes = [grid_model(c) for c in classes]
    members = reduce(or_, classes) if len(classes) > 1 else classes[0]
    return Annotated[members, Field(discriminator=tag)]


if TYPE_CHECKING:  # the type checker sees the bases; pydantic gets the discriminated unions
    ModelEntry = GridModel
    StrategyEntry = GridModel
    DataEntry = DataConfig
    OptimizerGrid = GridModel
else:
    ModelEntry = _union(MODELS, grid=True, tag="family")
    StrategyEntry = _union(STRATEGIES, grid=True, tag="kind")
    DataEntry = _union(DATASETS, grid=False, tag="dataset")
    OptimizerGrid = grid_model(OptimizerConfig)
    """The optimizer as a spec writes it: ``lr`` may be a list (a grid axis)."""


class SelectionConfig(StrictConfig):
    """How ``results`` picks the best learning rate / λ: MoW uses the lowest test cost."""

    metric: str = "cost"
    mode: Literal["min", "max"] = "min"


class ResourcesConfig(StrictConfig):
    """Per-trial resources. ``auto`` GPUs: a share of one GPU when there is one, else none."""

    cpus_per_trial: Annotated[float, Field(gt=0)] = 1.0
    gpus_per_trial: Annotated[float, Field(ge=0)] | Literal["auto"] = "auto"


class TrackingConfig(StrictConfig):
    """Where results go: MLflow (``uri``, ``experiment``) and Ray Tune's storage."""

    uri: str = "sqlite:///mlflow.db"
    experiment: str | None = None
    storage: str = "aesweep_runs"


class FailureConfig(StrictConfig):
    max_retries: Annotated[int, Field(ge=0)] = 2


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


class SweepSpec(StrictConfig):
    """One YAML file: what to train, over which grid, and where results go."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)]
    data: Annotated[
        list[DataEntry], BeforeValidator(_as_list), Field(min_length=1), SCALAR_OR_LIST
    ] = Field(
        default_factory=lambda: [DATASETS.get("digits")(dataset="digits")]
    )
    models: Annotated[list[ModelEntry], Field(min_length=1)]
    strategies: Annotated[list[StrategyEntry], Field(min_length=1)] = Field(
        default_factory=lambda: [grid_model(MinibatchConfig)()]
    )
    optimizer: OptimizerGrid = Field(default_factory=lambda: OptimizerGrid())
    epochs: Annotated[int, Field(gt=0)] = 10
    seeds: Annotated[
        list[int],
        BeforeValidator(_as_list),
        Field(min_length=1),
        AfterValidator(no_duplicates),
        SCALAR_OR_LIST,
    ] = [0]
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
