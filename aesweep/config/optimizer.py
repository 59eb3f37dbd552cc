"""The autoencoder's optimiser, and the learning-rate schedules of the papers as a factor of the
base ``optimizer.lr`` per epoch.

WAE §4 (MNIST and CelebA): the base rate, halved after 30 epochs and a tenth after 50
(``multistep``, milestones [30, 50], factors [0.5, 0.1]). MoCA §4: halved every 60 epochs
(``step``, every 60, gamma 0.5; ``until`` 400 for its every-40-epochs CelebA-HQ run). A pure
function of the epoch, so a resumed trial continues on the same rate with no state to save.
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from aesweep.config.base import Described, Registered, StrictConfig
from aesweep.config.grid import Sweepable
from aesweep.config.registry import Registry

OPTIMIZERS: Registry[Described] = Registry("optimizer")
"""``(params, OptimizerConfig) -> torch.optim.Optimizer`` builders (aesweep/trainables)."""
OPTIMIZERS.add(
    "sgd",
    Described("plain SGD with optional momentum and weight decay (MoW)"),
    implementation="aesweep.trainables.optimizers:sgd",
)
OPTIMIZERS.add(
    "adam",
    Described("Adam with betas and weight decay (WAE, LCW, MoCA)"),
    implementation="aesweep.trainables.optimizers:adam",
)


class Schedule(StrictConfig):
    """A learning-rate schedule: the factor of the base rate in each epoch."""

    kind: str

    def factor(self, epoch: int) -> float:
        """The multiplier of the base rate during ``epoch`` (1-based)."""
        raise NotImplementedError


SCHEDULES: Registry[type[Schedule]] = Registry("schedule")


@SCHEDULES.register("step")
class StepSchedule(Schedule):
    """× ``gamma`` after every ``every`` epochs; no further decay after epoch ``until``."""

    kind: Literal["step"] = "step"
    every: Annotated[int, Field(gt=0)] = Field(description="epochs between two decays")
    gamma: Annotated[float, Field(gt=0, le=1)] = Field(0.5, description="factor of each decay")
    until: Annotated[int, Field(gt=0)] | None = Field(
        None, description="no further decay after this epoch (null: decay to the end)"
    )

    def factor(self, epoch: int) -> float:
        done = epoch - 1 if self.until is None else min(epoch - 1, self.until)
        return float(self.gamma ** (done // self.every))


@SCHEDULES.register("multistep")
class MultiStepSchedule(Schedule):
    """After epoch ``milestones[i]`` the rate is base × ``factors[i]``."""

    kind: Literal["multistep"] = "multistep"
    milestones: Annotated[tuple[Annotated[int, Field(gt=0)], ...], Field(min_length=1)] = Field(
        description="epochs after which the rate changes, increasing"
    )
    factors: Annotated[tuple[Annotated[float, Field(gt=0)], ...], Field(min_length=1)] = Field(
        description="the rate after milestones[i] is base lr x factors[i]"
    )

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, milestones: tuple[int, ...]) -> tuple[int, ...]:
        if list(milestones) != sorted(set(milestones)):
            raise ValueError("milestones must increase")
        return milestones

    @field_validator("factors")
    @classmethod
    def _one_per_milestone(
        cls, factors: tuple[float, ...], info: ValidationInfo
    ) -> tuple[float, ...]:
        milestones = info.data.get("milestones")
        if milestones is not None and len(milestones) != len(factors):
            raise ValueError(
                f"milestones and factors need the same length ({len(milestones)} milestones, "
                f"{len(factors)} factors)"
            )
        return factors

    def factor(self, epoch: int) -> float:
        passed = [f for m, f in zip(self.milestones, self.factors, strict=True) if epoch > m]
        return passed[-1] if passed else 1.0


def _schedule_union() -> Any:
    classes = SCHEDULES.values()
    return Annotated[reduce(or_, classes), Field(discriminator="kind")]


if TYPE_CHECKING:
    LRSchedule = Schedule
else:
    LRSchedule = _schedule_union()
    """Any registered schedule, told apart by ``kind`` (a discriminated union)."""


class OptimizerConfig(StrictConfig):
    """The autoencoder's optimiser; ``lr`` is the papers' main grid axis."""

    name: Annotated[str, Registered(OPTIMIZERS)] = Field(
        "adam", description="the optimiser: " + ", ".join(OPTIMIZERS)
    )
    lr: Sweepable[Annotated[float, Field(gt=0)]] = Field(
        1e-3, description="the base learning rate; a list is a grid axis"
    )
    momentum: Annotated[float, Field(ge=0, lt=1)] = Field(0.0, description="SGD momentum")
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = Field(
        (0.9, 0.999), description="Adam's (β1, β2)"
    )
    weight_decay: Annotated[float, Field(ge=0)] = Field(0.0, description="L2 weight decay")
    schedule: LRSchedule | None = Field(
        None,
        exclude_if=lambda v: v is None,  # out of trial ids while unset
        description="a learning-rate schedule (step or multistep); null: constant",
    )
