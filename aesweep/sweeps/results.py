"""Paper-style tables read back from MLflow (MoW Table 1 columns, plus FID and sample metrics).

One row per (dataset, model, strategy) — every varying field except lr, λ and seed — with
the lr and λ that the spec's selection criterion picks (mean over seeds), and that grid
point's test metrics as mean ± std over its seeds. A grid point whose every seed diverged is
listed in the row's ``diverged`` cell; a row whose every grid point diverged says so in place
of its lr. Optional columns (FID, sample metrics) appear when some trial logged them.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aesweep.sweeps.plan import TrialConfig, varying_keys
from aesweep.sweeps.spec import SweepSpec
from aesweep.tracking.schema import Outcome
from aesweep.tracking.store import SweepStore, TrialRecord

LR_AND_LAMBDA = ("optimizer.lr", "model.lambda")
METRIC_COLUMNS = ("cw_distance", "wae_distance", "rec_error", "cost")
"""Always shown: MoW Table 1."""
METRIC_ORDER = (
    "cw_distance",
    "wae_distance",
    "sw_distance",
    "rec_error",
    "cost",
    "sample_cw",
    "fid",
    "lt_sample_cw",
    "lt_fid",
    "w1_to_target",
    "modes_recovered",
)
"""The table's metric columns in order; beyond ``METRIC_COLUMNS``, each is shown when some trial
of the sweep logged it (SWAE distance, LCW sample distance, FID, the Run-Sort-ReRun toy's W1
to its target)."""
ROW_ONLY_METRICS = (
    "cost_wae",
    "cost_mmd",
    "cost_cw",
    "latent_isotropy",
    "gen_sample_cw",
    "gen_fid",
)
"""In every row that logged them (json, csv, ``--paper``: MoW's table costs, aesweep.config.costs;
MoCA's isotropy; the trial's own sampler's, which LCW selects on) but not printed as table
columns (``gen_*`` repeats ``sample_cw`` or ``lt_sample_cw``)."""


@dataclass
class GridPoint:
    """One (lr, λ) of a row: its trials (one per seed) and how they ended (λ None: the
    family has no λ)."""

    lr: float
    lam: float | None
    others: tuple[tuple[str, Any], ...] = ()  # selected axes beyond lr and λ (selection.over)
    trials: list[TrialConfig] = field(default_factory=list)
    finished: list[TrialRecord] = field(default_factory=list)
    diverged: list[TrialRecord] = field(default_factory=list)
    stopped: list[TrialRecord] = field(default_factory=list)  # early, by the scheduler

    @property
    def all_diverged(self) -> bool:
        """Every seed that ended, diverged (and at least one did)."""
        return bool(self.diverged) and not self.finished

    def values(self, metric: str) -> list[float]:
        return [r.metrics[metric] for r in self.finished if metric in r.metrics]

    def mean(self, metric: str) -> float | None:
        vals = self.values(metric)
        return statistics.fmean(vals) if vals else None

    def std(self, metric: str) -> float | None:
        vals = self.values(metric)
        return statistics.stdev(vals) if len(vals) > 1 else None


@dataclass
class ResultGroup:
    """The trials of one table row, by grid point, and the point the selection picks."""

    dataset: str
    model: str
    strategy: str
    trials: list[TrialConfig]
    points: dict[tuple[Any, ...], GridPoint]
    records: dict[str, TrialRecord]
    best: GridPoint | None = None
    scheduled: bool = False  # an early-stopping scheduler ran: the table counts its stops

    @property
    def done(self) -> int:
        ended = [self.records.get(t.trial_id) for t in self.trials]
        return sum(1 for rec in ended if rec is not None and rec.finished)

    @property
    def diverged(self) -> int:
        return sum(len(p.diverged) for p in self.points.values())

    @property
    def stopped(self) -> int:
        return sum(len(p.stopped) for p in self.points.values())

    @property
    def status(self) -> str:
        """ok (a point was selected), diverged (every point that ended diverged), pending
        (nothing ended yet) or no result (the selection metric is missing or not finite)."""
        ended = [p for p in self.points.values() if p.finished or p.diverged or p.stopped]
        if self.best is not None:
            return "ok"
        if not ended:
            return "pending"
        return "diverged" if all(p.all_diverged for p in ended) else "no result"


def _label(trial: TrialConfig, keys: list[str], prefix: str, base: str) -> str:
    flat = trial.flat()
    extra = [f"{k.removeprefix(prefix)}={flat[k]}" for k in keys if k.startswith(prefix)]
    return f"{base} ({', '.join(extra)})" if extra else base


def result_groups(
    spec: SweepSpec,
    trials: list[TrialConfig],
    store: SweepStore,
    *,
    include_stopped: bool = False,
) -> list[ResultGroup]:
    """The sweep's trials grouped into table rows, with MLflow's records and the selected grid
    point of each row: over the axes of ``selection.over`` (default lr and λ), the lowest/highest
    mean of ``selection.metric`` over finished seeds. Every other varying key makes rows.

    A trial the scheduler stopped early is counted (``stopped``) but its metric, taken at an
    earlier epoch, is never compared with those of trials that ran to the end, unless
    ``include_stopped`` (it then counts as finished)."""
    records = store.latest_by_trial([t.trial_id for t in trials])
    over = list(spec.selection.over)
    others = [k for k in over if k not in LR_AND_LAMBDA]
    vary = [k for k in varying_keys(trials) if k not in over and k != "seed"]
    model_keys = [k for k in vary if k.startswith("model.") and k != "model.family"]
    # A strategy's label names its batch size; when the selection chooses over a strategy
    # field, rows are labelled by the kind and the strategy's other varying fields.
    by_kind = any(k.startswith("strategy.") for k in over)
    in_label = ("strategy.kind",) if by_kind else ("strategy.kind", "strategy.batch_size")
    strategy_keys = [k for k in vary if k.startswith("strategy.") and k not in in_label]
    by_key: dict[tuple[Any, ...], list[TrialConfig]] = defaultdict(list)
    for t in trials:
        flat = t.flat()
        strategy = t.strategy.kind if by_kind else t.strategy.label
        # The labels too: a field only some trials have (the Latent Trick) is not in ``vary``.
        key = (t.data.dataset, t.model.label, strategy)
        by_key[(*key, *(json.dumps(flat.get(k)) for k in vary))].append(t)

    metric, sign = spec.selection.metric, (1 if spec.selection.mode == "min" else -1)
    groups = []
    for members in by_key.values():
        first = members[0]
        points: dict[tuple[Any, ...], GridPoint] = {}
        for t in members:
            flat = t.flat()
            extra = tuple((k, flat.get(k)) for k in others)
            at = (t.optimizer.lr, t.model.latent_weight)
            point = points.setdefault((*at, json.dumps(extra)), GridPoint(*at, others=extra))
            point.trials.append(t)
            rec = records.get(t.trial_id)
            if rec is None or not rec.finished:
                continue
            if rec.outcome == Outcome.DIVERGED:
                point.diverged.append(rec)
            elif rec.outcome == Outcome.STOPPED and not include_stopped:
                point.stopped.append(rec)
            else:
                point.finished.append(rec)
        base = first.strategy.kind if by_kind else first.strategy.label
        group = ResultGroup(
            dataset=first.data.dataset,
            model=_label(first, model_keys, "model.", first.model.label),
            strategy=_label(first, strategy_keys, "strategy.", base),
            trials=members,
            points=points,
            records=records,
            scheduled=spec.search.scheduler is not None,
        )
        scored = []
        for point in points.values():
            values = [r.metrics.get(metric, math.nan) for r in point.finished]
            if values and all(math.isfinite(v) for v in values):
                scored.append((sign * statistics.fmean(values), point))
        if scored:
            group.best = min(scored, key=lambda s: s[0])[1]
        groups.append(group)
    return groups


def _point_label(point: GridPoint, with_lambda: bool) -> str:
    lam = f" λ {point.lam:g}" if with_lambda and point.lam is not None else ""
    others = "".join(f" {k.rpartition('.')[2]} {v}" for k, v in point.others)
    return f"lr {point.lr:g}" + lam + others


def group_row(group: ResultGroup) -> dict[str, Any]:
    """One table row: labels, the selected lr and λ, metrics (mean, ``<col>_std``), counts."""
    lambdas = {p.lam for p in group.points.values()}
    dead = [p for p in group.points.values() if p.all_diverged]
    row: dict[str, Any] = {
        "dataset": group.dataset,
        "model": group.model,
        "strategy": group.strategy,
        "lr": None,
        "lambda": None,
        "status": group.status,
        "done": group.done,
        "trials": len(group.trials),
        "diverged": group.diverged,
        "diverged_points": [{"lr": p.lr, "lambda": p.lam} for p in dead],
        "diverged_at": "; ".join(_point_label(p, len(lambdas) > 1) for p in dead),
    }
    if group.scheduled:
        row["stopped"] = group.stopped
    first = next(iter(group.points.values()), None)
    if first is not None and first.others:  # selected axes beyond lr and λ: columns of their own
        row["selected_axes"] = [k.rpartition(".")[2] for k, _ in first.others]
        row.update(dict.fromkeys(row["selected_axes"]))
    best = group.best
    if best is not None:
        row.update({"lr": best.lr, "lambda": best.lam})
        row.update({k.rpartition(".")[2]: v for k, v in best.others})
        row.update({"seeds": len(best.finished), "seeds_of": len(best.trials)})
        present = {k for r in best.finished for k in r.metrics}
        for col in (*METRIC_ORDER, *ROW_ONLY_METRICS):
            if col not in METRIC_COLUMNS and col not in present:
                continue
            row[col] = best.mean(col)
            std = best.std(col)
            if std is not None:
                row[f"{col}_std"] = std
    return row


def table_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The columns to print: Table 1's, the optional metrics some row has, ``seeds`` when a
    grid point has several."""
    metrics = [c for c in METRIC_ORDER if c in METRIC_COLUMNS or any(c in r for r in rows)]
    seeds = ["seeds"] if any(r.get("seeds_of", 1) > 1 for r in rows) else []
    selected = list(dict.fromkeys(a for r in rows for a in r.get("selected_axes", [])))
    return [
        "dataset",
        "model",
        "strategy",
        "lr",
        "lambda",
        *selected,
        *metrics,
        *seeds,
        "done",
        "diverged",
        *(["stopped"] if any("stopped" in r for r in rows) else []),
    ]


def format_cell(row: dict[str, Any], col: str) -> str:
    value = row.get(col)
    if col == "lr" and value is None and row.get("status") not in (None, "ok"):
        return row["status"]
    if value is None:
        return "-"
    if col == "done":
        return f"{value}/{row['trials']}"
    if col == "seeds":
        return f"{value}/{row['seeds_of']}"
    if col == "diverged":
        return f"{value} ({row['diverged_at']})" if row.get("diverged_at") else str(value)
    if isinstance(value, float):
        text = f"{value:.4g}" if col in ("lr", "lambda") else f"{value:.4f}"
        std = row.get(f"{col}_std")
        return f"{text} ± {std:.4f}" if std is not None else text
    return str(value)


def _csv_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


def format_table(rows: list[dict[str, Any]], columns: list[str], fmt: str) -> str:
    """Rows as an aligned text table, markdown or csv (cells as :func:`_cell` writes them,
    csv: raw values)."""
    if fmt == "csv":
        buf = io.StringIO()
        keys = list(dict.fromkeys(k for r in rows for k in r)) or list(columns)
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows({k: _csv_value(v) for k, v in r.items()} for r in rows)
        return buf.getvalue().rstrip("\n")
    cells = [[format_cell(r, c) for c in columns] for r in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(c) + " |" for c in cells]
        return "\n".join(lines)
    widths = [
        max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(columns)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def format_rows(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2)
    return format_table(rows, table_columns(rows), fmt)
