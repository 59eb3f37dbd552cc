"""Learning-rate schedules of the papers, as a factor of the base ``optimizer.lr`` per epoch.

WAE §4 (MNIST and CelebA): the base rate, halved after 30 epochs and a tenth after 50
(``multistep``, milestones [30, 50], factors [0.5, 0.1]). MoCA §4: halved every 60 epochs
(``step``, every 60, gamma 0.5; ``until`` 400 for its every-40-epochs CelebA-HQ run). A pure
function of the epoch, so a resumed trial continues on the same rate with no state to save.
Torch-free: the spec imports it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def factor(self, epoch: int) -> float:
        """The multiplier of the base rate during ``epoch`` (1-based)."""
        raise NotImplementedError


class StepSchedule(_Schedule):
    """× ``gamma`` after every ``every`` epochs; no further decay after epoch ``until``."""

    kind: Literal["step"] = "step"
    every: Annotated[int, Field(gt=0)]
    gamma: Annotated[float, Field(gt=0, le=1)] = 0.5
    until: Annotated[int, Field(gt=0)] | None = None

    def factor(self, epoch: int) -> float:
        done = epoch - 1 if self.until is None else min(epoch - 1, self.until)
        return self.gamma ** (done // self.every)


class MultiStepSchedule(_Schedule):
    """After epoch ``milestones[i]`` the rate is base × ``factors[i]``."""

    kind: Literal["multistep"] = "multistep"
    milestones: Annotated[tuple[Annotated[int, Field(gt=0)], ...], Field(min_length=1)]
    factors: Annotated[tuple[Annotated[float, Field(gt=0)], ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _matching(self) -> MultiStepSchedule:
        if len(self.milestones) != len(self.factors):
            raise ValueError("milestones and factors need the same length")
        if list(self.milestones) != sorted(set(self.milestones)):
            raise ValueError("milestones must increase")
        return self

    def factor(self, epoch: int) -> float:
        passed = [f for m, f in zip(self.milestones, self.factors, strict=True) if epoch > m]
        return passed[-1] if passed else 1.0


LRSchedule = Annotated[StepSchedule | MultiStepSchedule, Field(discriminator="kind")]
