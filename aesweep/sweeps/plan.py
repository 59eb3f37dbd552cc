"""Expansion of a spec into trials: the cartesian product of its axes, with stable ids
(:func:`aesweep.config.trial.trial_id`), and the compatibility rules between its entries.

Pure (no Ray, no torch).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from aesweep.config.base import shown
from aesweep.config.grid import (
    axis_sizes,
    distributions,
    expand_raw,
    fixed_raw,
    integer_field,
    scalar_model,
    search_axes,
    sweepable_fields,
)
from aesweep.config.models import AutoencoderConfig
from aesweep.config.optimizer import OptimizerConfig
from aesweep.config.sampled import SampledTrials
from aesweep.config.search_range import range_problems
from aesweep.config.search_space import describe_axis, sample_axis
from aesweep.config.trial import TrialConfig
from aesweep.sweeps.searches import search_kind
from aesweep.sweeps.spec import DEFAULT_SELECTION_OVER, SweepSpec
from aesweep.tracking.schema import PARAM_SEARCH


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
    """The metrics the spec ranks by are logged by every planned trial: ``selection.metric``
    (else ``results`` has nothing to select by) and the scheduler's own metric (else Ray Tune
    fails the first trial that reports without it)."""
    problems = _logged_by_all("selection.metric", spec.selection.metric, trials, model_of)
    sched = spec.search.scheduler
    if sched is not None and sched.metric is not None:
        problems += _logged_by_all("search.scheduler.metric", sched.metric, trials, model_of)
    return problems


def _logged_by_all(
    path: str, metric: str, trials: list[TrialConfig], model_of: list[int]
) -> list[PlanProblem]:
    """``metric`` (the spec's field ``path``) is logged by every planned trial; else one
    problem naming the entries whose trials do not log it, and what every trial logs."""
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
    return [PlanProblem(path, f"{what}; allowed: {', '.join(common)}")]


def _sections(spec: SweepSpec) -> list[tuple[str, BaseModel]]:
    return [
        *((f"models[{i}]", e) for i, e in enumerate(spec.models)),
        *((f"strategies[{i}]", e) for i, e in enumerate(spec.strategies)),
        ("optimizer", spec.optimizer),
    ]


def _search_problems(spec: SweepSpec) -> list[PlanProblem]:
    """A distribution under ``grid``; under a search, a field that may draw a value its
    config does not take; what ``optuna`` and a scheduler need of the spec."""
    problems = []
    name = spec.search.algorithm
    search = search_kind(name)
    for where, entry in _sections(spec):
        if search.draws:  # every draw a value its config takes
            problems += [
                PlanProblem(f"{where}.{a}", why) for a, why in range_problems(entry).items()
            ]
            continue
        for alias, dist in distributions(entry).items():
            problems.append(
                PlanProblem(
                    f"{where}.{alias}",
                    f"a distribution ({dist.describe()}) needs search.algorithm random or "
                    "optuna; a grid axis takes a value or a list",
                )
            )
    if search.one_space:
        for section, n in (("data", len(spec.data)), ("models", len(spec.models))):
            if n > 1:
                problems.append(
                    PlanProblem(
                        section,
                        f"{name} searches one space: give one entry ({n} given), or one spec "
                        "per entry, or search.algorithm random",
                    )
                )
        if len(spec.strategies) > 1:
            problems.append(PlanProblem("strategies", f"{name} searches one space: give one entry"))
        if len(spec.seeds) > 1:
            problems.append(
                PlanProblem("seeds", f"{name} ranks one trial per configuration: give one seed")
            )
    sched = spec.search.scheduler
    if sched is not None:
        top = sched.max_t or spec.epochs
        every = spec.evaluation.every
        rung = float(sched.grace_period)
        while rung <= top and rung < spec.epochs:
            if not float(rung).is_integer() or int(rung) % every:
                problems.append(
                    PlanProblem(
                        "search.scheduler.grace_period",
                        f"ASHA decides at epochs grace_period x reduction_factor^k; epoch "
                        f"{rung:g} is no evaluation epoch (evaluation.every {every}): a "
                        "multiple of it, with an integer reduction_factor",
                    )
                )
                break
            rung *= sched.reduction_factor
        if sched.max_t is not None and sched.max_t > spec.epochs:
            problems.append(
                PlanProblem("search.scheduler.max_t", f"at most epochs ({spec.epochs})")
            )
    return problems


def search_space(spec: SweepSpec) -> dict[str, str]:
    """``section.field`` -> what a random or Optuna search draws it from (a list: a choice),
    for the one entry of each section (optuna) or prefixed by the entry (``models[1].lambda``)."""
    out: dict[str, str] = {}
    for where, entry in _sections(spec):
        section = {"models": "model", "strategies": "strategy"}.get(where.split("[")[0], where)
        many = where != "optimizer" and len(getattr(spec, where.split("[")[0])) > 1
        for alias, values in search_axes(entry).items():
            out[f"{where if many else section}.{alias}"] = describe_axis(values)
    return out


def search_params(spec: SweepSpec) -> dict[str, Any]:
    """The search as the parent run records it (params under ``search.``, as the spec names
    them): algorithm, space, samples, seed, scheduler."""
    search = spec.search
    out: dict[str, Any] = {"algorithm": search.algorithm}
    if search_kind(search.algorithm).draws:
        out.update(
            {
                "num_samples": search.num_samples,
                "seed": search.seed,
                "space": json.dumps(search_space(spec)),
            }
        )
    sched = search.scheduler
    if sched is not None:
        metric, mode = spec.rank_metric
        out.update(
            {
                "scheduler.kind": sched.kind,
                "scheduler.metric": metric,
                "scheduler.mode": mode,
                "scheduler.grace_period": sched.grace_period,
                "scheduler.reduction_factor": sched.reduction_factor,
                "scheduler.max_t": sched.max_t or spec.epochs,
                "scheduler.audit": sched.audit,
            }
        )
    return {PARAM_SEARCH + key: value for key, value in out.items()}


def optuna_space(spec: SweepSpec) -> dict[str, Any]:
    """``section.field`` -> the list or distribution Optuna samples (one entry per section)."""
    out: dict[str, Any] = {}
    for where, entry in _sections(spec):
        section = {"models": "model", "strategies": "strategy"}.get(where.split("[")[0], where)
        for alias, values in search_axes(entry).items():
            out[f"{section}.{alias}"] = values
    return out


def integer_keys(spec: SweepSpec) -> set[str]:
    """The keys of :func:`optuna_space` whose field holds an int."""
    out = set()
    for where, entry in _sections(spec):
        section = {"models": "model", "strategies": "strategy"}.get(where.split("[")[0], where)
        for alias in search_axes(entry):
            if integer_field(scalar_model(entry), alias):
                out.add(f"{section}.{alias}")
    return out


def sampled_trials(spec: SweepSpec) -> SampledTrials:
    """What every trial of an Optuna search shares; ``.trial(values)`` resolves one."""
    base: dict[str, Any] = {
        "data": spec.data[0].model_dump(mode="json", by_alias=True),
        "model": fixed_raw(spec.models[0]),
        "strategy": fixed_raw(spec.strategies[0]),
        "optimizer": fixed_raw(spec.optimizer),
        "epochs": spec.epochs,
        "seed": spec.seeds[0],
        "evaluation": spec.evaluation.model_dump(mode="json", by_alias=True),
        "checkpoint": spec.checkpoint.model_dump(mode="json", by_alias=True),
        "compute": spec.compute.settings(),  # how its trials run: compile and pack too
    }
    return SampledTrials(sweep=spec.name, base=json.loads(json.dumps(base, default=_jsonable)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    raise TypeError(type(value).__name__)


def _draw(
    entry: BaseModel, index: int, section: str, rng: random.Random
) -> tuple[Planned | None, list[PlanProblem]]:
    """One draw of a spec entry: its distributions sampled, its lists chosen from."""
    cls = scalar_model(entry)
    raw = fixed_raw(entry)
    for alias, values in search_axes(entry).items():
        raw[alias] = sample_axis(values, rng, integer_field(cls, alias))
    raw = json.loads(json.dumps(raw, default=_jsonable))
    try:
        return Planned(index, cls.model_validate(raw)), []
    except ValidationError as exc:
        where = f"{section}[{index}]" if section != "optimizer" else section
        return None, [
            PlanProblem(
                ".".join([where, *(str(p) for p in err["loc"])]),
                err["msg"].removeprefix("Value error, ") + " (a drawn value: narrow the range)",
            )
            for err in exc.errors()
        ]


def _plan_random(spec: SweepSpec, samples: int) -> list[TrialConfig]:
    """``samples`` draws per data x model entry x strategy entry, each drawn from a generator
    seeded by (search.seed, the entries, the draw): the same spec always plans the same trials;
    each draw runs once per seed (replicates). A draw equal to an earlier one is planned once."""
    problems: list[PlanProblem] = []
    trials: dict[str, TrialConfig] = {}
    models: list[Planned] = []
    strategies: list[Planned] = []
    drawn = []
    for (d, data), (m, model), (s, strategy), k in itertools.product(
        enumerate(spec.data),
        enumerate(spec.models),
        enumerate(spec.strategies),
        range(samples),
    ):
        rng = random.Random(f"aesweep-random:{spec.search.seed}:{d}:{m}:{s}:{k}")
        pm, p1 = _draw(model, m, "models", rng)
        ps, p2 = _draw(strategy, s, "strategies", rng)
        po, p3 = _draw(spec.optimizer, 0, "optimizer", rng)
        problems += p1 + p2 + p3
        if pm is None or ps is None or po is None:
            continue
        models.append(pm)
        strategies.append(ps)
        drawn.append((data, pm, ps, po))
    if not problems:
        problems += _pairs(spec, _distinct(models), _distinct(strategies))
    if problems:
        raise PlanError(list(dict.fromkeys(problems)))
    for data, pm, ps, po in drawn:
        for seed in spec.seeds:
            body = _body(spec, data, pm.config, ps.config, po.config, seed)
            trial = TrialConfig(trial_id="", sweep=spec.name, **body).with_id()
            trials.setdefault(trial.trial_id, trial)
    return list(trials.values())


def _distinct(planned: list[Planned]) -> list[Planned]:
    seen: dict[str, Planned] = {}
    for p in planned:
        seen.setdefault(p.config.model_dump_json(), p)
    return list(seen.values())


def _body(
    spec: SweepSpec, data: Any, model: Any, strategy: Any, optimizer: Any, seed: int
) -> dict[str, Any]:
    return {
        "data": data,
        "model": model,
        "strategy": strategy,
        "optimizer": optimizer,
        "epochs": spec.epochs,
        "seed": seed,
        "evaluation": spec.evaluation,
        "checkpoint": spec.checkpoint,
        "compute": spec.compute,
    }


def plan(spec: SweepSpec) -> list[TrialConfig]:
    """All trials of ``spec``, in a stable order (data, model, strategy, lr, seed). A random
    search: its draws, planned before the run. Optuna: none (its trials are sampled during the
    run); one draw is checked as a planned trial would be."""
    problems = _search_problems(spec)
    if problems:
        raise PlanError(list(dict.fromkeys(problems)))
    search = search_kind(spec.search.algorithm)
    if search.draws:
        samples = spec.search.num_samples or 1
        trials = _plan_random(spec, samples if search.planned else 1)
        problems = _selection(spec, trials, [0] * len(trials))
        problems += _selection_problems(spec, trials)
        if problems:
            raise PlanError(list(dict.fromkeys(problems)))
        return trials if search.planned else []
    return _plan_grid(spec)


def _plan_grid(spec: SweepSpec) -> list[TrialConfig]:
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
        body = _body(spec, data, m.config, s.config, opt, seed)
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
    over = [k for k in spec.selection.over if k not in DEFAULT_SELECTION_OVER]
    if not over:
        return []
    flats = [t.flat() for t in trials]
    known = {k for flat in flats for k in flat}
    axes = ", ".join(varying_keys(trials, flats)) or "none"
    problems = []
    for key in over:
        if key == "seed":
            problems.append(PlanProblem("selection.over", "seeds are averaged, never selected"))
        elif key not in known:
            problems.append(
                PlanProblem(
                    "selection.over", f"{key!r} is no field of this spec's trials (axes: {axes})"
                )
            )
    return problems


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 or word == "lr" else f"{n} {word}s"


def summary(spec: SweepSpec, trials: list[TrialConfig]) -> str:
    """``12 trials: 3 models x 2 strategies x 2 lr x 1 seed``; a search: what it draws."""
    search = spec.search
    kind = search_kind(search.algorithm)
    if kind.draws:
        space = ", ".join(f"{k} ~ {v}" for k, v in search_space(spec).items()) or "nothing"
        head = (
            f"{_plural(len(trials), 'trial')}: {kind.headline}" if kind.planned else kind.headline
        )
        combos = len(spec.data) * len(spec.models) * len(spec.strategies)
        per = f" per {combos} data x model x strategy entries" if combos > 1 else ""
        text = (
            f"{head}, {search.num_samples} samples{per} x {_plural(len(spec.seeds), 'seed')} "
            f"(seed {search.seed}) of {space}"
        )
        return text + _scheduler_summary(spec)
    return _grid_summary(spec, trials) + _scheduler_summary(spec)


def _scheduler_summary(spec: SweepSpec) -> str:
    sched = spec.search.scheduler
    if sched is None:
        return ""
    metric, mode = spec.rank_metric
    audit = f", audit {sched.audit}" if sched.audit else ""
    return (
        f"; ASHA on {metric} ({mode}), grace {sched.grace_period}, factor "
        f"{sched.reduction_factor:g}, max_t {sched.max_t or spec.epochs}{audit}"
    )


def _grid_summary(spec: SweepSpec, trials: list[TrialConfig]) -> str:
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


def varying_keys(trials: list[TrialConfig], flats: list[dict[str, Any]] | None = None) -> list[str]:
    """The dotted config keys whose value differs between trials, in config order (linear in
    the trials; ``flats``: their ``flat()``, when the caller has them already)."""
    if flats is None:
        flats = [t.flat() for t in trials]
    keys: dict[str, None] = {}  # first-seen order
    for flat in flats:
        keys.update(dict.fromkeys(flat))
    # A key only some trials have (a family's own field) varies only if its values differ.
    return [k for k in keys if _differs(f[k] for f in flats if k in f)]


def _differs(values: Iterator[Any]) -> bool:
    """Two of ``values`` differ as JSON does (1, 1.0 and true are three values)."""
    first = None
    for i, value in enumerate(values):
        seen = _as_json(value)
        if i == 0:
            first = seen
        elif seen != first:
            return True
    return False


def _as_json(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return (type(value), value)
