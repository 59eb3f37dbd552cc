"""Paper-style tables read back from MLflow (MoW Table 1 columns).

One row per (dataset, model, strategy) — every varying field except lr, λ and seed — with
the lr and λ that the spec's selection criterion picks (mean over seeds), and that grid
point's test metrics.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections import defaultdict
from typing import Any

from aesweep.sweeps.plan import TrialConfig, varying_keys
from aesweep.sweeps.spec import SweepSpec
from aesweep.tracking.store import SweepStore, TrialRecord

SELECTED_AWAY = ("optimizer.lr", "model.lambda", "seed")
METRIC_COLUMNS = ("cw_distance", "wae_distance", "rec_error", "cost")


def _label(trial: TrialConfig, keys: list[str], prefix: str, base: str) -> str:
    flat = trial.flat()
    extra = [f"{k.removeprefix(prefix)}={flat[k]}" for k in keys if k.startswith(prefix)]
    return f"{base} ({', '.join(extra)})" if extra else base


def result_rows(
    spec: SweepSpec, trials: list[TrialConfig], store: SweepStore
) -> list[dict[str, Any]]:
    records = store.latest_by_trial([t.trial_id for t in trials])
    vary = [k for k in varying_keys(trials) if k not in SELECTED_AWAY]
    model_keys = [k for k in vary if k.startswith("model.") and k != "model.family"]
    strategy_keys = [
        k
        for k in vary
        if k.startswith("strategy.") and k not in ("strategy.kind", "strategy.batch_size")
    ]
    groups: dict[tuple[Any, ...], list[TrialConfig]] = defaultdict(list)
    for t in trials:
        flat = t.flat()
        groups[tuple(json.dumps(flat.get(k)) for k in vary)].append(t)

    metric, sign = spec.selection.metric, (1 if spec.selection.mode == "min" else -1)
    rows = []
    for members in groups.values():
        first = members[0]
        points: dict[tuple[float, float], list[TrialRecord]] = defaultdict(list)
        diverged = 0
        for t in members:
            rec = records.get(t.trial_id)
            if rec is None or not rec.finished:
                continue
            if rec.outcome == "diverged":
                diverged += 1
                continue
            points[(t.optimizer.lr, t.model.lambda_)].append(rec)
        row: dict[str, Any] = {
            "dataset": first.data.dataset,
            "model": _label(first, model_keys, "model.", first.model.label),
            "strategy": _label(first, strategy_keys, "strategy.", first.strategy.label),
            "lr": None,
            "lambda": None,
            "done": sum(
                1 for t in members if t.trial_id in records and records[t.trial_id].finished
            ),
            "trials": len(members),
            "diverged": diverged,
        }
        scored = []
        for (lr, lam), recs in points.items():
            values = [r.metrics.get(metric, math.nan) for r in recs]
            if values and all(math.isfinite(v) for v in values):
                scored.append((sign * statistics.fmean(values), lr, lam, recs))
        if scored:
            _, lr, lam, recs = min(scored, key=lambda s: s[0])
            row.update({"lr": lr, "lambda": lam, "seeds": len(recs)})
            for col in METRIC_COLUMNS:
                vals = [r.metrics[col] for r in recs if col in r.metrics]
                row[col] = statistics.fmean(vals) if vals else None
                if len(vals) > 1:
                    row[f"{col}_std"] = statistics.stdev(vals)
        rows.append(row)
    return rows


COLUMNS = ("dataset", "model", "strategy", "lr", "lambda", *METRIC_COLUMNS, "done", "diverged")


def _cell(row: dict[str, Any], col: str) -> str:
    value = row.get(col)
    if value is None:
        return "-"
    if col == "done":
        return f"{value}/{row['trials']}"
    if isinstance(value, float):
        text = f"{value:.4g}" if col in ("lr", "lambda") else f"{value:.4f}"
        std = row.get(f"{col}_std")
        return f"{text} ± {std:.4f}" if std is not None else text
    return str(value)


def format_rows(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        keys = list(dict.fromkeys(k for r in rows for k in r)) or list(COLUMNS)
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    cells = [[_cell(r, c) for c in COLUMNS] for r in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(c) + " |" for c in cells]
        return "\n".join(lines)
    widths = [
        max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(COLUMNS)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)
