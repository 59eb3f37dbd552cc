"""Config of the moving_window strategy (its implementation: strategy.py beside it)."""

from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from aesweep.config.distances import DistanceKind, kinds_where
from aesweep.config.grid import Sweepable
from aesweep.config.strategies import STRATEGIES, StrategyConfig


@STRATEGIES.register(
    "moving_window", implementation="aesweep.strategies.moving_window.strategy:MovingWindow"
)
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
    supports: ClassVar[frozenset[DistanceKind]] = kinds_where(space="latent")
    """Distance kinds it feeds: latent distances: the buffer stores latents."""

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

    images_per_step_field: ClassVar[str | None] = "fresh"

    @property
    def images_per_step(self) -> int:
        return self.fresh
