"""The trials of an Optuna search, read back from MLflow: they are not planned before the run,
so ``results``, ``status`` and a resubmission take them from the child runs' resolved configs
(the ``aesweep.config`` tag), keeping those that this spec's space could sample (the same id
once resolved from their sampled values)."""

from __future__ import annotations

import json
import math
from typing import Any

from aesweep.config.trial import TrialConfig
from aesweep.sweeps.plan import optuna_space, sampled_trials
from aesweep.sweeps.spec import SweepSpec
from aesweep.tracking.schema import TAG_CONFIG, Outcome
from aesweep.tracking.store import SweepStore, TrialRecord


def sampled_values(spec: SweepSpec, resolved: dict[str, Any]) -> dict[str, Any]:
    """``section.field`` -> the value a resolved config holds for each key of the space."""
    out = {}
    for key in optuna_space(spec):
        section, _, name = key.partition(".")
        out[key] = resolved[section][name]
    return out


def recorded_trials(spec: SweepSpec, store: SweepStore) -> list[tuple[TrialConfig, TrialRecord]]:
    """Every trial of this Optuna search recorded in MLflow (oldest first) with its record
    (the one that counts: finished if any, else the newest)."""
    sampled = sampled_trials(spec)
    found: dict[str, TrialConfig] = {}
    for rec in reversed(store.trial_records()):
        text = rec.tags.get(TAG_CONFIG)
        if text is None or rec.trial_id in found:
            continue
        try:
            trial = sampled.trial(sampled_values(spec, json.loads(text)))
        except (KeyError, ValueError, TypeError):
            continue  # another spec's trial in the same experiment
        if trial.trial_id == rec.trial_id:
            found[rec.trial_id] = trial
    latest = store.latest_by_trial(list(found))
    return [(t, latest[tid]) for tid, t in found.items() if tid in latest]


def searcher_history(
    spec: SweepSpec, store: SweepStore
) -> tuple[list[dict[str, Any]], list[float]]:
    """The finished trials' sampled values and metric, to seed the searcher with
    (``points_to_evaluate``, ``evaluated_rewards``): a diverged trial's is the worst (±inf)."""
    metric, mode = spec.rank_metric
    worst = math.inf if mode == "min" else -math.inf
    points, rewards = [], []
    for trial, rec in recorded_trials(spec, store):
        if not rec.finished:
            continue
        value = rec.metrics.get(metric, math.nan)
        if rec.outcome == Outcome.DIVERGED or not math.isfinite(value):
            value = worst
        points.append(sampled_values(spec, trial.resolved_view()))
        rewards.append(value)
    return points, rewards
