"""The papers' published tables, read from data files (``sweeps/papers/*.yaml``, one per paper,
shipped with the package) into :class:`Published` numbers, each with its source: the paper,
the table and the row as printed.

A file names the paper, what its numbers were measured with (``protocol``), and its tables:
the printed columns (as the names of our metrics), what a column compares with when that is
another metric or none (``compare``), and the rows, each with the experiment it reports (the
dataset, our model label, the fields the paper fixes, MoW's (n, k)) and one value per column.
Files are read in the order of their names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

DATA = files("aesweep.sweeps") / "papers"
"""The folder of the data files, inside the installed package."""


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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Row(_Strict):
    """One printed row: the experiment it reports and its values, one per column."""

    row: str  # the row as the source cites it (dataset, the paper's model name, setting)
    dataset: str
    model: str  # our model label
    name: str  # the paper's name of the model
    window: tuple[int, int] | None = None
    requires: dict[str, Any] = {}
    compare: dict[str, str | None] = {}  # over the table's: this row's column -> our metric
    values: list[float]


class Table(_Strict):
    """One printed table: its columns (our metric names) and rows."""

    table: str
    columns: list[str]
    compare: dict[str, str | None] = {}  # a column -> the metric it compares with, None: none
    rows: list[Row]

    @model_validator(mode="after")
    def _complete(self) -> Table:
        for row in self.rows:
            if len(row.values) != len(self.columns):
                raise ValueError(
                    f"{self.table}, {row.row}: {len(row.values)} values for "
                    f"{len(self.columns)} columns ({', '.join(self.columns)})"
                )
            unknown = (set(self.compare) | set(row.compare)) - set(self.columns)
            if unknown:
                raise ValueError(f"{self.table}, {row.row}: compare names no column {unknown}")
        return self

    def metric(self, row: Row, column: str) -> str | None:
        """The metric of ours ``row``'s value in ``column`` compares with (None: not compared)."""
        return {**self.compare, **row.compare}.get(column, column)


class Paper(_Strict):
    """One paper's file."""

    paper: str  # as results --paper names it
    cite: str | None = None  # how sources cite it, when not ``paper``
    protocol: dict[str, Any] = {}  # dotted evaluation keys of TrialConfig.flat() -> its value
    setups: dict[str, dict[str, Any]] = {}  # shared ``requires`` (YAML anchors), by name
    tables: list[Table]

    def entries(self) -> list[Published]:
        """Every compared value of every table, in the order printed."""
        out = []
        for table in self.tables:
            for row in table.rows:
                source = f"{self.cite or self.paper} {table.table}: {row.row}"
                for column, value in zip(table.columns, row.values, strict=True):
                    metric = table.metric(row, column)
                    if metric is not None:
                        out.append(
                            Published(
                                self.paper,
                                table.table,
                                row.dataset,
                                row.model,
                                metric,
                                value,
                                source,
                                window=row.window,
                                requires=row.requires,
                            )
                        )
        return out


def read_paper(path: Traversable) -> Paper:
    """One data file; a file that does not fit the schema raises ``ValueError`` naming it."""
    try:
        return Paper.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    except ValidationError as exc:
        lines = [
            f"{path.name}: {'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        raise ValueError("\n".join(lines)) from exc


@cache
def load_papers(folder: Traversable = DATA) -> tuple[Paper, ...]:
    """Every paper's file in ``folder``, in the order of the file names."""
    found = sorted((p for p in folder.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)
    return tuple(read_paper(p) for p in found)
