"""Strategy configs and their registry (MoW eq. 1: cost = F(Z; V) + Σ G(x_i)).

A strategy decides which set F sees. ``supports`` lists the latent distances it can feed;
``None`` in it means a family with no latent term (the plain AE).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from aesweep.registry import Registry
from aesweep.sweeps.grid import Sweepable

ALL_DISTANCES: frozenset[str | None] = frozenset({None, "mmd", "cw", "sliced", "contrastive"})


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
