"""MoW's published costs: every transcribed row's cost column is its
own rec and distance combined by that table's definition (aesweep.config.costs), within the
rounding of the printed digits; each published cost sits beside the metric of that definition;
and a published number matches only trials of the same architecture, latent size, optimiser
and strategy."""

from __future__ import annotations

import math
from typing import Any

import pytest

from aesweep.config.costs import COSTS
from aesweep.config.trial import TrialConfig
from aesweep.sweeps.published import MOW_COLUMNS, MOW_COST, MOW_TABLES, PUBLISHED, published_for

BELOW, ABOVE = 0.0005, 0.001
"""MoW prints every rec, distance and cost to 3 decimals, rounded or truncated (the distances
are truncated: exp(cost - rec) lies in [printed, printed + 0.001) in all 18 rows of Tables 3
and 4, e.g. 0.0327 printed 0.032): a printed v stands for a value in [v - BELOW, v + ABOVE)."""


def _interval(metric: str, rec: float, distances: dict[str, float]) -> tuple[float, float]:
    """The cost's range over every rec and distance the printed ones stand for (the
    definitions are increasing in both)."""
    distance_metric, combine = COSTS[metric]
    d = distances[distance_metric]
    return combine(rec - BELOW, d - BELOW), combine(rec + ABOVE, d + ABOVE)


def _fits(metric: str, row: dict[str, float]) -> bool:
    low, high = _interval(metric, row["rec_error"], row)
    return low - ABOVE <= row["cost"] <= high + BELOW


ROWS = [
    (table, dataset, family, k, dict(zip(MOW_COLUMNS, values, strict=True)))
    for (table, dataset, family, _), by_k in MOW_TABLES.items()
    for k, values in by_k.items()
]


def test_every_row_of_tables_1_to_4_is_transcribed() -> None:
    counts: dict[str, int] = {}
    for table, *_ in ROWS:
        counts[table] = counts.get(table, 0) + 1
    assert counts == {"Table 1": 9, "Table 2": 9, "Table 3": 9, "Table 4": 9}


COSTED = [r for r in ROWS if MOW_COST[r[0]] is not None]


@pytest.mark.parametrize(("table", "dataset", "family", "k", "row"), COSTED)
def test_the_published_cost_is_the_tables_own_definition(
    table: str, dataset: str, family: str, k: int, row: dict[str, float]
) -> None:
    metric = MOW_COST[table]
    assert metric is not None
    assert _fits(metric, row), (metric, _interval(metric, row["rec_error"], row), row["cost"])


@pytest.mark.parametrize("table", ["Table 1", "Table 3", "Table 4"])
def test_no_other_definition_reproduces_the_whole_table(table: str) -> None:
    rows = [r for t, *_, r in ROWS if t == table]
    for other in COSTS:
        if other == MOW_COST[table]:
            continue
        assert not all(_fits(other, r) for r in rows), (table, other)


def test_table_4s_cost_is_the_mmd_not_the_sliced_distance() -> None:
    """exp(cost - rec) reproduces Table 4's WAE (MMD) distance column (0.0141 vs 0.014 ...)."""
    mnist = MOW_TABLES[("Table 4", "mnist", "swae", "SWAE")]
    implied = [math.exp(v[4] - v[3]) for v in mnist.values()]
    assert [round(x, 4) for x in implied] == [0.0141, 0.0161, 0.1568]
    entries = [e for e in PUBLISHED if e.table == "Table 4"]
    assert {e.metric for e in entries if "cost" in e.metric} == {"cost_mmd"}
    assert not any(e.metric == "cost" for e in PUBLISHED)
    assert not any("cost" in e.metric for e in PUBLISHED if e.table == "Table 2")


def _trial(**over: Any) -> TrialConfig:
    base: dict[str, Any] = {
        "trial_id": "x",
        "sweep": "s",
        "data": {"dataset": "mnist"},
        "model": {"family": "cwae", "latent_dim": 20, "architecture": "mlp"},
        "strategy": {"kind": "minibatch", "batch_size": 64},
        "optimizer": {"name": "sgd", "lr": 0.01},
        "epochs": 1,
        "seed": 0,
        "evaluation": {},
        "checkpoint": {},
    }
    for key, value in over.items():
        if "__" not in key:
            base[key] = value
            continue
        section, _, name = key.partition("__")
        base[section] = {**base[section], name: value}
    return TrialConfig.model_validate(base)


def test_published_numbers_match_only_like_with_like() -> None:
    assert {e.metric for e in published_for(_trial())} == set(MOW_COLUMNS) - {"cost"} | {"cost_cw"}
    # Latent 8: not MoW's MNIST experiment (latent 20), LCW Table 2's CWAE (23) instead.
    assert [e.value for e in published_for(_trial(model__latent_dim=8))] == [23]
    assert published_for(_trial(model__architecture="dcgan")) == []
    assert published_for(_trial(optimizer__name="adam")) == []
    # LCW Table 2: latent 8 and the MLP; its FID is not a dcgan one's.
    lcw = {"model__family": "cw2", "model__latent_dim": 8, "optimizer__name": "adam"}
    assert [e.value for e in published_for(_trial(**lcw))] == [17]
    assert published_for(_trial(**lcw, model__architecture="dcgan")) == []
    # MoCA: CIFAR-10's 54.36 is a ResNet-18; CelebA's uses latent 128.
    moca = {"model__family": "moca", "model__prior": "sphere", "strategy__kind": "momentum_queue"}
    cifar = _trial(**moca, data__dataset="cifar10", model__architecture="conv_cifar")
    assert published_for(cifar) == []
    celeba = {**moca, "data__dataset": "celeba"}
    assert published_for(_trial(**celeba, model__latent_dim=64, model__architecture="conv64")) == []
    got = published_for(_trial(**celeba, model__latent_dim=128, model__architecture="conv64"))
    assert [e.value for e in got] == [44.59]
    # The generator family (RSR toy network, 50 directions) is not LCW's SW-Generator.
    gen = _trial(
        model={"family": "generator"},
        strategy={"kind": "minibatch", "batch_size": 64},
    )
    assert published_for(gen) == []
