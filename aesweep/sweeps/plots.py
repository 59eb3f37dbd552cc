"""A sweep's plots, drawn from MLflow into its parent run (``plots/*.png``).

metrics_vs_lr: each test metric at the last evaluation against the learning rate (log axis),
one line per row of the results table (and λ, when λ varies), mean ± std over seeds, the
selected point circled and diverged grid points marked x; metrics_vs_lambda: the same against
λ when λ varies; metrics_over_epochs: each metric over the epochs for the selected grid point of
every row, mean ± std over its seeds (the shape of MoW Figures 3 and 5); asha_rungs (with an
early-stopping scheduler): the metric of every trial over epochs, the stops circled.
Matplotlib's Agg canvas, no pyplot (no global state, no display).
"""

from __future__ import annotations

import io
import math
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aesweep.config.trial import TrialConfig
from aesweep.sweeps.results import METRIC_ORDER, GridPoint, ResultGroup, result_groups
from aesweep.sweeps.spec import SweepSpec
from aesweep.tracking.schema import Outcome
from aesweep.tracking.store import SweepStore

PLOTS_DIR = "plots"
COLUMNS = 3


@dataclass
class Series:
    """One line of a panel: x, mean y and its std (0 with one seed), and markers."""

    label: str
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    err: list[float] = field(default_factory=list)
    diverged_x: list[float] = field(default_factory=list)
    selected: tuple[float, float] | None = None


def plotted_metrics(groups: list[ResultGroup]) -> list[str]:
    """The table's metrics that some finished trial logged, in table order."""
    present = {k for g in groups for p in g.points.values() for r in p.finished for k in r.metrics}
    return [m for m in METRIC_ORDER if m in present]


def _group_label(group: ResultGroup, datasets: int) -> str:
    label = f"{group.model} / {group.strategy}"
    return f"{group.dataset}: {label}" if datasets > 1 else label


def _add_point(series: Series, x: float, point: GridPoint, metric: str) -> None:
    mean = point.mean(metric)
    if mean is not None and math.isfinite(mean):
        series.x.append(x)
        series.y.append(mean)
        series.err.append(point.std(metric) or 0.0)


def _series_along(
    groups: list[ResultGroup],
    metric: str,
    x: Callable[[GridPoint], float],
    split: Callable[[GridPoint], float],
    label: Callable[[str, float, int], str],
) -> list[Series]:
    """Per row and value of ``split``: ``metric`` against ``x`` (diverged points marked, the
    row's selected point flagged). ``label(row label, split value, split values in the row)``."""
    datasets = len({g.dataset for g in groups})
    out = []
    for group in groups:
        by_split: dict[float, list[GridPoint]] = defaultdict(list)
        for point in group.points.values():
            by_split[split(point)].append(point)
        for value, points in by_split.items():
            series = Series(label(_group_label(group, datasets), value, len(by_split)))
            for point in sorted(points, key=x):
                if point.all_diverged:
                    series.diverged_x.append(x(point))
                _add_point(series, x(point), point, metric)
                if point is group.best and series.x and series.x[-1] == x(point):
                    series.selected = (x(point), series.y[-1])
            out.append(series)
    return out


def lr_series(groups: list[ResultGroup], metric: str) -> list[Series]:
    """Per row (and λ, when the row has several): ``metric`` against lr."""
    return _series_along(
        groups,
        metric,
        x=lambda p: p.lr,
        split=lambda p: p.lam or 0.0,
        label=lambda row, lam, n: row + (f", λ={lam:g}" if n > 1 else ""),
    )


def lambda_series(groups: list[ResultGroup], metric: str) -> list[Series]:
    """Per row and lr: ``metric`` against λ (for sweeps in which λ varies)."""
    return _series_along(
        groups,
        metric,
        x=lambda p: p.lam or 0.0,
        split=lambda p: p.lr,
        label=lambda row, lr, n: f"{row}, lr={lr:g}",
    )


def epoch_series(
    groups: list[ResultGroup], metrics: list[str], store: SweepStore
) -> dict[str, list[Series]]:
    """metric -> per row, the selected grid point's metric history (mean ± std over seeds at
    each logged epoch)."""
    datasets = len({g.dataset for g in groups})
    out: dict[str, list[Series]] = {m: [] for m in metrics}
    for group in groups:
        best = group.best
        if best is None:
            continue
        label = f"{_group_label(group, datasets)}, lr={best.lr:g}"
        for metric in metrics:
            by_step: dict[int, list[float]] = defaultdict(list)
            for rec in best.finished:
                for step, value in store.metric_history(rec.run_id, metric):
                    if math.isfinite(value):
                        by_step[step].append(value)
            series = Series(label)
            for step in sorted(by_step):
                values = by_step[step]
                series.x.append(float(step))
                series.y.append(statistics.fmean(values))
                series.err.append(statistics.stdev(values) if len(values) > 1 else 0.0)
            if series.x:
                out[metric].append(series)
    return out


def render_panels(
    title: str,
    xlabel: str,
    panels: dict[str, list[Series]],
    *,
    log_x: bool,
    integer_x: bool = False,
) -> bytes:
    """One subplot per metric, ``COLUMNS`` per row, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    from matplotlib.transforms import blended_transform_factory

    names = list(panels)
    rows = max(1, math.ceil(len(names) / COLUMNS))
    cols = min(COLUMNS, max(1, len(names)))
    height = 3.6 * rows + 0.5  # the title's band on top
    fig = Figure(figsize=(4.8 * cols, height), dpi=100)
    # Fixed margins in inches (a constrained layout solves for them at about twice the cost of
    # drawing the figure): room for tick labels left and below, a subplot title and the xlabel
    # between rows, the title above.
    fig.subplots_adjust(
        left=0.75 / (4.8 * cols),
        right=1 - 0.15 / (4.8 * cols),
        bottom=0.55 / height,
        top=1 - 0.85 / height,
        wspace=0.3,
        hspace=0.75 / 3.6 * 1.4,
    )
    FigureCanvasAgg(fig)
    fig.suptitle(title)
    axes = fig.subplots(rows, cols, squeeze=False).flatten()
    for ax, metric in zip(axes, names, strict=False):
        ys = []
        for i, s in enumerate(panels[metric]):
            color = f"C{i % 10}"
            ys += s.y
            if s.x:
                ax.errorbar(s.x, s.y, yerr=s.err, label=s.label, color=color, marker="o", ms=4)
            if s.selected is not None:
                ax.plot(*s.selected, marker="o", ms=12, mfc="none", mec=color, mew=2)
            if s.diverged_x:
                top = blended_transform_factory(ax.transData, ax.transAxes)
                ax.plot(
                    s.diverged_x,
                    [0.97] * len(s.diverged_x),
                    transform=top,
                    linestyle="none",
                    marker="x",
                    ms=9,
                    color=color,
                    label=f"{s.label}: diverged",
                )
        if log_x:
            ax.set_xscale("log")
        if integer_x:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ys and min(ys) > 0 and max(ys) / min(ys) > 50:
            ax.set_yscale("log")
        ax.set_title(metric)
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def rung_series(groups: list[ResultGroup], metric: str, store: SweepStore) -> list[Series]:
    """Per trial that ran or was stopped early: ``metric`` over the epochs; a stopped trial's
    last point flagged (circled: where the scheduler stopped it)."""
    datasets = len({g.dataset for g in groups})
    out = []
    for group in groups:
        for point in group.points.values():
            for rec in [*point.finished, *point.stopped]:
                history = sorted(store.metric_history(rec.run_id, metric))
                xs = [float(step) for step, v in history if math.isfinite(v)]
                ys = [v for _, v in history if math.isfinite(v)]
                if not xs:
                    continue
                label = f"{_group_label(group, datasets)}, lr={point.lr:.3g}"
                series = Series(label, xs, ys, [0.0] * len(xs))
                if rec.outcome == Outcome.STOPPED:
                    series.selected = (xs[-1], ys[-1])
                    series.label += f" (stopped at {int(xs[-1])})"
                out.append(series)
    return out


def sweep_plot_pngs(groups: list[ResultGroup], store: SweepStore) -> dict[str, bytes]:
    """File name -> PNG of the sweep's plots (none when no trial finished)."""
    metrics = plotted_metrics(groups)
    if not metrics:
        return {}
    out = {
        "metrics_vs_lr.png": render_panels(
            "test metrics at the last evaluation vs learning rate (mean ± std over seeds; "
            "circle: selected, x: diverged)",
            "learning rate",
            {m: lr_series(groups, m) for m in metrics},
            log_x=True,
        )
    }
    weighted = [g for g in groups if all(p.lam is not None for p in g.points.values())]
    lambdas = {p.lam for g in weighted for p in g.points.values() if p.lam is not None}
    if len(lambdas) > 1:  # families without λ (the plain AE) have no such panel line
        out["metrics_vs_lambda.png"] = render_panels(
            "test metrics at the last evaluation vs λ (mean ± std over seeds)",
            "λ",
            {m: lambda_series(weighted, m) for m in metrics},
            log_x=min(lambdas) > 0,
        )
    if any(g.scheduled for g in groups):
        metric = "cost" if "cost" in metrics else metrics[0]
        out["asha_rungs.png"] = render_panels(
            f"{metric} of every trial over epochs (circle: stopped early by ASHA)",
            "epoch",
            {metric: rung_series(groups, metric, store)},
            log_x=False,
            integer_x=True,
        )
    out["metrics_over_epochs.png"] = render_panels(
        "test metrics over epochs of the selected grid points (mean ± std over seeds)",
        "epoch",
        epoch_series(groups, metrics, store),
        log_x=False,
        integer_x=True,
    )
    return out


def log_sweep_plots(
    spec: SweepSpec, trials: list[TrialConfig], store: SweepStore, run_id: str
) -> list[str]:
    """Draw the sweep's plots and log them to ``run_id`` under ``plots/``; their paths."""
    pngs = sweep_plot_pngs(result_groups(spec, trials, store), store)
    if not pngs:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        for name, png in pngs.items():
            (Path(tmp) / name).write_bytes(png)
        store.log_artifacts(run_id, tmp, artifact_path=PLOTS_DIR)
    return [f"{PLOTS_DIR}/{name}" for name in pngs]
