"""Which trials can train as one pack (torch-free: ``plan`` shows it, the driver forms them).

Trials that share every shape-determining field (data and its sizes, family, architecture,
width, latent size, strategy kind and sizes, epochs, optimiser name and schedule kind,
evaluation, checkpoints) and differ only in values (lr, λ, seed, momentum, betas, weight
decay, the schedule's values) share a :func:`pack_key`. :func:`form_packs` groups them up to
``compute.pack`` members; a trial that does not pack gets one line saying why
(:func:`why_unpacked`). A pack's id is a hash of its members' trial ids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field

from aesweep.config.base import StrictConfig
from aesweep.config.trial import TrialConfig, TrialPayload

PACKED_FAMILIES = ("ae", "wae_mmd", "cwae", "swae", "cw2", "moca")
"""Families whose one step runs under vmap (aesweep/trainables/step/; WAE-GAN's critic
update runs eagerly on one member)."""
PACKED_STRATEGIES = ("minibatch", "moving_window", "momentum_queue")
PACKED_ARCHITECTURES = ("mlp", "dcgan", "conv_cifar", "conv64")
"""Architectures whose networks run under vmap (BatchNorm's running statistics are member
state: each member's own, updated by the one step and returned as new state)."""
STREAMED_DATASETS = ("image_folder", "celeba")
VALUE_FIELDS = {
    "optimizer": ("lr", "momentum", "betas", "weight_decay"),
    "model": ("lambda",),
}
"""Fields members of one pack may differ in (besides ``seed`` and the schedule's values)."""


def why_unpacked(trial: TrialConfig) -> str | None:
    """One line on why ``trial`` cannot be a pack member at all (None: it can)."""
    resolved = trial.resolved_view()
    model, strategy = resolved["model"], resolved["strategy"]
    if trial.compute.pack == "off":
        return "compute.pack is off"
    if model["family"] not in PACKED_FAMILIES:
        return f"family {model['family']} has no packed form (packs: {', '.join(PACKED_FAMILIES)})"
    if strategy["kind"] not in PACKED_STRATEGIES:
        return f"strategy {strategy['kind']} has no packed form"
    if model.get("architecture") not in PACKED_ARCHITECTURES:
        packed = ", ".join(PACKED_ARCHITECTURES)
        return f"architecture {model.get('architecture')} has no packed form (packs: {packed})"
    if model.get("latent_trick") is not None:
        return "the Latent Trick's stage 2 runs unpacked"
    if model.get("e_pretrain") is not None or model.get("e_add_noise"):
        return "WAE's encoder pretraining and input noise run unpacked"
    if trial.data.dataset in STREAMED_DATASETS:
        return f"{trial.data.dataset} streams from disk"
    if trial.evaluation.fid is not None:
        return "evaluation.fid runs unpacked"
    if trial.compute.amp:
        return "compute.amp runs unpacked"
    if model.get("gamma") == "batch":
        return "cw2 with gamma: batch reads its bandwidth per member on the host"
    return None


def pack_key(trial: TrialConfig) -> str:
    """What members of one pack share: the resolved config without its value fields."""
    resolved = {k: v for k, v in trial.resolved_view().items() if k != "seed"}
    for section, names in VALUE_FIELDS.items():
        resolved[section] = {k: v for k, v in resolved[section].items() if k not in names}
    schedule = resolved["optimizer"].get("schedule")
    if schedule is not None:
        resolved["optimizer"]["schedule"] = {"kind": schedule["kind"]}
    return json.dumps(resolved, sort_keys=True)


def pack_id(member_ids: Sequence[str]) -> str:
    """``pack-`` and 10 hex digits of the sorted member trial ids."""
    blob = ",".join(sorted(member_ids))
    return "pack-" + hashlib.sha256(blob.encode()).hexdigest()[:10]


MIN_TIMED_STEPS = 20_000
"""``compute.pack: auto`` times a group only when its trials train at least this many
member-steps in all: the timing costs a few seconds, and at a few hundred steps a second a
shorter group could never win them back from a 1.2x pack."""


def member_steps(group: Sequence[TrialConfig]) -> int | None:
    """The optimiser steps the group's trials train in all (epochs x steps an epoch), when the
    training split's size is known without loading it (None: unknown)."""
    total = 0
    for trial in group:
        n = trial.data.train_size_bound()
        if n is None:
            return None
        total += trial.epochs * max(1, -(-n // max(1, trial.strategy.images_per_step)))
    return total


@dataclass(frozen=True)
class PackSize:
    """What the driver decided for one group of ``compute.pack: auto`` trials (by timing or a
    memory bound): at most ``size`` members a pack (below 2: unpacked), and why."""

    size: int
    why: str


@dataclass
class PackPlan:
    """Packs (lists of at least two trials) and, for each trial left alone, why."""

    packs: list[list[TrialConfig]] = field(default_factory=list)
    alone: dict[str, str] = field(default_factory=dict)  # trial id -> why

    def pack_of(self) -> dict[str, str]:
        """trial id -> its pack's id (each pack's id hashed once: a 10,000-trial plan is
        linear)."""
        out: dict[str, str] = {}
        for members in self.packs:
            ids = [m.trial_id for m in members]
            out.update(dict.fromkeys(ids, pack_id(ids)))
        return out


def candidate_groups(trials: Sequence[TrialConfig]) -> dict[str, list[TrialConfig]]:
    """The trials that can be pack members, by :func:`pack_key`, in plan order."""
    groups: dict[str, list[TrialConfig]] = {}
    for t in trials:
        if why_unpacked(t) is None:
            groups.setdefault(pack_key(t), []).append(t)
    return groups


def form_packs(
    trials: Sequence[TrialConfig],
    limit: int | None = None,
    *,
    decided: Mapping[str, PackSize] | None = None,
    refused: str | None = None,
) -> PackPlan:
    """Group ``trials`` by :func:`pack_key` in plan order, at most ``limit`` (or each trial's
    ``compute.pack`` when it is a number) members a pack. ``auto`` groups take the driver's
    ``decided`` size (by pack key); without one they pack without a bound (``plan`` shows
    them as candidates). ``refused``: why this sweep runs every trial unpacked (a scheduler
    stops trials one by one)."""
    plan = PackPlan()
    for t in trials:
        why = refused if refused is not None else why_unpacked(t)
        if why is not None:
            plan.alone[t.trial_id] = why
    groups = {} if refused is not None else candidate_groups(trials)
    for key, members in groups.items():
        bound = members[0].compute.pack
        decision = (decided or {}).get(key) if bound == "auto" else None
        if limit is not None:
            size = limit
        elif decision is not None:
            size = decision.size
        else:
            size = bound if isinstance(bound, int) else len(members)
        if size < 2:
            why = decision.why if decision is not None else f"compute.pack is {size}"
            for t in members:
                plan.alone[t.trial_id] = why
            continue
        chunks = [members[i : i + size] for i in range(0, len(members), size)]
        for chunk in chunks:
            if len(chunk) == 1:
                plan.alone[chunk[0].trial_id] = "no other unfinished trial shares its shapes"
            else:
                plan.packs.append(chunk)
    return plan


class PackPayload(StrictConfig):
    """What the driver hands one pack: its members' payloads (each with its own MLflow
    run) and the pack's own checkpoint to resume from."""

    pack_id: str
    # One member: the last unfinished trial of a pack, resuming from the pack's checkpoint.
    members: Annotated[list[TrialPayload], Field(min_length=1)]
    resume_from: str | None = None
    threads: Annotated[int, Field(gt=0)] = 1
    use_gpu: bool = False
    inline_dir: str | None = None

    @property
    def epochs(self) -> int:
        return self.members[0].trial.epochs

    def summary(self) -> dict[str, Any]:
        return {"pack_id": self.pack_id, "members": [m.trial.trial_id for m in self.members]}
