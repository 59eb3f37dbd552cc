"""Config of the minibatch strategy (its implementations beside it: strategy.py for autoencoders,
generator.py for the data-space generator)."""

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from aesweep.config.distances import DISTANCE_KINDS, DistanceKind
from aesweep.config.grid import Sweepable
from aesweep.config.strategies import STRATEGIES, StrategyConfig


@STRATEGIES.register(
    "minibatch",
    implementation="aesweep.strategies.minibatch.strategy:Minibatch",
    generator="aesweep.strategies.minibatch.generator:MinibatchGenerator",
)
class MinibatchConfig(StrategyConfig):
    """Classical training: n images per step, the distance on their n latents."""

    kind: Literal["minibatch"] = "minibatch"
    supports: ClassVar[frozenset[DistanceKind]] = frozenset(DISTANCE_KINDS.values())
    """Distance kinds it feeds: all: the set is the batch, whatever F is."""
    batch_size: Sweepable[Annotated[int, Field(gt=0)]] = Field(64, description="n: images per step")

    @property
    def label(self) -> str:
        return f"minibatch({self.batch_size})"

    images_per_step_field: ClassVar[str | None] = "batch_size"

    @property
    def images_per_step(self) -> int:
        return self.batch_size
