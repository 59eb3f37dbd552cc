"""Which unfinished trials of a submission run as packs, and from which checkpoints (torch-free).

A sweep with a scheduler (ASHA stops trials one by one) or an Optuna search (trials are
sampled one at a time) runs unpacked (:func:`refusal`). Otherwise the unfinished trials form
packs (:func:`aesweep.config.packs.form_packs`) under these resume rules:

* a trial whose newest checkpoint is its own (it ran unpacked) resumes unpacked;
* trials whose newest checkpoint is a pack's resume together from it as one pack (of those
  of its members still unfinished: possibly one);
* the rest (no checkpoint) pack among themselves.

A unit is what one Ray Tune trial (or one inline call) runs: a pack or a single trial.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aesweep.config.packs import PackPlan, PackSize, form_packs, pack_id, why_unpacked
from aesweep.config.trial import TrialConfig
from aesweep.sweeps.searches import search_kind
from aesweep.sweeps.spec import SweepSpec
from aesweep.trainables.checkpoint_files import is_pack_checkpoint


def refusal(spec: SweepSpec) -> str | None:
    """Why this sweep runs every trial unpacked (None: it may pack)."""
    if spec.search.scheduler is not None:
        return f"search.scheduler {spec.search.scheduler.kind} stops trials one by one"
    return search_kind(spec.search.algorithm).unpacked


@dataclass
class Pack:
    """One pack to run: its id, members (plan order) and the checkpoint it resumes from."""

    pack_id: str
    members: list[TrialConfig]
    resume_from: str | None = None


@dataclass
class Units:
    packs: list[Pack] = field(default_factory=list)
    singles: list[TrialConfig] = field(default_factory=list)
    alone: dict[str, str] = field(default_factory=dict)  # trial id -> why unpacked
    restart: list[str] = field(default_factory=list)  # pack checkpoints a refusal discards

    def unit_of(self) -> dict[str, str]:
        """trial id -> the id of the unit that runs it (its pack's, or its own)."""
        out = {t.trial_id: t.trial_id for t in self.singles}
        out.update({m.trial_id: p.pack_id for p in self.packs for m in p.members})
        return out


def form_units(
    spec: SweepSpec,
    todo: Sequence[TrialConfig],
    resume_from: Mapping[str, str],
    decided: Mapping[str, PackSize] | None = None,
) -> Units:
    """The packs and single trials of ``todo`` (the unfinished trials), by the rules above."""
    units = Units()
    refused = refusal(spec)
    fresh: list[TrialConfig] = []
    by_folder: dict[str, list[TrialConfig]] = {}
    for t in todo:
        folder = resume_from.get(t.trial_id)
        if folder is not None and is_pack_checkpoint(folder) and why_unpacked(t) is None:
            by_folder.setdefault(folder, []).append(t)
        elif folder is not None:
            units.singles.append(t)
            units.alone[t.trial_id] = "resumes from its own unpacked checkpoint"
        else:
            fresh.append(t)
    if refused is not None:  # a pack checkpoint cannot resume unpacked: start over unpacked
        units.restart = [t.trial_id for members in by_folder.values() for t in members]
        fresh += [t for members in by_folder.values() for t in members]
        by_folder = {}
    for folder, members in by_folder.items():
        units.packs.append(Pack(pack_id([m.trial_id for m in members]), members, folder))
    plan: PackPlan = form_packs(fresh, decided=decided, refused=refused)
    packed = {t.trial_id for p in plan.packs for t in p}
    for members in plan.packs:
        units.packs.append(Pack(pack_id([m.trial_id for m in members]), members))
    units.singles += [t for t in fresh if t.trial_id not in packed]
    units.alone.update(plan.alone)
    order = {t.trial_id: i for i, t in enumerate(todo)}
    units.singles.sort(key=lambda t: order[t.trial_id])
    return units
