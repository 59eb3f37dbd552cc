"""Was early stopping safe? (``results --stopping``). With ``search.scheduler.audit: K`` the
first K trials ASHA would have stopped at its earliest rung ran to the end anyway; over every
trial that ran to the end, the Spearman rank correlation between the metric at the earliest
rung and the final metric says whether the rung's ranking predicts the final one, and the
selection with and without the audited trials whether stopping would have changed the pick.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from aesweep.config.trial import TrialConfig
from aesweep.sweeps.spec import SweepSpec
from aesweep.tracking.schema import Outcome
from aesweep.tracking.store import SweepStore, TrialRecord


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation (ties: average ranks); None with fewer than 3 pairs or a
    constant side."""
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    from scipy.stats import spearmanr

    return float(spearmanr(xs, ys).statistic)


@dataclass
class StoppingRow:
    group: str
    rung_epoch: int
    pairs: list[tuple[str, float, float]]  # trial id, rung metric, final metric
    audited: list[str]
    correlation: float | None
    selected: str | None  # over every trial that ran to the end
    selected_if_stopped: str | None  # over those the scheduler let run (audited left out)

    @property
    def same(self) -> bool | None:
        if self.selected is None:
            return None
        return self.selected == self.selected_if_stopped

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "rung_epoch": self.rung_epoch,
            "ran_to_end": len(self.pairs),
            "audited": len(self.audited),
            "spearman": self.correlation,
            "selected": self.selected,
            "selected_if_stopped": self.selected_if_stopped,
            "same_selection": self.same,
        }


def stopping_rows(
    spec: SweepSpec, trials: list[TrialConfig], store: SweepStore
) -> list[StoppingRow]:
    """Per (dataset, model, strategy): the rung-vs-final correlation and the two selections."""
    sched = spec.search.scheduler
    if sched is None:
        return []
    metric, mode = spec.rank_metric
    sign = 1.0 if mode == "min" else -1.0
    records = store.latest_by_trial([t.trial_id for t in trials])
    by_group: dict[str, list[TrialRecord]] = defaultdict(list)
    for t in trials:
        rec = records.get(t.trial_id)
        if rec is not None and rec.outcome == Outcome.FINISHED:
            by_group[" / ".join(t.group_key)].append(rec)
    rows = []
    for group, recs in by_group.items():
        pairs = []
        for rec in recs:
            history = dict(store.metric_history(rec.run_id, metric))
            rung, final = history.get(sched.grace_period), rec.metrics.get(metric)
            if rung is not None and final is not None and math.isfinite(rung + final):
                pairs.append((rec.trial_id, rung, final))
        audited = [r.trial_id for r in recs if r.audit_epoch is not None]
        rows.append(
            StoppingRow(
                group=group,
                rung_epoch=sched.grace_period,
                pairs=pairs,
                audited=audited,
                correlation=spearman([p[1] for p in pairs], [p[2] for p in pairs]),
                selected=_best(pairs, sign),
                selected_if_stopped=_best([p for p in pairs if p[0] not in audited], sign),
            )
        )
    return rows


def _best(pairs: list[tuple[str, float, float]], sign: float) -> str | None:
    return min(pairs, key=lambda p: sign * p[2])[0] if pairs else None


def format_stopping(rows: list[StoppingRow]) -> str:
    if not rows:
        return "no early stopping to audit (search.scheduler with audit: K, then run)"
    lines = []
    for r in rows:
        rho = "-" if r.correlation is None else f"{r.correlation:.3f}"
        same = {None: "-", True: "yes", False: "NO"}[r.same]
        lines.append(
            f"{r.group}: Spearman(metric at epoch {r.rung_epoch}, final) = {rho} over "
            f"{len(r.pairs)} trials run to the end ({len(r.audited)} audited); selected "
            f"{r.selected}, without the audited {r.selected_if_stopped}: same selection {same}"
        )
    return "\n".join(lines)
