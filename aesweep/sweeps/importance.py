"""Which settings mattered: hyperparameter importance of every varying axis for the selection
metric, per results row and for the whole sweep (``aesweep results --importance``).

The finished trials become an in-memory Optuna study (one completed trial per run: its varying
config values as parameters, its selection metric as the value) and one of Optuna's importance
evaluators scores it (PED-ANOVA by default: fast, no model to fit). Numeric axes are numeric
distributions (log-scaled when they span a decade or more: lr, λ), everything else (family,
strategy, a ``None`` among numbers) is categorical. A scope with too few finished trials for
the evaluator is reported as such, never as numbers.
"""

from __future__ import annotations

import io
import json
import math
import re
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aesweep.config.registry import Registry
from aesweep.config.trial import TrialConfig
from aesweep.sweeps.plots import PLOTS_DIR
from aesweep.sweeps.results import ResultGroup
from aesweep.tracking.schema import METRIC_IMPORTANCE
from aesweep.tracking.store import SweepStore

if TYPE_CHECKING:
    import optuna

WHOLE_SWEEP = "whole sweep"
PLOT_FILE = "importance.png"


@dataclass(frozen=True)
class Evaluator:
    """One of Optuna's importance evaluators and the fewest finished trials it is run on."""

    name: str
    make: Callable[[], Any]
    min_trials: int
    about: str


def _ped_anova() -> Any:
    from optuna.importance import PedAnovaImportanceEvaluator

    # The top quarter (Optuna's default is the top tenth, which in a grid of a few dozen
    # trials is one or two of them): with ``min_trials`` it holds at least two trials.
    return PedAnovaImportanceEvaluator(target_quantile=0.25)


def _fanova() -> Any:
    from optuna.importance import FanovaImportanceEvaluator

    return FanovaImportanceEvaluator(seed=0)


EVALUATORS: Registry[Evaluator] = Registry("importance evaluator")
EVALUATORS.add(
    "ped-anova",
    Evaluator("PED-ANOVA", _ped_anova, 8, "Pearson divergence of the top quarter's density"),
)
EVALUATORS.add(
    "fanova", Evaluator("fANOVA", _fanova, 8, "variance decomposition over a random forest")
)


@dataclass
class Importance:
    """One scope (a results row or the whole sweep): the importance of each varying axis,
    normalised to sum to 1 (empty with ``too_few``, which then says why)."""

    scope: str
    trials: int
    axes: dict[str, float] = field(default_factory=dict)
    too_few: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {"scope": self.scope, "trials": self.trials, "axes": self.axes}
        return {**out, "too_few": self.too_few} if self.too_few else out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def distribution(values: list[Any]) -> Any:
    """The Optuna distribution of one axis from the values the trials took: numeric (float,
    log when all positive and spanning a factor of 10; int when all integers) or categorical
    (the values as JSON text)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if values and all(_is_number(v) for v in values):
        low, high = min(values), max(values)
        log = low > 0 and high / low >= 10
        if all(isinstance(v, int) for v in values):
            return IntDistribution(int(low), int(high), log=log and low >= 1)
        return FloatDistribution(float(low), float(high), log=log)
    return CategoricalDistribution(sorted({_category(v) for v in values}))


def _category(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def study_of(
    points: list[tuple[dict[str, Any], float]], axes: list[str], direction: str
) -> optuna.Study:
    """An in-memory study with one completed trial per ``(flat config, value)``: each axis the
    config has is a parameter (a family's own field is absent from other families' trials)."""
    import optuna

    dists = {a: distribution([f[a] for f, _ in points if a in f]) for a in axes}
    study = optuna.create_study(direction="minimize" if direction == "min" else "maximize")
    for flat, value in points:
        present = [a for a in axes if a in flat]
        params = {a: _category(flat[a]) if _is_categorical(dists[a]) else flat[a] for a in present}
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={a: dists[a] for a in present},
                value=value,
            )
        )
    return study


def _is_categorical(dist: Any) -> bool:
    from optuna.distributions import CategoricalDistribution

    return isinstance(dist, CategoricalDistribution)


def importance(
    scope: str,
    points: list[tuple[dict[str, Any], float]],
    direction: str,
    evaluator: Evaluator,
) -> Importance:
    """The importance of every axis that varies among ``points`` (finite values only)."""
    points = [(f, v) for f, v in points if math.isfinite(v)]
    flats = [f for f, _ in points]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    axes = [k for k in keys if len({json.dumps(f[k]) for f in flats if k in f}) > 1]
    result = Importance(scope, len(points))
    if len(points) < evaluator.min_trials:
        result.too_few = (
            f"too few finished trials ({len(points)}; {evaluator.name} needs "
            f"{evaluator.min_trials})"
        )
        return result
    if not axes:
        result.too_few = "no axis varies"
        return result
    import optuna

    study = study_of(points, axes, direction)
    with warnings.catch_warnings():  # "experimental", "few trials in a regime": known here
        warnings.simplefilter("ignore")
        scores = optuna.importance.get_param_importances(study, evaluator=evaluator.make())
    result.axes = {k: float(v) for k, v in scores.items()}
    return result


def _points(
    groups: list[ResultGroup], trials: dict[str, TrialConfig], metric: str
) -> list[tuple[dict[str, Any], float]]:
    out = []
    for group in groups:
        for point in group.points.values():
            for rec in point.finished:
                if metric in rec.metrics and rec.trial_id in trials:
                    out.append((trials[rec.trial_id].flat(), rec.metrics[metric]))
    return out


def sweep_importance(
    groups: list[ResultGroup], metric: str, mode: str, evaluator: Evaluator
) -> list[Importance]:
    """Per results row, then (with more than one row) for the whole sweep."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in memory"
    trials = {t.trial_id: t for g in groups for t in g.trials}
    out = [
        importance(
            f"{g.dataset} / {g.model} / {g.strategy}", _points([g], trials, metric), mode, evaluator
        )
        for g in groups
    ]
    if len(groups) > 1:
        out.append(importance(WHOLE_SWEEP, _points(groups, trials, metric), mode, evaluator))
    return out


def format_importance(results: list[Importance], metric: str, mode: str, how: str) -> str:
    """One block per scope: its trial count, then each axis and its importance, highest first;
    a scope with too few trials in one line."""
    lines = [f"importance of each varying axis for {metric} ({mode}), {how}"]
    for r in results:
        if r.too_few:
            lines.append(f"{r.scope}: {r.too_few}")
            continue
        lines.append(f"{r.scope} ({r.trials} trials):")
        width = max(len(a) for a in r.axes)
        lines += [f"  {a.ljust(width)}  {v:.3f}" for a, v in r.axes.items()]
    return "\n".join(lines)


def metric_key(scope: str, axis: str) -> str:
    """``importance.<axis>`` for the whole sweep (or its only row); a row's own otherwise,
    ``importance.<row>.<axis>`` (characters MLflow refuses in a key become ``_``)."""
    parts = [METRIC_IMPORTANCE] if scope == WHOLE_SWEEP else [METRIC_IMPORTANCE, scope]
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", ".".join([*parts, axis])).replace(" / ", ".")


def importance_metrics(results: list[Importance]) -> dict[str, float]:
    """The figures as metrics of the parent run (the sweep's, or its only row's, as
    ``importance.<axis>``), with ``importance.trials`` the trials they used."""
    whole = results[-1] if len(results) == 1 else None
    out: dict[str, float] = {}
    for r in results:
        scope = WHOLE_SWEEP if r is whole else r.scope
        for axis, value in r.axes.items():
            out[metric_key(scope, axis)] = value
        if r.axes:
            out[metric_key(scope, "trials")] = float(r.trials)
    return out


def render_bars(results: list[Importance], title: str) -> bytes | None:
    """One horizontal bar chart per scope with figures (highest on top), as PNG bytes; None
    when no scope has any."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = [r for r in results if r.axes]
    if not shown:
        return None
    height = sum(1.0 + 0.35 * len(r.axes) for r in shown)
    fig = Figure(figsize=(7.5, max(3.0, height)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title)
    axes = fig.subplots(len(shown), 1, squeeze=False, height_ratios=[len(r.axes) for r in shown])
    for ax, r in zip(axes[:, 0], shown, strict=True):
        names = list(r.axes)[::-1]
        ax.barh(names, [r.axes[n] for n in names], color="C0")
        ax.set_xlim(0, 1)
        ax.set_title(f"{r.scope} ({r.trials} trials)", fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def log_importance(
    store: SweepStore, run_id: str, results: list[Importance], title: str
) -> list[str]:
    """The figures on ``run_id`` (metrics, :func:`importance_metrics`) and their bar chart in
    its ``plots/``; what was logged."""
    metrics = importance_metrics(results)
    if metrics:
        store.log_run_metrics(run_id, metrics)
    png = render_bars(results, title)
    if png is None:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / PLOT_FILE).write_bytes(png)
        store.log_artifacts(run_id, tmp, artifact_path=PLOTS_DIR)
    return [f"{len(metrics)} {METRIC_IMPORTANCE}.* metrics", f"{PLOTS_DIR}/{PLOT_FILE}"]
