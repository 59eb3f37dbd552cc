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

from aesweep.config.base import shown
from aesweep.config.grid import axis_sizes, expand_raw, scalar_model, sweepable_fields
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


@dataclass(frozen=True)
class Planned:
    """A scalar config expanded from entry ``index`` of a spec section."""

    index: int
    config: Any


def _axis_index(entry: BaseModel, field: str, value: Any) -> str:
    """``[k]`` when ``field`` is a grid axis of ``entry`` with more than one value (the one
    equal to ``value``), else "" (the spec gave one value)."""
    values = getattr(entry, field, None)
    if not isinstance(values, list) or len(values) < 2:
        return ""
    return next((f"[{k}]" for k, v in enumerate(values) if v == value), "")


def _expand_entries(
    entries: Sequence[BaseModel], section: str
) -> tuple[list[Planned], list[PlanProblem]]:
    configs: list[Planned] = []
    problems: list[PlanProblem] = []
    for i, entry in enumerate(entries):
        cls = scalar_model(entry)
        axes = {cls.model_fields[a].alias or a: a for a in sweepable_fields(cls)}
        for raw in expand_raw(entry):
            try:
                configs.append(Planned(i, cls.model_validate(raw)))
            except ValidationError as exc:
                for err in exc.errors():
                    loc = [str(p) for p in err["loc"]]
                    if loc and loc[0] in axes:  # which value of the grid axis
                        loc[0] += _axis_index(entry, axes[loc[0]], raw.get(loc[0]))
                    path = ".".join([f"{section}[{i}]", *loc])
                    msg = err["msg"].removeprefix("Value error, ")
                    problems.append(PlanProblem(path, msg))
    return configs, problems


def _pairs(spec: SweepSpec, models: list[Planned], strategies: list[Planned]) -> list[PlanProblem]:
    """What the entries know of each other before anything loads: a strategy feeds the
    family's distance, an architecture takes the data, a step fits in the training split,
    FID has images to score."""
    problems: list[PlanProblem] = []
    for m, s in itertools.product(models, strategies):
        model, strategy = m.config, s.config
        if model.distance not in strategy.supports:
            needs = " or ".join(sorted(k.name for k in strategy.supports if k.set_term))
            kind = model.distance.name if model.distance.set_term else "no set distance"
            problems.append(
                PlanProblem(
                    f"models[{m.index}] x strategies[{s.index}]",
                    f"{strategy.kind} works only with a {needs} distance, and {model.family} "
                    f"regularises {kind}; list them in separate specs",
                )
            )
    for (d, data), m in itertools.product(enumerate(spec.data), models):
        unfit = m.config.data_problem(data)
        if unfit is not None:
            field, why = unfit
            path = f"models[{m.index}].{field}" + _axis_index(
                spec.models[m.index], field, getattr(m.config, field)
            )
            problems.append(
                PlanProblem(path, f"{why}; data[{d}] ({data.dataset}) is {data.samples}")
            )
    autoencoded = (
        {s.index for s in strategies}
        if any(isinstance(m.config, AutoencoderConfig) for m in models)
        else set()
    )
    for (d, data), s in itertools.product(enumerate(spec.data), strategies):
        bound = data.train_size_bound()
        step = s.config.images_per_step if s.index in autoencoded else None
        if bound is None or step is None or bound >= step:
            continue
        field = s.config.images_per_step_field
        at = (
            f"strategies[{s.index}]"
            if field is None
            else f"strategies[{s.index}].{field}"
            + _axis_index(spec.strategies[s.index], field, getattr(s.config, field))
        )
        if data.train_size is not None and data.train_size == bound:
            where, has = f"data[{d}].train_size", f"{bound} training samples"
        else:
            where, has = f"data[{d}]", f"{data.dataset} has {bound} training samples"
        problems.append(
            PlanProblem(
                f"{where} x {at}",
                f"{has}, fewer than the {step} one step of {s.config.kind} takes: an epoch "
                "would train no step",
            )
        )
    if spec.evaluation.fid is not None:
        for d, data in enumerate(spec.data):
            if not data.images:
                problems.append(
                    PlanProblem(
                        "evaluation.fid",
                        f"FID scores images; data[{d}] ({data.dataset}) is {data.samples}",
                    )
                )
    return problems


def _same_trials(
    trials: list[TrialConfig], origins: list[tuple[int, int, int, int, int]]
) -> list[PlanProblem]:
    """Entries that plan a trial another entry already plans (the same trial id: the same
    resolved config), named both: the second would train the first again."""
    sections = ("data", "models", "strategies", "optimizer.lr", "seeds")
    first: dict[str, tuple[int, int, int, int, int]] = {}
    pairs: dict[tuple[str, str], str] = {}
    for trial, origin in zip(trials, origins, strict=True):
        seen = first.setdefault(trial.trial_id, origin)
        if seen is origin:
            continue
        differ = [k for k in range(len(sections)) if seen[k] != origin[k]] or [1]
        again = " x ".join(f"{sections[k]}[{origin[k]}]" for k in differ)
        before = " x ".join(f"{sections[k]}[{seen[k]}]" for k in differ)
        pairs.setdefault((again, before), trial.trial_id)
    problems = [
        PlanProblem(
            again,
            f"plans the same trials as {before} (e.g. trial {trial_id}: the same resolved "
            "config), each would train twice; remove one or make them differ",
        )
        for (again, before), trial_id in pairs.items()
    ]
    return problems


def _selection(
    spec: SweepSpec, trials: list[TrialConfig], model_of: list[int]
) -> list[PlanProblem]:
    """``selection.metric`` is logged by every planned trial (else ``results`` has nothing
    to select by)."""
    metric = spec.selection.metric
    logged = [t.logged_metrics() for t in trials]
    common = sorted(frozenset.intersection(*logged)) if logged else []
    if metric in common:
        return []
    lacking = sorted({model_of[k] for k, names in enumerate(logged) if metric not in names})
    who = ", ".join(
        f"models[{i}] ({trials[model_of.index(i)].model.label})" for i in lacking[:3]
    ) + (" ..." if len(lacking) > 3 else "")
    what = (
        f"{shown(metric)} is not logged by the trials of {who}"
        if any(metric in names for names in logged)
        else f"unknown metric {shown(metric)}"
    )
    return [PlanProblem("selection.metric", f"{what}; allowed: {', '.join(common)}")]


def plan(spec: SweepSpec) -> list[TrialConfig]:
    """All trials of ``spec``, in a stable order (data, model, strategy, lr, seed)."""
    models, problems = _expand_entries(spec.models, "models")
    strategies, more = _expand_entries(spec.strategies, "strategies")
    problems += more
    optimizers = [OptimizerConfig.model_validate(r) for r in expand_raw(spec.optimizer)]
    problems += _pairs(spec, models, strategies)
    if optimizers[0].schedule is not None:  # not an axis: the same in every expansion
        for m in models:
            if not isinstance(m.config, AutoencoderConfig):
                problems.append(
                    PlanProblem(
                        "optimizer.schedule",
                        f"applies to autoencoder training; {m.config.family} "
                        f"(models[{m.index}]) trains with its own schedule: leave "
                        "optimizer.schedule unset for it",
                    )
                )
    if problems:
        # One line per problem, even when it repeats over a grid axis.
        raise PlanError(list(dict.fromkeys(problems)))
    trials = []
    origins = []
    for (d, data), m, s, (o, opt), (k, seed) in itertools.product(
        enumerate(spec.data), models, strategies, enumerate(optimizers), enumerate(spec.seeds)
    ):
        body = {
            "data": data,
            "model": m.config,
            "strategy": s.config,
            "optimizer": opt,
            "epochs": spec.epochs,
            "seed": seed,
            "evaluation": spec.evaluation,
            "checkpoint": spec.checkpoint,
            "compute": spec.compute,
        }
        trials.append(TrialConfig(trial_id="", sweep=spec.name, **body).with_id())
        origins.append((d, m.index, s.index, o, k))
    problems = _same_trials(trials, origins)
    problems += _selection(spec, trials, [o[1] for o in origins])
    problems += _selection_problems(spec, trials)
    if problems:
        raise PlanError(list(dict.fromkeys(problems)))
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
