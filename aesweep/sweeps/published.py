"""Published test-set numbers of the papers, to print beside a sweep's rows (``results --paper``).

The values of REFERENCE.md's "Published numbers to compare against", with every row of MoW
Tables 1-4 that has a rec, distances and a cost (MoW §4, Appendix B Table 2, Appendix C Tables
3 and 4), are data files, one per paper (``sweeps/papers/*.yaml``, read by
:mod:`aesweep.sweeps.paper_tables`); this module matches them with a sweep's rows. Each entry
matches only like with like: the dataset, the model label (family, ``+lt`` with the Latent
Trick) and every field the paper fixes (``requires``: dotted keys of the trial's resolved
config — architecture, latent dimension, optimiser, strategy, ...), and for MoW the strategy's
(n, k): ``moving_window(n, k)`` or, for k = n, ``minibatch(n)``. An experiment run
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

from collections.abc import Callable
from typing import Any

from aesweep.config.trial import TrialConfig
from aesweep.sweeps.paper_tables import Paper, Published, load_papers
from aesweep.sweeps.results import (
    METRIC_ORDER,
    ROW_ONLY_METRICS,
    ResultGroup,
    format_cell,
    format_rows,
    format_table,
)

MOW_WINDOW: dict[str, Callable[[Any], tuple[int, int]]] = {
    "minibatch": lambda s: (s.batch_size, s.batch_size),
    "moving_window": lambda s: (s.window, s.fresh),
}
"""Strategy kind -> MoW's (n, k) of that strategy."""

PAPERS = load_papers()
PUBLISHED: tuple[Published, ...] = tuple(e for paper in PAPERS for e in paper.entries())
"""Every published number, in the order of the papers' files and of their tables."""
PAPER_PROTOCOLS: dict[str, dict[str, Any]] = {p.paper: p.protocol for p in PAPERS if p.protocol}
"""What each paper's published numbers were measured with, as far as the paper or its code
says (REFERENCE.md: "The papers use 10,000 samples" for FID; MoW's distance evaluator). The
reference split of the papers' FID differs between their codes and is not stated: printed as
ours, never compared."""

_MOW = next(p for p in PAPERS if p.paper == "MoW")
MOW_COLUMNS = tuple(_MOW.tables[0].columns)
"""The columns of MoW's tables, in order ("cost": the table's cost column, see MOW_COST)."""
MOW_COST: dict[str, str | None] = {t.table: t.compare.get("cost", "cost") for t in _MOW.tables}
"""What each MoW table's cost column is (aesweep.config.costs), recomputed from its own rows
(tests/sweeps/test_published_costs.py). Table 2's (Fashion-MNIST, Adam) is rec + ln(WAE distance)
in 8 of its 9 rows but not in SWAE k = 32's (exp(cost - rec) = 0.0210 beside a printed 0.022):
no definition reproduces it all, so it is not compared."""


def _by_k(paper: Paper) -> dict[tuple[str, str, str, str], dict[int, tuple[float, ...]]]:
    out: dict[tuple[str, str, str, str], dict[int, tuple[float, ...]]] = {}
    for table in paper.tables:
        for row in table.rows:
            k = row.window[1] if row.window is not None else 0
            out.setdefault((table.table, row.dataset, row.model, row.name), {})[k] = tuple(
                row.values
            )
    return out


MOW_TABLES = _by_k(_MOW)
"""MoW Tables 1-4 as printed (n = 64 throughout): (table, dataset, family, paper's name) ->
{k: (lr, CWAE dist, WAE dist, rec, cost, FID)}."""

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
