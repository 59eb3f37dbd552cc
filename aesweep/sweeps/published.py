"""Published test-set numbers of the papers, to print beside a sweep's rows (``results --paper``).

The values of REFERENCE.md's "Published numbers to compare against", with every row of MoW
Tables 1-4 that has a rec, distances and a cost (MoW §4, Appendix B Table 2, Appendix C Tables
3 and 4). Each entry matches only like with like: the dataset, the model label (family, ``+lt``
with the Latent Trick) and every field the paper fixes (``requires``: dotted keys of the trial's
resolved config — architecture, latent dimension, optimiser, strategy, ...), and for MoW the
strategy's (n, k): ``moving_window(n, k)`` or, for k = n, ``minibatch(n)``. An experiment run
with a network this package does not have (MoW's CelebA network, MoCA's ResNet-18, LCW's 6×512
SW-Generator) names that network in ``requires``, so no trial matches it.

Each MoW cost sits beside the quantity the table's cost column actually is
(:mod:`aesweep.config.costs`): Table 1 ``cost_wae`` (rec + WAE distance), Table 4 ``cost_mmd``
(rec + ln WAE distance, although its caption says SWAE distance), Table 3 ``cost_cw`` (rec +
ln CWAE distance); Table 2's cost column is reproduced by none and left out. Also left out:
numbers of models this package has no family for (LCW's CW-Generator, RSR Table 2's fine-tuned
E2GAN, VAE). FID numbers compare only under
the same Inception weights, reference split and sample count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aesweep.config.trial import TrialConfig
from aesweep.sweeps.results import (
    METRIC_ORDER,
    ROW_ONLY_METRICS,
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
    requires: Mapping[str, Any] = field(default_factory=dict)
    """Dotted keys of the trial's resolved config (``TrialConfig.flat()``) and the values the
    paper used; a trial without such a key does not match."""


MOW_WINDOW: dict[str, Callable[[Any], tuple[int, int]]] = {
    "minibatch": lambda s: (s.batch_size, s.batch_size),
    "moving_window": lambda s: (s.window, s.fresh),
}
"""Strategy kind -> MoW's (n, k) of that strategy."""

MOW_COLUMNS = ("lr", "cw_distance", "wae_distance", "rec_error", "cost", "fid")
"""The columns of MoW's tables, in order ("cost": the table's cost column, see MOW_COST)."""
MOW_COST: dict[str, str | None] = {
    "Table 1": "cost_wae",
    "Table 2": None,
    "Table 3": "cost_cw",
    "Table 4": "cost_mmd",
}
"""What each MoW table's cost column is (aesweep.config.costs), recomputed from its own rows
(tests/sweeps/test_published_costs.py). Table 2's (Fashion-MNIST, Adam) is rec + ln(WAE distance)
in 8 of its 9 rows but not in SWAE k = 32's (exp(cost - rec) = 0.0210 beside a printed 0.022):
no definition reproduces it all, so it is not compared."""
MOW_SETUP: dict[str, tuple[str, dict[str, Any]]] = {
    # dataset: (the paper's name, the fields it fixes; MoW Appendix A and B)
    "mnist": (
        "MNIST",
        {"model.architecture": "mlp", "model.latent_dim": 20, "optimizer.name": "sgd"},
    ),
    "cifar10": (
        "CIFAR-10",
        {"model.architecture": "conv_cifar", "model.latent_dim": 64, "optimizer.name": "sgd"},
    ),
    "celeba": (  # 4 convolutions 32-32-64-64, dense 1024 and 256: no architecture of ours
        "CelebA",
        {"model.architecture": "mow_celeba", "model.latent_dim": 32, "optimizer.name": "sgd"},
    ),
    "fashion_mnist": (
        "Fashion-MNIST",
        {"model.architecture": "dcgan", "model.latent_dim": 8, "optimizer.name": "adam"},
    ),
}
_T = tuple[float, float, float, float, float, float]
MOW_TABLES: dict[tuple[str, str, str, str], dict[int, _T]] = {
    # (table, dataset, family, paper's name): {k: (lr, CWAE dist, WAE dist, rec, cost, FID)}
    ("Table 1", "mnist", "wae_mmd", "WAE"): {
        64: (0.01, 0.026, 0.009, 5.495, 5.503, 48.491),
        32: (0.005, 0.027, 0.009, 5.426, 5.436, 49.218),
        1: (0.0025, 0.154, 0.306, 4.894, 5.200, 54.753),
    },
    ("Table 1", "cifar10", "wae_mmd", "WAE"): {
        64: (0.0025, 0.019, 0.023, 25.248, 25.271, 189.711),
        32: (0.005, 0.017, 0.019, 24.831, 24.851, 156.142),
        1: (0.001, 0.083, 0.192, 26.177, 26.369, 200.684),
    },
    ("Table 1", "celeba", "wae_mmd", "WAE"): {
        64: (0.005, 0.016, 0.008, 116.873, 116.881, 62.234),
        32: (0.005, 0.017, 0.009, 117.256, 117.266, 60.605),
        1: (0.001, 0.064, 0.124, 116.306, 116.431, 74.880),
    },
    ("Table 2", "fashion_mnist", "cwae", "CWAE"): {
        64: (0.001, 0.059, 0.013, 9.925, 5.607, 44.112),
        32: (0.0001, 0.055, 0.009, 9.166, 4.511, 46.557),
        1: (0.00001, 0.067, 0.017, 8.646, 4.576, 48.993),
    },
    ("Table 2", "fashion_mnist", "wae_mmd", "WAE"): {
        64: (0.001, 0.057, 0.008, 9.627, 4.822, 50.656),
        32: (0.0001, 0.058, 0.009, 8.931, 4.312, 51.940),
        1: (0.00001, 0.072, 0.027, 8.587, 4.980, 53.799),
    },
    ("Table 2", "fashion_mnist", "swae", "SWAE"): {
        64: (0.001, 0.065, 0.014, 9.641, 5.429, 53.122),
        32: (0.0001, 0.071, 0.022, 8.831, 4.969, 56.618),
        1: (0.00001, 0.078, 0.031, 8.594, 5.123, 52.453),
    },
    ("Table 3", "mnist", "cwae", "CWAE"): {
        64: (0.01, 0.024, 0.008, 5.617, 1.903, 48.201),
        32: (0.0075, 0.024, 0.008, 5.324, 1.604, 43.796),
        1: (0.0025, 0.032, 0.025, 4.989, 1.568, 36.960),
    },
    ("Table 3", "cifar10", "cwae", "CWAE"): {
        64: (0.001, 0.010, 0.006, 35.921, 31.341, 195.161),
        32: (0.0025, 0.009, 0.005, 37.285, 32.651, 159.279),
        1: (0.001, 0.014, 0.015, 26.681, 22.435, 133.820),
    },
    ("Table 3", "celeba", "cwae", "CWAE"): {
        64: (0.005, 0.015, 0.006, 118.584, 114.425, 59.919),
        32: (0.0075, 0.014, 0.004, 117.466, 113.204, 58.577),
        1: (0.00075, 0.017, 0.009, 116.060, 112.025, 58.234),
    },
    ("Table 4", "mnist", "swae", "SWAE"): {
        64: (0.01, 0.030, 0.014, 5.658, 1.394, 51.987),
        32: (0.001, 0.031, 0.016, 7.291, 3.164, 79.401),
        1: (0.0025, 0.095, 0.156, 4.871, 3.018, 43.398),
    },
    ("Table 4", "cifar10", "swae", "SWAE"): {
        64: (0.01, 0.025, 0.026, 26.659, 23.036, 149.705),
        32: (0.001, 0.049, 0.058, 25.295, 22.457, 228.323),
        1: (0.001, 0.044, 0.088, 26.204, 23.775, 154.941),
    },
    ("Table 4", "celeba", "swae", "SWAE"): {
        64: (0.001, 0.026, 0.020, 121.953, 118.072, 73.150),
        32: (0.001, 0.026, 0.020, 118.462, 114.588, 77.356),
        1: (0.00075, 0.042, 0.066, 115.683, 112.970, 79.518),
    },
}
"""MoW Tables 1-4 as printed (n = 64 throughout)."""


def _mow_entries() -> list[Published]:
    out = []
    for (table, dataset, family, name), by_k in MOW_TABLES.items():
        where, requires = MOW_SETUP[dataset]
        optimizer = requires["optimizer.name"].upper() if dataset == "fashion_mnist" else "SGD"
        for k, values in by_k.items():
            source = f"MoW (paper 000) {table}: {where}, {name}, n = 64, k = {k}, {optimizer}"
            for column, value in zip(MOW_COLUMNS, values, strict=True):
                metric = MOW_COST[table] if column == "cost" else column
                if metric is None:
                    continue
                out.append(
                    Published(
                        "MoW",
                        table,
                        dataset,
                        family,
                        metric,
                        value,
                        source,
                        window=(64, k),
                        requires=requires,
                    )
                )
    return out


def _fid(paper: str, table: str, dataset: str, model: str, value: float, **kw: Any) -> Published:
    metric = "lt_fid" if model.endswith("+lt") else "fid"
    where = {"mnist": "MNIST", "celeba": "CelebA", "cifar10": "CIFAR-10"}[dataset]
    source = f"{paper} {table}: {where}, {kw.pop('name', model)}, FID"
    return Published(paper, table, dataset, model, metric, value, source, **kw)


LCW_MNIST = {"model.architecture": "mlp", "model.latent_dim": 8}
"""LCW §5: MNIST with latent 8 and the MLP of the CWAE code (3 × 200 ReLU, mirrored)."""
PUBLISHED: tuple[Published, ...] = (
    *_mow_entries(),
    _fid("LCW (paper 002)", "Table 2", "mnist", "ae", 52, name="AE", requires=LCW_MNIST),
    _fid("LCW (paper 002)", "Table 2", "mnist", "ae+lt", 22, name="AE+LT", requires=LCW_MNIST),
    _fid("LCW (paper 002)", "Table 2", "mnist", "cwae", 23, name="CWAE", requires=LCW_MNIST),
    _fid("LCW (paper 002)", "Table 2", "mnist", "cwae+lt", 20, name="CWAE+LT", requires=LCW_MNIST),
    _fid("LCW (paper 002)", "Table 2", "mnist", "cw2", 17, name="CW²", requires=LCW_MNIST),
    _fid(
        "LCW (paper 002)",
        "Table 2",
        "mnist",
        "cw2+lt",
        14,
        name="LCW (CW² + LT)",
        requires=LCW_MNIST,
    ),
    _fid(
        "LCW (paper 002)",
        "Table 3",
        "mnist",
        "cw2+lt",
        14.92,
        name="LCW generator",
        requires=LCW_MNIST,
    ),
    _fid(  # a 6 × 512 MLP with 5,000 directions, not the RSR toy network of the generator family
        "LCW (paper 002)",
        "Table 3",
        "mnist",
        "generator",
        17.85,
        name="SW-Generator",
        requires={"model.hidden": "6x512", "model.projections": 5000},
    ),
    _fid(
        "WAE (paper 004)",
        "Table 1",
        "celeba",
        "wae_mmd",
        55,
        name="WAE-MMD",
        requires={"model.architecture": "dcgan", "model.latent_dim": 64},
    ),
    _fid(
        "WAE (paper 004)",
        "Table 1",
        "celeba",
        "wae_gan",
        42,
        name="WAE-GAN",
        requires={"model.architecture": "dcgan", "model.latent_dim": 64},
    ),
    _fid(
        "MoCA (paper 003)",
        "Table 1",
        "cifar10",
        "moca",
        54.36,
        name="MoCA (ResNet-18)",
        requires={"strategy.kind": "momentum_queue", "model.architecture": "resnet18"},
    ),
    _fid(
        "MoCA (paper 003)",
        "Table 1",
        "celeba",
        "moca",
        44.59,
        name="MoCA (latent 128)",
        requires={"strategy.kind": "momentum_queue", "model.latent_dim": 128},
    ),
)

_ABSENT = object()


def matches(entry: Published, trial: TrialConfig) -> bool:
    """Whether ``entry`` reports the experiment of ``trial``'s row: dataset, model label,
    every required field, and MoW's (n, k)."""
    if (entry.dataset, entry.model) != (trial.data.dataset, trial.model.label):
        return False
    flat = trial.flat()
    if any(flat.get(k, _ABSENT) != v for k, v in entry.requires.items()):
        return False
    if entry.window is not None:
        window = MOW_WINDOW.get(trial.strategy.kind)
        return window is not None and window(trial.strategy) == entry.window
    return True


def published_for(trial: TrialConfig) -> list[Published]:
    return [e for e in PUBLISHED if matches(e, trial)]


FID_PAPERS = {"samples": 10_000}
PAPER_PROTOCOLS: dict[str, dict[str, Any]] = {
    # paper (as Published.paper) -> dotted evaluation keys of TrialConfig.flat() and its value
    "MoW": {
        "evaluation.latent_samples": 2000,  # MoW's evaluator: 2,000-image random test subsets
        "evaluation.mmd_draws": 3,
        "evaluation.cw_subsets": 5,
        "evaluation.fid.samples": FID_PAPERS["samples"],
    },
    "LCW (paper 002)": {"evaluation.fid.samples": FID_PAPERS["samples"]},
    "WAE (paper 004)": {"evaluation.fid.samples": FID_PAPERS["samples"]},
    "MoCA (paper 003)": {"evaluation.fid.samples": FID_PAPERS["samples"]},
}
"""What each paper's published numbers were measured with, as far as the paper or its code
says (REFERENCE.md: "The papers use 10,000 samples" for FID; MoW's distance evaluator). The
reference split of the papers' FID differs between their codes and is not stated: printed as
ours, never compared."""


def protocol_differences(groups: list[ResultGroup]) -> list[str]:
    """For each paper with a matching row: where the rows' trials were evaluated otherwise
    than the paper (one line per paper and field, with the values seen)."""
    seen: dict[tuple[str, str], set[str]] = {}
    splits: dict[str, set[str]] = {}
    for group in groups:
        for trial in group.trials:
            papers = {e.paper for e in published_for(trial)}
            flat = trial.flat()
            for paper in papers:
                for key, theirs in PAPER_PROTOCOLS.get(paper, {}).items():
                    ours = flat.get(key, _ABSENT)
                    if ours != theirs:
                        if ours is _ABSENT and key.startswith("evaluation.fid."):
                            text = "FID off"
                        else:
                            text = str(ours)
                        seen.setdefault((paper, key), set()).add(text)
                if "evaluation.fid.split" in flat:
                    splits.setdefault(paper, set()).add(str(flat["evaluation.fid.split"]))
    lines = []
    for (paper, key), values in sorted(seen.items()):
        theirs = PAPER_PROTOCOLS[paper][key]
        lines.append(f"{paper}: {key} {', '.join(sorted(values))} (the paper: {theirs})")
    for paper, values in sorted(splits.items()):
        lines.append(
            f"{paper}: FID reference split {', '.join(sorted(values))} (the paper's: not stated)"
        )
    return lines


COMPARISON_COLUMNS = ("dataset", "model", "strategy", "metric", "ours", "published", "source")
_METRIC_ORDER = ("lr", *METRIC_ORDER, *ROW_ONLY_METRICS)


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
        differences = protocol_differences(groups)
        if differences and fmt != "csv":
            tail += "\n\nevaluated otherwise than the papers:\n" + "\n".join(differences)
    return f"{format_rows(rows, fmt)}\n\n{tail}"
