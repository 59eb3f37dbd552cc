"""Whether every configuration a random or Optuna search can draw from a spec entry is one its
config class takes, checked before anything is drawn. A random search would otherwise refuse
only the draws that happen to fall outside, and Optuna's sampler none before the run: a batch
size range reaching 0 would fail a trial an hour in.

Generic, from the config class itself: each varying field takes its candidate values (a
range's two ends, rounded as both samplers round an integer field's draws, and every integer
of a short integer range; every value of a choice or a list), and the entry is validated at
every combination of them (the corners of the space, since the fields are drawn
independently), so the fields' constraints (``gt``, ``le``, ...) and the class's own
validators (one field against another) decide. An interval constraint holds over a range when
it holds at its ends.
"""

from __future__ import annotations

import itertools
from typing import Any

import annotated_types as at
from pydantic import BaseModel, ValidationError

from aesweep.config.base import shown
from aesweep.config.grid import field_info, fixed_raw, integer_field, scalar_model, search_axes
from aesweep.config.search_space import Choice, Range, describe_axis

BOUND_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})
EVERY_INTEGER_UP_TO = 64
"""An integer range of at most this many values is checked at each (a rule such as CW's
``latent_dim >= 8 or 1 or 2`` has holes no end shows)."""
MAX_COMBINATIONS = 4096
"""Beyond this many corners, each field's candidates are checked with the other fields at
their first candidate."""


def candidates(values: Any, integer: bool) -> list[Any]:
    """The values of one varying field that decide whether all its draws are allowed."""
    if isinstance(values, Choice):
        return list(values.choice)
    if not isinstance(values, Range):
        return list(values)  # a list: sampled from
    low, high = values.bounds()
    if not integer:
        return [low, high]
    first, last = round(low), round(high)
    if last - first < EVERY_INTEGER_UP_TO:
        return list(range(first, last + 1))
    return [first, last]


def allowed_values(cls: type[BaseModel], alias: str) -> str | None:
    """``an integer > 0``, ``a number >= 0 and <= 1``: the field's bounds (None: it has none)."""
    signs = {at.Gt: (">", "gt"), at.Ge: (">=", "ge"), at.Lt: ("<", "lt"), at.Le: ("<=", "le")}
    bounds = []
    for m in field_info(cls, alias).metadata:
        if type(m) in signs:
            sign, attr = signs[type(m)]
            bounds.append(f"{sign} {_show(getattr(m, attr))}")
    if not bounds:
        return None
    kind = "an integer" if integer_field(cls, alias) else "a number"
    return f"{kind} {' and '.join(bounds)}"


def _show(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g}"
    return shown(value)


def _combinations(options: dict[str, list[Any]]) -> list[dict[str, Any]]:
    total = 1
    for values in options.values():
        total *= len(values)
    if total <= MAX_COMBINATIONS:
        return [dict(zip(options, c, strict=True)) for c in itertools.product(*options.values())]
    first = {alias: values[0] for alias, values in options.items()}
    return [{**first, alias: v} for alias, values in options.items() for v in values]


def range_problems(entry: BaseModel) -> dict[str, str]:
    """Alias -> why a search may draw a value of that field its config does not take, for
    the varying fields of a grid entry (empty: every draw is allowed), e.g. ``batch_size``:
    ``uniform(0, 64) draws 0 (an integer field's draws are rounded); allowed: an integer > 0``.
    """
    cls = scalar_model(entry)
    varying = search_axes(entry)
    if not varying:
        return {}
    options = {a: candidates(v, integer_field(cls, a)) for a, v in varying.items()}
    fixed = fixed_raw(entry)
    refused: dict[str, list[tuple[Any, str, str]]] = {}
    for combo in _combinations(options):
        try:
            cls.model_validate({**fixed, **combo})
        except ValidationError as exc:
            for err in exc.errors():
                alias = str(err["loc"][0]) if err["loc"] else ""
                if alias not in combo:
                    continue  # a fixed field's own problem: the planner names it
                seen = refused.setdefault(alias, [])
                value = combo[alias]
                if not any(v == value and type(v) is type(value) for v, _, _ in seen):
                    seen.append((value, err["type"], err["msg"].removeprefix("Value error, ")))
    return {alias: _message(cls, alias, varying[alias], found) for alias, found in refused.items()}


def _message(cls: type[BaseModel], alias: str, values: Any, found: list[Any]) -> str:
    """``uniform(0, 16) draws 0, 3, 4 ... (...): <why>``: the refused values, then each kind
    of reason once (its first message), or the field's bounds when they are the reason."""
    shown_values = ", ".join(_show(v) for v, _, _ in found[:3]) + (" ..." if len(found) > 3 else "")
    if isinstance(values, Range):
        rounded = " (an integer field's draws are rounded)" if integer_field(cls, alias) else ""
        what = f"{describe_axis(values)} draws {shown_values}{rounded}"
    else:
        what = f"{describe_axis(values)} holds {shown_values}"
    allowed = allowed_values(cls, alias)
    if allowed is not None and all(kind in BOUND_ERRORS for _, kind, _ in found):
        return f"{what}; allowed: {allowed}"
    reasons: dict[str, str] = {}
    for _, kind, msg in found:
        reasons.setdefault(kind, msg)
    return f"{what}: " + "; ".join(reasons.values())
