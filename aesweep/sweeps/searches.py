"""The search registry: how a sweep's trials are chosen (``search.algorithm``), named like
every other spec name. Adding a search is one entry here and its driver-side module.

An entry's value says what the spec, ``plan``, the packer and the CLI need to know without
importing Ray or MLflow; its ``driver`` implementation (imported only when a sweep runs) opens
the submission's trials and tells a backend what to run
(:class:`aesweep.sweeps.trials.SweepTrials`).
"""

from __future__ import annotations

from dataclasses import dataclass

from aesweep.config.registry import Registry


@dataclass(frozen=True)
class SearchKind:
    """What a search is, torch- and Ray-free."""

    description: str
    draws: bool
    """Configurations are drawn (``num_samples``, ``seed``, distributions); else lists are
    the axes of a grid."""
    planned: bool
    """Its trials are known before the run (``plan`` lists them); else they are sampled while
    it runs and read back from MLflow (``results``, ``status``)."""
    one_space: bool = False
    """It searches one space: one data entry and one model entry."""
    unpacked: str | None = None
    """Why its trials never pack (None: they may)."""
    inline: bool = True
    """It runs with ``--inline`` (no Ray)."""
    headline: str = ""
    """The head of ``plan``'s summary line after the trial count (a search that samples
    during the run: the whole head)."""

    def __repr__(self) -> str:
        return f"SearchKind({self.description!r})"


SEARCHES: Registry[SearchKind] = Registry("search algorithm")
SEARCHES.add(
    "grid",
    SearchKind("every combination of the lists (the axes)", draws=False, planned=True),
    driver="aesweep.sweeps.planned:PlannedTrials",
)
SEARCHES.add(
    "random",
    SearchKind(
        "num_samples configurations drawn before the run (seeded)",
        draws=True,
        planned=True,
        headline="random search",
    ),
    driver="aesweep.sweeps.planned:PlannedTrials",
)
SEARCHES.add(
    "optuna",
    SearchKind(
        "Ray Tune's OptunaSearch (TPE): num_samples configurations sampled during the run",
        draws=True,
        planned=False,
        one_space=True,
        unpacked="search.algorithm optuna samples trials one at a time",
        inline=False,
        headline="optuna search (TPE): trials sampled during the run",
    ),
    driver="aesweep.sweeps.sampled:SampledTrials",
)


def search_kind(name: str) -> SearchKind:
    """The registered search ``name`` (a validated spec's ``search.algorithm``)."""
    return SEARCHES.get(name)
