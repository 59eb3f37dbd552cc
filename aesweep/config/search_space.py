"""Distributions a ``Sweepable`` field may take under ``search.algorithm: random`` or ``optuna``:
``{loguniform: [a, b]}``, ``{uniform: [a, b]}``, ``{choice: [v, ...]}`` (Ray Tune's
``tune.loguniform``, ``tune.uniform``, ``tune.choice``). Under ``grid`` they are refused (by
the planner, naming the field). Pure: drawing takes a ``random.Random``.
"""

from __future__ import annotations

import math
import random
from typing import Annotated, Any

from pydantic import Field, model_validator

from aesweep.config.base import StrictConfig

DISTRIBUTION_KEYS = ("loguniform", "uniform", "choice")

Number = Annotated[float, Field(allow_inf_nan=False)]


class Distribution(StrictConfig):
    """A search distribution over one field's values."""

    def sample(self, rng: random.Random, integer: bool = False) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class Range(Distribution):
    """A distribution over an interval [low, high] (its ends can be drawn)."""

    def bounds(self) -> tuple[float, float]:
        raise NotImplementedError

    def _check(self, low: float, high: float, *, positive: bool) -> None:
        if positive and low <= 0:
            raise ValueError(f"the bounds of a log-uniform distribution are > 0 (got {low:g})")
        if not low < high:
            raise ValueError(f"[low, high] with low < high (got [{low:g}, {high:g}])")


class LogUniform(Range):
    """``{loguniform: [a, b]}``: log-uniform on [a, b], 0 < a < b (learning rates, λ)."""

    loguniform: tuple[Number, Number] = Field(description="[low, high], 0 < low < high")

    @model_validator(mode="after")
    def _ordered(self) -> LogUniform:
        self._check(*self.loguniform, positive=True)
        return self

    def bounds(self) -> tuple[float, float]:
        return self.loguniform

    def sample(self, rng: random.Random, integer: bool = False) -> Any:
        low, high = self.loguniform
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
        return round(value) if integer else value

    def describe(self) -> str:
        return f"loguniform({self.loguniform[0]:g}, {self.loguniform[1]:g})"


class Uniform(Range):
    """``{uniform: [a, b]}``: uniform on [a, b], a < b."""

    uniform: tuple[Number, Number] = Field(description="[low, high], low < high")

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        self._check(*self.uniform, positive=False)
        return self

    def bounds(self) -> tuple[float, float]:
        return self.uniform

    def sample(self, rng: random.Random, integer: bool = False) -> Any:
        value = rng.uniform(*self.uniform)
        return round(value) if integer else value

    def describe(self) -> str:
        return f"uniform({self.uniform[0]:g}, {self.uniform[1]:g})"


class Choice(Distribution):
    """``{choice: [v, ...]}``: one of the values, each equally likely."""

    choice: Annotated[list[Any], Field(min_length=1)] = Field(description="the values")

    def sample(self, rng: random.Random, integer: bool = False) -> Any:
        return rng.choice(self.choice)

    def describe(self) -> str:
        return "choice(" + ", ".join(map(str, self.choice)) + ")"


SearchDistribution = LogUniform | Uniform | Choice
_BY_KEY: dict[str, type[Distribution]] = {
    "loguniform": LogUniform,
    "uniform": Uniform,
    "choice": Choice,
}


def is_distribution_input(value: Any) -> bool:
    """A mapping with one key, ``loguniform``, ``uniform`` or ``choice``."""
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _BY_KEY


def parse_distribution(value: dict[str, Any]) -> Distribution:
    """The distribution a ``{kind: ...}`` mapping names (validation errors propagate)."""
    return _BY_KEY[next(iter(value))].model_validate(value)


def sample_axis(values: Any, rng: random.Random, integer: bool = False) -> Any:
    """One draw of a sweepable field: a distribution samples; a list is a choice."""
    if isinstance(values, Distribution):
        return values.sample(rng, integer)
    return rng.choice(values)


def describe_axis(values: Any) -> str:
    if isinstance(values, Distribution):
        return values.describe()
    return "choice(" + ", ".join(map(str, values)) + ")"
