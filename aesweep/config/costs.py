"""The costs of MoW's tables, one definition each (torch-free: the evaluation computes them, the
published-number table recomputes its own rows with them).

MoW selects the lr by "cost = rec + log(distance)" (MoW §4, Appendix C), but its tables print
three different quantities in their cost columns; recomputed from their own rec and distance
columns (tests/sweeps/test_published_costs.py):

- Table 1 ("WAE cost"): rec + WAE distance, no log                      -> ``cost_wae``
- Table 4 ("SWAE cost"): rec + ln(WAE distance), the *WAE (MMD)* distance column, although
  the caption says SWAE distance                                          -> ``cost_mmd``
- Table 3 ("CWAE cost"): rec + ln(CWAE distance)                         -> ``cost_cw``

(Table 2, Fashion-MNIST with Adam, is rec + ln(WAE distance) in 8 of 9 rows, not in SWAE
k = 32's; aesweep/sweeps/published.py leaves its cost out.) The printed distances are truncated
to 3 decimals, not rounded: exp(cost - rec) lies in [printed, printed + 0.001) in every row of
Tables 3 and 4.

Our ``cost`` is rec + log(the distance the family regularises: MMD, CW or SW; CW for a family
without one): what a spec selects on, not a published column for SWAE.

The WAE distance is a U-statistic (MoW's evaluator) and can be zero or negative; inside a log
it is taken as at least :data:`LOG_FLOOR` (1e-4, below every published distance: the smallest
is 0.004), so a distance indistinguishable from zero gives a finite cost of rec - 9.21.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

LOG_FLOOR = 1e-4
"""The least distance a log cost takes (a U-statistic MMD can be <= 0)."""


def log_cost(rec: float, distance: float) -> float:
    """rec + ln(max(distance, LOG_FLOOR))."""
    return rec + math.log(max(distance, LOG_FLOOR))


def linear_cost(rec: float, distance: float) -> float:
    """rec + distance (MoW Table 1's cost column)."""
    return rec + distance


COSTS: dict[str, tuple[str, Callable[[float, float], float]]] = {
    "cost_wae": ("wae_distance", linear_cost),
    "cost_mmd": ("wae_distance", log_cost),
    "cost_cw": ("cw_distance", log_cost),
}
"""Cost metric -> (the distance metric it takes, how it combines rec_error with it)."""


def cost_of(metric: str, rec: float, distances: Mapping[str, float]) -> float | None:
    """The cost ``metric`` from rec_error and the distance it takes (None when absent)."""
    distance_metric, combine = COSTS[metric]
    distance = distances.get(distance_metric)
    return None if distance is None else combine(rec, distance)


def cost_metrics(metrics: Mapping[str, float], family_distance: str | None) -> dict[str, float]:
    """``cost`` (rec + log of ``family_distance``) and every :data:`COSTS` entry whose
    distance ``metrics`` holds."""
    rec = metrics["rec_error"]
    out: dict[str, float] = {}
    if family_distance is not None and family_distance in metrics:
        out["cost"] = log_cost(rec, metrics[family_distance])
    for name in COSTS:
        value = cost_of(name, rec, metrics)
        if value is not None:
            out[name] = value
    return out
