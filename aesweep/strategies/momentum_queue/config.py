"""Config of the momentum_queue strategy (its implementation: strategy.py beside it)."""

from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from aesweep.config.distances import CONTRASTIVE, CRAMER_WOLD, MMD, DistanceKind
from aesweep.config.grid import Sweepable
from aesweep.config.strategies import STRATEGIES, StrategyConfig


@STRATEGIES.register(
    "momentum_queue", implementation="aesweep.strategies.momentum_queue.strategy:MomentumQueue"
)
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
    supports: ClassVar[frozenset[DistanceKind]] = frozenset({CONTRASTIVE, MMD, CRAMER_WOLD})
    """Distance kinds it feeds: set distances of latents to the queue."""

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

    images_per_step_field: ClassVar[str | None] = "batch_size"

    @property
    def images_per_step(self) -> int:
        return self.batch_size
