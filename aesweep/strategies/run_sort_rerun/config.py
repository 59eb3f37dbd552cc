"""Config of the run_sort_rerun strategy (its implementations beside it: strategy.py for
autoencoders, generator.py for the data-space generator)."""

from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from aesweep.config.distances import DistanceKind, kinds_where
from aesweep.config.grid import Sweepable
from aesweep.config.strategies import STRATEGIES, StrategyConfig


@STRATEGIES.register(
    "run_sort_rerun",
    implementation="aesweep.strategies.run_sort_rerun.strategy:RunSortReRun",
    generator="aesweep.strategies.run_sort_rerun.generator:RunSortReRunGenerator",
)
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
    supports: ClassVar[frozenset[DistanceKind]] = kinds_where(sliced=True)
    """Distance kinds it feeds: sliced ones only (the sort works on 1-D projections)."""

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

    images_per_step_field: ClassVar[str | None] = "effective_batch"

    @property
    def images_per_step(self) -> int:
        return self.effective_batch
