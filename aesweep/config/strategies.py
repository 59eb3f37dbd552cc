"""The base config of training strategies and their registry (MoW eq. 1: cost = F(Z; V) +
Σ G(x_i); a strategy decides which set F sees).

A strategy registers its config class with ``@STRATEGIES.register("name", implementation=
"aesweep.strategies.<name>.strategy:Class")`` in ``aesweep/strategies/<name>/config.py``; a
``generator=`` role names its step for the data-space generator family, where it has one.
Each strategy declares the distance kinds it can feed (``supports``; no default), which
``plan`` checks against the family's kind before anything runs.
"""

from __future__ import annotations

from typing import ClassVar

from aesweep.config.base import StrictConfig
from aesweep.config.distances import DistanceKind
from aesweep.config.registry import Registry


class StrategyConfig(StrictConfig):
    """Fields shared by all strategies."""

    kind: str
    supports: ClassVar[frozenset[DistanceKind]]
    """The distance kinds (aesweep.config.distances) this strategy can form a set for."""

    @property
    def label(self) -> str:
        return self.kind

    images_per_step_field: ClassVar[str | None] = None
    """The field that sets :attr:`images_per_step` (named when the training split is smaller)."""

    @property
    def images_per_step(self) -> int:
        """How many new training images one optimiser step consumes."""
        raise NotImplementedError


def _check_strategy(name: str, cls: type[StrategyConfig]) -> None:
    supports = cls.__dict__.get("supports")
    if not isinstance(supports, frozenset) or not supports:
        raise TypeError(
            f"strategy {name!r}: {cls.__name__} must declare supports, the distance kinds it "
            "can feed (a non-empty frozenset of aesweep.config.distances kinds)"
        )
    if not all(isinstance(k, DistanceKind) for k in supports):
        raise TypeError(f"strategy {name!r}: supports holds DistanceKind entries only")
    field = cls.images_per_step_field
    if field is not None and field not in cls.model_fields:
        raise TypeError(f"strategy {name!r}: images_per_step_field {field!r} is not a field")


STRATEGIES: Registry[type[StrategyConfig]] = Registry("strategy", check=_check_strategy)
