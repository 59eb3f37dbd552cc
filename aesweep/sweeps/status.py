"""Where a sweep stands: each trial's state and progress, read back from MLflow.

States: pending (no run yet, or scheduled), running, finished, stopped (early, by the
scheduler), diverged, failed, killed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aesweep.config.trial import TrialConfig
from aesweep.tracking.schema import DONE, METRIC_EPOCH, Outcome
from aesweep.tracking.store import SweepStore

STATE_OF_STATUS = {"SCHEDULED": "pending", "RUNNING": "running", "FINISHED": Outcome.FINISHED}


def trial_states(trials: list[TrialConfig], store: SweepStore) -> list[dict[str, Any]]:
    records = store.latest_by_trial([t.trial_id for t in trials])
    rows = []
    for t in trials:
        rec = records.get(t.trial_id)
        if rec is None:
            state, epoch = "pending", 0
        else:
            state = rec.outcome or STATE_OF_STATUS.get(rec.status, rec.status.lower())
            if rec.status == "RUNNING":
                state = "running"
            epoch = int(rec.metrics.get(METRIC_EPOCH, 0))
        rows.append({"trial_id": t.trial_id, "state": state, "epoch": epoch, "epochs": t.epochs})
    return rows


def pending_states(trials: list[TrialConfig]) -> list[dict[str, Any]]:
    """Every trial pending: a sweep with no records yet (the store is not opened)."""
    return [
        {"trial_id": t.trial_id, "state": "pending", "epoch": 0, "epochs": t.epochs} for t in trials
    ]


def progress_line(rows: list[dict[str, Any]]) -> str:
    counts = Counter(r["state"] for r in rows)
    done = sum(counts[o] for o in DONE)
    order = [Outcome.FINISHED, Outcome.STOPPED, Outcome.DIVERGED, "running", "pending"]
    order += [Outcome.FAILED, Outcome.KILLED]
    parts = [f"{counts[s]} {s}" for s in order if counts[s]]
    return f"{done}/{len(rows)} trials done: " + ", ".join(parts)
