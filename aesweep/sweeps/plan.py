"""Expansion of a spec into trials: the cartesian product of its axes, with stable ids
(:func:`aesweep.config.trial.trial_id`), and the compatibility rules between its entries.

Pure (no Ray, no torch).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from aesweep.config.grid import axis_sizes, expand_raw, scalar_model
from aesweep.config.models import AutoencoderConfig
from aesweep.config.optimizer import OptimizerConfig
from aesweep.config.trial import TrialConfig
from aesweep.sweeps.spec import DEFAULT_SELECTION_OVER, SweepSpec


@dataclass(frozen=True)
class PlanProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PlanError(Exception):
    """The spec is well-formed but some of its grid points are not valid trials."""

    def __init__(self, problems: list[PlanProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(map(str, problems)))


def _expand_entries(
    entries: Sequence[BaseModel], section: str
) -> tuple[list[Any], list[PlanProblem]]:
    configs: list[Any] = []
    problems: list[PlanProblem] = []
    for i, entry in enumerate(entries):
        cls = scalar_model(entry)
        for raw in expand_raw(entry):
            try:
                configs.append((i, cls.model_validate(raw)))
            except ValidationError as exc:
                for err in exc.errors():
                    where = ".".join(str(p) for p in err["loc"])
                    path = f"{section}[{i}]" + (f".{where}" if where else "")
                    msg = err["msg"].removeprefix("Value error, ")
                    problems.append(PlanProblem(path, msg))
    return configs, problems


def plan(spec: SweepSpec) -> list[TrialConfig]:
    """All trials of ``spec``, in a stable order (data, model, strategy, lr, seed)."""
    models, problems = _expand_entries(spec.models, "models")
    strategies, more = _expand_entries(spec.strategies, "strategies")
    problems += more
    optimizers = [OptimizerConfig.model_validate(r) for r in expand_raw(spec.optimizer)]
    for (i, m), (j, s) in itertools.product(models, strategies):
        if m.distance not in s.supports:
            needs = " or ".join(sorted(k.name for k in s.supports if k.set_term))
            problems.append(
                PlanProblem(
                    f"models[{i}] x strategies[{j}]",
                    f"{s.kind} works only with a {needs} distance, and {m.family} "
                    f"regularises {m.distance.name if m.distance.set_term else 'no set distance'}; "
                    "list them in separate specs",
                )
            )
    if optimizers[0].schedule is not None:  # not an axis: the same in every expansion
        for i, m in models:
            if not isinstance(m, AutoencoderConfig):
                problems.append(
                    PlanProblem(
                        "optimizer.schedule",
                        f"applies to autoencoder training; {m.family} (models[{i}]) trains with "
                        "its own schedule: leave optimizer.schedule unset for it",
                    )
                )
    if problems:
        # One line per problem, even when it repeats over a grid axis.
        raise PlanError(list(dict.fromkeys(problems)))
    trials = []
    for data, (_, model), (_, strategy), opt, seed in itertools.product(
        spec.data, models, strategies, optimizers, spec.seeds
    ):
        body = {
            "data": data,
            "model": model,
            "strategy": strategy,
            "optimizer": opt,
            "epochs": spec.epochs,
            "seed": seed,
            "evaluation": spec.evaluation,
            "checkpoint": spec.checkpoint,
            "compute": spec.compute,
        }
        trials.append(TrialConfig(trial_id="", sweep=spec.name, **body).with_id())
    problems = _selection_problems(spec, trials)
    if problems:
        raise PlanError(problems)
    return trials


def _selection_problems(spec: SweepSpec, trials: list[TrialConfig]) -> list[PlanProblem]:
    """``selection.over`` names fields of the trials (the defaults may be absent: a family
    without λ), never the seed."""
    known = {k for t in trials for k in t.flat()}
    axes = ", ".join(varying_keys(trials)) or "none"
    problems = []
    for key in spec.selection.over:
        if key == "seed":
            problems.append(PlanProblem("selection.over", "seeds are averaged, never selected"))
        elif key not in known and key not in DEFAULT_SELECTION_OVER:
            problems.append(
                PlanProblem(
                    "selection.over", f"{key!r} is no field of this spec's trials (axes: {axes})"
                )
            )
    return problems


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 or word == "lr" else f"{n} {word}s"


def summary(spec: SweepSpec, trials: list[TrialConfig]) -> str:
    """``12 trials: 3 models x 2 strategies x 2 lr x 1 seed``."""
    n_models = sum(_count(e) for e in spec.models)
    n_strategies = sum(_count(e) for e in spec.strategies)
    factors = []
    if len(spec.data) > 1:
        factors.append(_plural(len(spec.data), "dataset"))
    factors += [
        _plural(n_models, "model"),
        _plural(n_strategies, "strategy").replace("strategys", "strategies"),
        _plural(_count(spec.optimizer), "lr"),
        _plural(len(spec.seeds), "seed"),
    ]
    return f"{_plural(len(trials), 'trial')}: " + " x ".join(factors)


def _count(entry: BaseModel) -> int:
    n = 1
    for size in axis_sizes(entry).values():
        n *= size
    return n


def varying_keys(trials: list[TrialConfig]) -> list[str]:
    """The dotted config keys whose value differs between trials, in config order."""
    flats = [t.flat() for t in trials]
    keys: list[str] = []
    for flat in flats:
        keys += [k for k in flat if k not in keys]
    # A key only some trials have (a family's own field) varies only if its values differ.
    return [k for k in keys if len({json.dumps(f[k]) for f in flats if k in f}) > 1]
