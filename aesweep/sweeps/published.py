"""Published test-set numbers of the papers, to print beside a sweep's rows (``results --paper``).

The values of REFERENCE.md's "Published numbers to compare against", with the full MNIST rows
of MoW Tables 1, 3 and 4 (MoW Supplement C). An entry matches a row by dataset, model label
(family, ``+lt`` with the Latent Trick) and, where the paper fixes them, the latent dimension
and the strategy: MoW's (n, k) is ``moving_window(n, k)`` or, for k = n, ``minibatch(n)``
(MoW(n, k = n) is minibatch training). Left out: numbers of models this package has no family
for (LCW's CW-Generator, RSR Table 2's fine-tuned E2GAN, VAE) and MoW's WAE cost column, which
is rec + distance (no log), unlike ``cost`` here. FID numbers compare only under the same
Inception weights, reference split and sample count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aesweep.config.trial import TrialConfig
from aesweep.sweeps.results import (
    METRIC_ORDER,
    ResultGroup,
    format_cell,
    format_rows,
    format_table,
)


@dataclass(frozen=True)
class Published:
    """One published number: ``metric`` is the name of our column it compares with."""

    paper: str
    table: str
    dataset: str
    model: str  # a model label: family, "+lt" with the Latent Trick
    metric: str
    value: float
    source: str
    window: tuple[int, int] | None = None  # MoW's (n, k); None: any
    strategy: str | None = None  # a strategy kind; None: any
    latent_dim: int | None = None  # the paper's latent dimension; None: any


MOW_WINDOW: dict[str, Callable[[Any], tuple[int, int]]] = {
    "minibatch": lambda s: (s.batch_size, s.batch_size),
    "moving_window": lambda s: (s.window, s.fresh),
}
"""Strategy kind -> MoW's (n, k) of that strategy."""

_MOW_COLUMNS = ("lr", "cw_distance", "wae_distance", "rec_error", "cost", "fid")
_MOW_MNIST: dict[tuple[str, str, str], dict[int, tuple[float | None, ...]]] = {
    # (table, family, paper's name): {k: (lr, CWAE dist, WAE dist, rec, cost or None, FID)}
    ("Table 1", "wae_mmd", "WAE"): {
        64: (0.01, 0.026, 0.009, 5.495, None, 48.491),
        32: (0.005, 0.027, 0.009, 5.426, None, 49.218),
        1: (0.0025, 0.154, 0.306, 4.894, None, 54.753),
    },
    ("Table 3", "cwae", "CWAE"): {
        64: (0.01, 0.024, 0.008, 5.617, 1.903, 48.201),
        32: (0.0075, 0.024, 0.008, 5.324, 1.604, 43.796),
        1: (0.0025, 0.032, 0.025, 4.989, 1.568, 36.960),
    },
    ("Table 4", "swae", "SWAE"): {
        64: (0.01, 0.030, 0.014, 5.658, 1.394, 51.987),
        32: (0.001, 0.031, 0.016, 7.291, 3.164, 79.401),
        1: (0.0025, 0.095, 0.156, 4.871, 3.018, 43.398),
    },
}


def _mow_entries() -> list[Published]:
    out = []
    for (table, family, name), by_k in _MOW_MNIST.items():
        for k, values in by_k.items():
            source = f"MoW (paper 000) {table}: MNIST, {name}, n = 64, k = {k}, SGD"
            for metric, value in zip(_MOW_COLUMNS, values, strict=True):
                if value is not None:
                    out.append(
                        Published(
                            "MoW",
                            table,
                            "mnist",
                            family,
                            metric,
                            value,
                            source,
                            window=(64, k),
                            latent_dim=20,
                        )
                    )
    return out


def _fid(paper: str, table: str, dataset: str, model: str, value: float, **kw: Any) -> Published:
    metric = "lt_fid" if model.endswith("+lt") else "fid"
    where = {"mnist": "MNIST", "celeba": "CelebA", "cifar10": "CIFAR-10"}[dataset]
    source = f"{paper} {table}: {where}, {kw.pop('name', model)}, FID"
    return Published(paper, table, dataset, model, metric, value, source, **kw)


PUBLISHED: tuple[Published, ...] = (
    *_mow_entries(),
    _fid("LCW (paper 002)", "Table 2", "mnist", "ae", 52, name="AE", latent_dim=8),
    _fid("LCW (paper 002)", "Table 2", "mnist", "ae+lt", 22, name="AE+LT", latent_dim=8),
    _fid("LCW (paper 002)", "Table 2", "mnist", "cwae", 23, name="CWAE", latent_dim=8),
    _fid("LCW (paper 002)", "Table 2", "mnist", "cwae+lt", 20, name="CWAE+LT", latent_dim=8),
    _fid("LCW (paper 002)", "Table 2", "mnist", "cw2", 17, name="CW²", latent_dim=8),
    _fid("LCW (paper 002)", "Table 2", "mnist", "cw2+lt", 14, name="LCW (CW² + LT)", latent_dim=8),
    _fid(
        "LCW (paper 002)", "Table 3", "mnist", "cw2+lt", 14.92, name="LCW generator", latent_dim=8
    ),
    _fid("LCW (paper 002)", "Table 3", "mnist", "generator", 17.85, name="SW-Generator"),
    _fid("WAE (paper 004)", "Table 1", "celeba", "wae_mmd", 55, name="WAE-MMD", latent_dim=64),
    _fid("WAE (paper 004)", "Table 1", "celeba", "wae_gan", 42, name="WAE-GAN", latent_dim=64),
    _fid(
        "MoCA (paper 003)",
        "Table 1",
        "cifar10",
        "moca",
        54.36,
        name="MoCA (ResNet-18)",
        strategy="momentum_queue",
    ),
    _fid("MoCA (paper 003)", "Table 1", "celeba", "moca", 44.59, strategy="momentum_queue"),
)


def matches(entry: Published, trial: TrialConfig) -> bool:
    """Whether ``entry`` reports the experiment of ``trial``'s row."""
    if (entry.dataset, entry.model) != (trial.data.dataset, trial.model.label):
        return False
    if entry.strategy is not None and entry.strategy != trial.strategy.kind:
        return False
    if entry.latent_dim is not None and entry.latent_dim != trial.model.latent_dim:
        return False
    if entry.window is not None:
        window = MOW_WINDOW.get(trial.strategy.kind)
        return window is not None and window(trial.strategy) == entry.window
    return True


def published_for(trial: TrialConfig) -> list[Published]:
    return [e for e in PUBLISHED if matches(e, trial)]


COMPARISON_COLUMNS = ("dataset", "model", "strategy", "metric", "ours", "published", "source")
_METRIC_ORDER = ("lr", *METRIC_ORDER)


def comparison_rows(groups: list[ResultGroup], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For every table row an experiment of a paper matches: one line per published metric,
    our value (mean ± std, as the table prints it) beside the published one."""
    out = []
    for group, row in zip(groups, rows, strict=True):
        entries = published_for(group.trials[0])
        entries.sort(key=lambda e: (e.source, _METRIC_ORDER.index(e.metric)))
        for e in entries:
            ours = format_cell(row, e.metric) if e.metric in row or e.metric == "lr" else "-"
            out.append(
                {
                    "dataset": row["dataset"],
                    "model": row["model"],
                    "strategy": row["strategy"],
                    "metric": e.metric,
                    "ours": ours,
                    "ours_value": row.get(e.metric),
                    "ours_std": row.get(f"{e.metric}_std"),
                    "published": f"{e.value:g}",
                    "published_value": e.value,
                    "source": e.source,
                }
            )
    return out


def format_with_published(groups: list[ResultGroup], rows: list[dict[str, Any]], fmt: str) -> str:
    """The results table followed by the published numbers its rows reproduce (json: each
    row gets a ``published`` list)."""
    comparison = comparison_rows(groups, rows)
    if fmt == "json":
        for row in rows:
            row["published"] = [
                {k: c[k] for k in ("metric", "published_value", "source")}
                for c in comparison
                if (c["dataset"], c["model"], c["strategy"])
                == (row["dataset"], row["model"], row["strategy"])
            ]
        return format_rows(rows, fmt)
    if not comparison:
        tail = "no published numbers match these rows (dataset, model, strategy)"
    else:
        heading = (
            "published numbers (REFERENCE.md, 'Published numbers to compare against'); "
            "FID compares only under the same Inception weights, split and sample count:"
        )
        table = format_table(comparison, list(COMPARISON_COLUMNS), fmt)
        tail = table if fmt == "csv" else f"{heading}\n{table}"
    return f"{format_rows(rows, fmt)}\n\n{tail}"
