"""Strategy configs and their registry (MoW eq. 1: cost = F(Z; V) + Σ G(x_i)).

A strategy decides which set F sees. ``supports`` lists the distances it can feed (plan.py
rejects any other model x strategy pair before anything runs); ``None`` in it means a family
with no latent term (the plain AE). Constraints between a strategy's own fields are field
validators reading the fields declared before them, so an error names the field at fault.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from aesweep.registry import Registry
from aesweep.sweeps.grid import Sweepable

LATENT_DISTANCES: frozenset[str | None] = frozenset({None, "mmd", "cw", "sliced", "contrastive"})
"""Distances between a set of latents and the prior (or None: no latent term)."""
ALL_DISTANCES: frozenset[str | None] = LATENT_DISTANCES | {"sliced_data"}
SLICED_DISTANCES: frozenset[str | None] = frozenset({"sliced", "sliced_data"})


class StrategyConfig(BaseModel):
    """Fields shared by all strategies."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    kind: str
    implementation: ClassVar[str]
    supports: ClassVar[frozenset[str | None]] = ALL_DISTANCES

    @property
    def label(self) -> str:
        return self.kind

    @property
    def images_per_step(self) -> int:
        """How many new training images one optimiser step consumes."""
        raise NotImplementedError


STRATEGY_CONFIGS: Registry[type[StrategyConfig]] = Registry("strategy")


@STRATEGY_CONFIGS.register("minibatch")
class MinibatchConfig(StrategyConfig):
    """Classical training: n images per step, the distance on their n latents."""

    kind: Literal["minibatch"] = "minibatch"
    batch_size: Sweepable[Annotated[int, Field(gt=0)]] = 64
    implementation: ClassVar[str] = "aesweep.strategies.minibatch:Minibatch"

    @property
    def label(self) -> str:
        return f"minibatch({self.batch_size})"

    @property
    def images_per_step(self) -> int:
        return self.batch_size


@STRATEGY_CONFIGS.register("moving_window")
class MovingWindowConfig(StrategyConfig):
    """MoW_k(n) (MoW §3, Algorithm 1): k new images per step; the distance sees their k fresh
    latents (with gradient) and the n - k latents kept from earlier steps (no gradient);
    reconstruction on the k new images only. MoW(n, k = n) is minibatch(n) exactly."""

    kind: Literal["moving_window"] = "moving_window"
    window: Sweepable[Annotated[int, Field(gt=0)]] = Field(64, description="n: rows F sees")
    fresh: Sweepable[Annotated[int, Field(gt=0)]] = Field(
        1, description="k: new images (and latents with gradient) per step; k <= n"
    )
    reset_each_epoch: bool = Field(
        True,
        description="refill the n - k stored latents with prior samples at each epoch "
        "start (the authors' code); false: fill once, carry over epochs",
    )
    implementation: ClassVar[str] = "aesweep.strategies.moving_window:MovingWindow"
    supports: ClassVar[frozenset[str | None]] = LATENT_DISTANCES

    @field_validator("fresh")
    @classmethod
    def _fresh_fits_window(cls, fresh: int, info: ValidationInfo) -> int:
        window = info.data.get("window")
        if window is not None and fresh > window:
            raise ValueError(
                f"fresh (k = {fresh}) must not exceed window (n = {window}): the window holds "
                "the k fresh latents plus n - k stored ones"
            )
        return fresh

    @property
    def label(self) -> str:
        return f"moving_window({self.window},{self.fresh})"

    @property
    def images_per_step(self) -> int:
        return self.fresh


@STRATEGY_CONFIGS.register("run_sort_rerun")
class RunSortReRunConfig(StrategyConfig):
    """Run-Sort-ReRun (RSR §3.2, Algorithm 1): a sliced Wasserstein distance over an effective
    batch of b samples, with activations for only m = ``chunk`` of them at a time; the
    accumulated gradient equals the full-batch one. Directions: Algorithm 2 (§3.3)."""

    kind: Literal["run_sort_rerun"] = "run_sort_rerun"
    effective_batch: Sweepable[Annotated[int, Field(gt=0)]] = Field(
        1024, description="b: samples the distance compares per optimiser step"
    )
    chunk: Sweepable[Annotated[int, Field(gt=0)]] = Field(
        64, description="m: samples run through the network at once; must divide b"
    )
    projections: Sweepable[Annotated[int, Field(gt=0)]] = Field(
        50, description="p: projection directions per step"
    )
    keep: Annotated[float, Field(ge=0, lt=1)] = Field(
        1 / 3,
        description="fraction of directions with the largest loss kept for the next step "
        "(Algorithm 2; the rest are renewed from real - generated differences)",
    )
    store: Literal["device", "cpu"] = Field(
        "device", description="where the run's b stored outputs and targets live (cpu for large b)"
    )
    implementation: ClassVar[str] = "aesweep.strategies.run_sort_rerun:RunSortReRun"
    supports: ClassVar[frozenset[str | None]] = SLICED_DISTANCES

    @field_validator("chunk")
    @classmethod
    def _chunk_divides_batch(cls, chunk: int, info: ValidationInfo) -> int:
        batch = info.data.get("effective_batch")
        if batch is not None and batch % chunk:
            raise ValueError(
                f"chunk (m = {chunk}) must divide effective_batch (b = {batch}): the run and "
                "rerun go over b/m whole chunks"
            )
        return chunk

    @property
    def label(self) -> str:
        return f"run_sort_rerun({self.effective_batch},{self.chunk})"

    @property
    def images_per_step(self) -> int:
        return self.effective_batch


@STRATEGY_CONFIGS.register("momentum_queue")
class MomentumQueueConfig(StrategyConfig):
    """MoCA's comparison set (MoCA §3, Algorithm 1; MoCo): a queue of the K most recent keys of a
    momentum encoder Ẽ ← m Ẽ + (1 - m) E, m = 1 - (1 - m0)(cos(π t/T) + 1)/2.

    With MoCA (distance ``contrastive``) the loss is L_MoCo of the fresh latents against the
    queue, the keys of the same images as positives; with MMD or CW the distance sees the fresh
    latents joined with the queue. The temperature τ belongs to the MoCA family (it is part of
    the contrastive distance, also under minibatch and moving_window); K and m0 define the
    comparison set, so they live here."""

    kind: Literal["momentum_queue"] = "momentum_queue"
    batch_size: Sweepable[Annotated[int, Field(gt=0)]] = Field(64, description="B: images/step")
    size: Sweepable[Annotated[int, Field(gt=0)]] = Field(
        30_000, description="K: keys in the queue (MoCA: 30,000 CIFAR-10, 60,000 CelebA); K >= B"
    )
    momentum: Sweepable[Annotated[float, Field(ge=0, le=1)]] = Field(
        0.99, description="m0: base momentum of the cosine schedule (MoCA: 0.99)"
    )
    implementation: ClassVar[str] = "aesweep.strategies.momentum_queue:MomentumQueue"
    supports: ClassVar[frozenset[str | None]] = frozenset({"contrastive", "mmd", "cw"})

    @field_validator("size")
    @classmethod
    def _queue_holds_a_batch(cls, size: int, info: ValidationInfo) -> int:
        batch = info.data.get("batch_size")
        if batch is not None and size < batch:
            raise ValueError(
                f"size (K = {size}) must be at least batch_size (B = {batch}): each step "
                "enqueues the batch's B keys"
            )
        return size

    @property
    def label(self) -> str:
        return f"momentum_queue({self.batch_size},{self.size})"

    @property
    def images_per_step(self) -> int:
        return self.batch_size
