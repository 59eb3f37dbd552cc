"""What a search hands the driver (:mod:`aesweep.sweeps.submission`) and a backend: the
submission's trials behind one interface, whether they were planned before the run (grid,
random: :mod:`aesweep.sweeps.planned`) or are sampled during it (optuna:
:mod:`aesweep.sweeps.sampled`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aesweep.sweeps.spec import SweepSpec
from aesweep.tracking.schema import DONE
from aesweep.tracking.store import SweepStore, TrialRecord


@dataclass
class SweepOutcome:
    """How the trials of one submission ended (read back from MLflow)."""

    parent_run_id: str
    skipped: list[str] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # trial id -> outcome
    interrupted: bool = False  # stopped by Ctrl-C: trials left unfinished, resumable

    @property
    def ok(self) -> bool:
        return all(o in DONE for o in self.outcomes.values())

    def counts(self) -> Counter[str]:
        return Counter(self.outcomes.values())


@dataclass
class TuneJob:
    """What the Ray Tune backend runs for a search: the trainable and its parameters, the
    space Tune walks (and the searcher that draws from it), and how a Tune trial maps to the
    sweep's trial, its epochs and its MLflow run."""

    trainable: Callable[..., Any]
    params: dict[str, Any]
    param_space: dict[str, Any]
    experiment_dir: str
    name: Callable[[Any], str]  # a Tune trial's name and folder
    epochs_of: Callable[[Any], int]
    tid_of: Callable[[Any], str]
    run_of: Callable[[str], str | None]
    rank: tuple[str, str] | None = None  # the metric and mode Tune ranks by
    search_alg: Any = None
    num_samples: int = 1
    progress: Any = None  # a ProgressView fed by a Tune callback (None: none)


class SweepTrials(Protocol):
    """A search's side of one submission, opened before anything runs (the parent run and
    what it needs) and closed after (every run it left unfinished ended, the outcome)."""

    spec: SweepSpec
    store: SweepStore
    parent: str

    def tune_job(self, *, gpus: float, threads: int) -> TuneJob | None:
        """What Ray Tune runs (None: nothing left to run)."""
        ...

    def records(self) -> dict[str, TrialRecord]:
        """Trial id -> the record that counts of each trial this submission ran."""
        ...

    def outcome(
        self, records: dict[str, TrialRecord], killed: set[str], ended: str
    ) -> SweepOutcome:
        """The submission's outcome once its parent run ended ``ended``."""
        ...
