"""The sweep spec a researcher writes, as pydantic v2 models (DESIGN: Spec sketch).

Lists in sweepable fields are grid axes; scalars are fixed; unknown keys are errors. The
model, strategy and dataset entries are discriminated unions built from the registries.
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, model_validator

from aesweep.catalog import DATASETS, MODELS, STRATEGIES
from aesweep.config.base import Registered, StrictConfig
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
from aesweep.sweeps.searches import SEARCHES, search_kind

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


DEFAULT_SELECTION_OVER = ("optimizer.lr", "model.lambda")


class SelectionConfig(StrictConfig):
    """How ``results`` picks the best grid point of each row: MoW uses the lowest test cost
    over lr (MoW §4); LCW the lowest FID over batch size and lr (LCW, experiments:
    ``over: [optimizer.lr, strategy.batch_size]``). ``over``: the dotted config keys chosen
    over (checked against the trials' fields when the spec is planned); every other varying
    key makes rows of its own."""

    metric: str = Field(
        "cost", description="a metric every trial logs (README 'Metrics'), e.g. cost, fid"
    )
    mode: Literal["min", "max"] = Field("min", description="min: lowest is best; max: highest")
    over: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SELECTION_OVER),
        description="dotted keys of the axes the selection chooses over (default lr and λ)",
    )


class ResourcesConfig(StrictConfig):
    """Per-trial resources. ``auto`` GPUs: a share of one GPU when there is one, else none."""

    cpus_per_trial: Annotated[float, Field(gt=0)] = Field(
        1.0, description="CPUs Ray reserves per trial (1 + data.workers for streamed data)"
    )
    gpus_per_trial: Annotated[float, Field(ge=0)] | Literal["auto"] = Field(
        "auto", description="GPUs (or a share of one) per trial; auto: a share if there is one"
    )
    memory_per_trial: Annotated[float, Field(gt=0)] | None = Field(
        None, description="GiB of memory Ray reserves per trial (null: none reserved)"
    )


DEFAULT_SYSTEM_METRICS_INTERVAL_S = 10.0
"""MLflow's default; benchmarks/bench_system_metrics.py measures what a sample costs."""


STORAGE_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss", "file")
"""The URIs ``tracking.storage`` takes: the filesystems pyarrow opens."""


def _storage_uri(value: str) -> str:
    """A folder, or a URI of a filesystem pyarrow opens naming where (a bucket, a path)."""
    scheme, sep, rest = value.partition("://")
    if not sep or not scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        return value  # a folder
    allowed = ", ".join(f"{s}://" for s in STORAGE_SCHEMES)
    if scheme.lower() not in STORAGE_SCHEMES:
        raise ValueError(f"{scheme}:// is no storage aesweep can use; a folder or {allowed}")
    if not rest.strip("/"):
        raise ValueError(f"{value} names no {'folder' if scheme == 'file' else 'bucket'}")
    return value


class TrackingConfig(StrictConfig):
    """Where results go: MLflow (``uri``, ``experiment``) and Ray Tune's storage."""

    uri: Annotated[str, Field(min_length=1)] = Field(
        "sqlite:///mlflow.db", description="the MLflow tracking store (sqlite:/// or http://)"
    )
    experiment: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="the MLflow experiment (null: the spec's name)"
    )
    storage: Annotated[str, Field(min_length=1), AfterValidator(_storage_uri)] = Field(
        "aesweep_runs",
        description="Ray Tune's storage: checkpoints, shared by every node; a folder or a URI "
        "(s3://bucket/prefix: credentials and endpoint from the AWS_* environment)",
    )
    system_metrics: bool = Field(
        True,
        description="log the node's CPU, memory and GPU use over time into every trial's run "
        "(MLflow system metrics, system/*; needs psutil)",
    )
    system_metrics_interval: Annotated[float, Field(gt=0)] = Field(
        DEFAULT_SYSTEM_METRICS_INTERVAL_S,
        description="seconds between system-metrics samples (each costs a few milliseconds)",
    )

    @property
    def system_metrics_s(self) -> float | None:
        """The sampling interval trials get, or None when system metrics are off."""
        return self.system_metrics_interval if self.system_metrics else None


class FailureConfig(StrictConfig):
    max_retries: Annotated[int, Field(ge=0)] = Field(
        2, description="times Ray retries a trial whose process died, from its checkpoint"
    )


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


class SchedulerConfig(StrictConfig):
    """An early-stopping scheduler over the epochs: Ray Tune's ``ASHAScheduler`` (``time_attr``
    the epoch), deciding on ``metric`` at evaluation epochs. ``audit``: the first K trials it
    stops at the earliest rung run to the end anyway (``results --stopping`` then reports
    whether stopping was safe)."""

    kind: Literal["asha"] = Field(description="asha: Ray Tune's ASHAScheduler")
    metric: str | None = Field(None, description="the metric it ranks by (null: selection's)")
    mode: Literal["min", "max"] | None = Field(None, description="null: selection's mode")
    grace_period: Annotated[int, Field(gt=0)] = Field(
        1,
        description="epochs every trial runs before it can be stopped (a multiple of "
        "evaluation.every)",
    )
    reduction_factor: Annotated[float, Field(gt=1)] = Field(
        3.0, description="1/reduction_factor of the trials go on past each rung"
    )
    max_t: Annotated[int, Field(gt=0)] | None = Field(
        None, description="the last epoch it decides at (null: epochs)"
    )
    audit: Annotated[int, Field(ge=0)] = Field(
        0, description="K trials stopped at the earliest rung run to the end anyway"
    )


class SearchConfig(StrictConfig):
    """How the trials are chosen: the full grid (lists are axes), ``random`` draws planned
    before the run (seeded: the same spec plans the same trials), or ``optuna`` (Ray Tune's
    OptunaSearch, TPE); and an optional early-stopping scheduler."""

    algorithm: Annotated[str, Registered(SEARCHES)] = Field(
        "grid", description="grid: lists are axes; random, optuna: draw num_samples configs"
    )
    num_samples: Annotated[int, Field(gt=0)] | None = Field(
        None, description="random / optuna: configurations drawn (per data x model x strategy)"
    )
    seed: int = Field(0, description="the seed of the draws (random) and of the sampler (optuna)")
    scheduler: SchedulerConfig | None = Field(None, description="early stopping (null: none)")

    @model_validator(mode="after")
    def _samples(self) -> SearchConfig:
        draws = search_kind(self.algorithm).draws
        if draws and self.num_samples is None:
            raise ValueError(f"search.algorithm {self.algorithm} needs search.num_samples")
        if not draws and self.num_samples is not None:
            drawing = " and ".join(n for n in SEARCHES if SEARCHES.get(n).draws)
            raise ValueError(f"search.num_samples applies to {drawing}, not {self.algorithm}")
        return self


class SweepSpec(StrictConfig):
    """One YAML file: what to train, over which grid, and where results go."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)] = Field(
        description="the sweep's name: letters, digits, _ . - (the default MLflow experiment)"
    )
    data: Annotated[
        list[DataEntry], BeforeValidator(_as_list), Field(min_length=1), SCALAR_OR_LIST
    ] = Field(
        default_factory=lambda: [DATASETS.get("digits")(dataset="digits")],
        description="a dataset, or a list of datasets (an axis); default: digits",
    )
    models: Annotated[list[ModelEntry], Field(min_length=1)] = Field(
        description="model entries: a family and its fields; lists in sweepable fields are axes"
    )
    strategies: Annotated[list[StrategyEntry], Field(min_length=1)] = Field(
        default_factory=lambda: [grid_model(MinibatchConfig)()],
        description="training strategies (an axis); default: minibatch(64)",
    )
    optimizer: OptimizerGrid = Field(
        default_factory=lambda: OptimizerGrid(), description="the autoencoder's optimiser"
    )
    epochs: Annotated[int, Field(gt=0)] = Field(10, description="training epochs per trial")
    seeds: Annotated[
        list[int],
        BeforeValidator(_as_list),
        Field(min_length=1),
        AfterValidator(no_duplicates),
        SCALAR_OR_LIST,
    ] = Field([0], description="a seed or a list of seeds (an axis)")
    evaluation: EvaluationConfig = Field(
        EvaluationConfig(), description="test-split evaluation: how often, how many, FID"
    )
    compute: ComputeConfig = Field(ComputeConfig(), description="mixed precision, torch.compile")
    selection: SelectionConfig = Field(
        SelectionConfig(), description="how results picks each row's lr and λ"
    )
    resources: ResourcesConfig = Field(ResourcesConfig(), description="CPUs and GPUs per trial")
    tracking: TrackingConfig = Field(
        TrackingConfig(), description="where results go: MLflow and Ray Tune's storage"
    )
    checkpoint: CheckpointConfig = Field(
        CheckpointConfig(), description="how often trials checkpoint, how many kept"
    )
    failure: FailureConfig = Field(FailureConfig(), description="retries of a failed trial")
    search: SearchConfig = Field(
        SearchConfig(), description="grid (default), random or optuna search; early stopping"
    )

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or self.name

    @property
    def rank_metric(self) -> tuple[str, Literal["min", "max"]]:
        """The metric and mode a searcher or scheduler ranks by (the scheduler's, else the
        selection's)."""
        sched = self.search.scheduler
        metric = (sched.metric if sched else None) or self.selection.metric
        mode = (sched.mode if sched else None) or self.selection.mode
        return metric, mode


SCHEMA_FILE = "aesweep.schema.json"
"""The JSON Schema of a spec, committed beside the shipped specs (``aesweep schema``)."""


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec (``SweepSpec.model_json_schema()``), for editors: every
    field with its description and default; a discriminated entry requires its tag (as
    validation does) and the tag's description is its class's first docstring line; a
    grid axis admits a value or a list."""
    schema = SweepSpec.model_json_schema()
    defs: dict[str, Any] = schema.get("$defs", {})

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
            return
        if not isinstance(node, dict):
            return
        disc = node.get("discriminator")
        if isinstance(disc, dict) and "propertyName" in disc:  # not a field named so
            tag = disc["propertyName"]
            for ref in disc.get("mapping", {}).values():
                target = defs[ref.rsplit("/", 1)[-1]]
                if tag not in target.setdefault("required", []):
                    target["required"].insert(0, tag)
                prop = target["properties"][tag]
                about = str(target.get("description", "")).strip().split("\n\n")[0]
                prop.setdefault("description", " ".join(about.split()))
        members = node.get("anyOf")
        default = node.get("default")
        axis = isinstance(members, list) and any(
            isinstance(m, dict) and m.get("type") == "array" for m in members
        )
        if axis and isinstance(default, list) and len(default) == 1:
            node["default"] = default[0]  # a grid axis of one value: as a spec writes it
        for value in node.values():
            visit(value)

    visit(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "aesweep sweep spec",
        **{k: v for k, v in schema.items() if k != "title"},
    }
