"""One trial, fully resolved (:class:`TrialConfig`), what the driver hands it
(:class:`TrialPayload`), and its id.

A trial id is a short hash of the fields that decide what the trial computes, so the same spec
always yields the same ids and a resubmitted sweep finds its finished trials.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, Field, SerializeAsAny

from aesweep.config.base import StrictConfig
from aesweep.config.data import DATASETS, READING_FIELDS, DataConfig
from aesweep.config.evaluation import CheckpointConfig, ComputeConfig, EvaluationConfig
from aesweep.config.models import MODELS, ModelConfig
from aesweep.config.optimizer import OptimizerConfig
from aesweep.config.registry import Registry
from aesweep.config.strategies import STRATEGIES, StrategyConfig

IDENTITY_FIELDS = ("data", "model", "strategy", "optimizer", "epochs", "seed", "evaluation")
"""Fields that decide what a trial computes; everything else (name, resources, tracking) may
change without changing the trial."""
OPTIONAL_IDENTITY_FIELDS = ("compute",)
"""Part of the identity only when not default (they are left out of the resolved config)."""
FORMER_MODEL_DEFAULTS: dict[str, Any] = {
    "architecture": "mlp",
    "width": 1.0,
    "lambda": 1.0,
    "prior": "gaussian",
    "reconstruction": "sqrt_sum",
}
"""Fields every family once had, at the values they always had where they do not apply (λ of
the plain AE, CW²'s per-image reconstruction, the generator's networks): an id hashes them, so
the ids of trials planned before the families' configs were split stay what they were."""

B = TypeVar("B", bound=BaseModel)


def _by_tag(registry: Registry[type[B]], tag: str) -> Callable[[Any], Any]:
    """A before-validator: a dict becomes the registered config class its ``tag`` names."""

    def pick(value: Any) -> Any:
        if isinstance(value, dict) and tag in value:
            return registry.get(value[tag]).model_validate(value)
        return value

    return pick


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> dotted keys of scalar values."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


class TrialConfig(StrictConfig):
    """One trial, fully resolved: what the trainable receives. ``data``, ``model`` and
    ``strategy`` hold the registered config class their tag names."""

    trial_id: str
    sweep: str
    data: SerializeAsAny[Annotated[DataConfig, BeforeValidator(_by_tag(DATASETS, "dataset"))]]
    model: SerializeAsAny[Annotated[ModelConfig, BeforeValidator(_by_tag(MODELS, "family"))]]
    strategy: SerializeAsAny[
        Annotated[StrategyConfig, BeforeValidator(_by_tag(STRATEGIES, "kind"))]
    ]
    optimizer: OptimizerConfig
    epochs: int
    seed: int
    evaluation: EvaluationConfig
    checkpoint: CheckpointConfig
    compute: ComputeConfig = Field(
        default_factory=ComputeConfig, exclude_if=lambda c: c.identity() == ComputeConfig()
    )  # left out of the resolved config when default, so existing trial ids stay

    @cached_property
    def _resolved(self) -> dict[str, Any]:
        """Dumped once per trial (the config is frozen): planning and preparing a sweep of
        10,000 trials read it several times each."""
        out: dict[str, Any] = self.model_dump(
            mode="json", by_alias=True, exclude={"trial_id", "sweep"}
        )
        return out

    @cached_property
    def _flat(self) -> dict[str, Any]:
        return flatten(self._resolved)

    def resolved(self) -> dict[str, Any]:
        """The JSON-able config (aliases as in a spec), without id and sweep name (a copy of
        its own: the caller may change it)."""
        out: dict[str, Any] = _copied(self._resolved)
        return out

    def resolved_view(self) -> dict[str, Any]:
        """:meth:`resolved` without the copy, for readers only (never change it): what the
        planner and the driver read of every trial, several times each."""
        return self._resolved

    def flat(self) -> dict[str, Any]:
        """Dotted keys -> scalar values (what MLflow gets as params)."""
        return dict(self._flat)

    def __getstate__(self) -> dict[Any, Any]:
        """Pickled (a payload shipped to a trial) without the cached dumps: half the bytes."""
        state: dict[Any, Any] = super().__getstate__()
        kept = {k: v for k, v in state["__dict__"].items() if k not in _CACHED}
        return {**state, "__dict__": kept}

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; the cached dumps go unless ``update`` changes only the id or sweep name
        (which they leave out)."""
        out = super().model_copy(update=update, deep=deep)
        if update and not set(update) <= {"trial_id", "sweep"}:
            for name in _CACHED:
                out.__dict__.pop(name, None)
        return out

    @property
    def group_key(self) -> tuple[str, str, str]:
        """(dataset, model, strategy): one row of a results table."""
        return (self.data.dataset, self.model.label, self.strategy.label)

    def logged_metrics(self) -> frozenset[str]:
        """The metrics this trial logs (its model's family decides; see config/metrics.py)."""
        return self.model.logged_metrics(self)

    def located(self, base: Path) -> TrialConfig:
        """This trial with its data's relative location made absolute against ``base``; the id
        stays the one planned from the spec as written."""
        return self.model_copy(update={"data": self.data.located(base)})

    def with_id(self) -> TrialConfig:
        """This trial with its id computed from its resolved config."""
        return self.model_copy(update={"trial_id": trial_id(self.resolved_view())})


_CACHED = ("_resolved", "_flat")


def _copied(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, scalars): much cheaper than a dump."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


def display_name(trial: TrialConfig) -> str:
    """``cwae-minibatch(32)-lr0.001-s0-<id>``: a trial's run name and Tune folder."""
    lr = f"lr{trial.optimizer.lr:g}"
    return f"{trial.model.label}-{trial.strategy.label}-{lr}-s{trial.seed}-{trial.trial_id}"


def trial_id(resolved: dict[str, Any]) -> str:
    """The id of a resolved trial config: sha256 of its identity fields, 10 hex digits."""
    identity = {k: resolved[k] for k in IDENTITY_FIELDS}
    identity["data"] = {k: v for k, v in identity["data"].items() if k not in READING_FIELDS}
    identity["model"] = {**FORMER_MODEL_DEFAULTS, **identity["model"]}
    identity.update({k: resolved[k] for k in OPTIONAL_IDENTITY_FIELDS if k in resolved})
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


class TrialPayload(StrictConfig):
    """Everything the driver hands one trial function (Ray Tune or inline), typed."""

    trial: TrialConfig
    tracking_uri: str = Field(description="the MLflow store, absolute")
    run_id: str = Field(description="the trial's child run, created by the driver")
    resume_from: str | None = Field(
        None, description="a checkpoint folder the driver found for this trial id"
    )
    threads: Annotated[int, Field(gt=0)] = Field(1, description="torch threads")
    use_gpu: bool = False
    inline_dir: str | None = Field(
        None, description="the inline runner's checkpoint folder for this trial (Ray: none)"
    )
    rank_metric: str | None = Field(
        None, description="the metric a searcher or scheduler ranks by: in every Tune report"
    )
    rank_mode: Literal["min", "max"] = Field("min", description="min or max: its worst is ±inf")
    system_metrics_s: Annotated[float, Field(gt=0)] | None = Field(
        None, description="seconds between samples of the node's CPU, memory, GPU (None: off)"
    )
