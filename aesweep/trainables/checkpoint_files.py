"""Checkpoints you can trust, in any storage: the manifest every checkpoint folder carries,
what makes a checkpoint good, and how the newest good one of a trial is found (torch-free).

Ray Tune keeps each trial's checkpoints under ``<storage>/<experiment>/<trial dir>/
checkpoint_*``; every trial directory name ends with the trial id. A pack (several trials
trained as one Ray trial) checkpoints under a directory named by its pack id (``pack-…``),
whose ``pack.json`` lists the members. The inline runner writes the same layout. A
resubmitted sweep (a new Ray experiment) finds an unfinished trial's checkpoints by its id
through one listing of the whole storage (:class:`CheckpointIndex`), so resume does not depend
on Ray's experiment state.

Every checkpoint folder holds ``meta.json``, written last (a temporary name, then renamed): a
manifest of its format version, the epoch, the owner (trial or pack id), the member trial ids
and the size and SHA-256 of every other file. A checkpoint is good only if its manifest parses,
its version is one this code reads and every listed file is there with its size and checksum;
a damaged newer one (a truncated copy, a half-finished upload) is skipped for the newest good
one, and the skip is said (:class:`Found`).

Kept apart from ``checkpoints`` (which saves and loads the state with torch) so the driver
(``sweeps.prepare``) can locate checkpoints without importing torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from aesweep.trainables.storage import (
    Location,
    download_folder,
    listing,
    open_location,
    read_bytes,
)

META_FILE = "meta.json"
MEMBERS_FILE = "pack.json"
PACK_DIR_PREFIX = "pack-"
MANIFEST_FORMAT = 1
"""The manifest version this code writes."""
READABLE_FORMATS = frozenset({MANIFEST_FORMAT})
"""The manifest versions this code reads."""
CHECKPOINT_NAME = re.compile(r"^checkpoint_\d+$")

_log = logging.getLogger(__name__)


class Damaged(Exception):
    """Why a checkpoint is not good; ``epoch`` when its manifest still says one."""

    def __init__(self, why: str, epoch: int | None = None) -> None:
        super().__init__(why)
        self.why, self.epoch = why, epoch


class UnreadableCheckpoint(Exception):
    """A trial was to resume from a checkpoint it cannot use (none good, or one torch cannot
    load): it starts over from epoch 0 in a new run."""


@dataclass(frozen=True)
class Manifest:
    owner: str  # the trial id, or the pack id
    epoch: int
    members: tuple[str, ...]  # the trial ids whose state it holds
    files: dict[str, tuple[int, str]]  # name -> (size, sha256)

    def holds(self, trial_ids: Sequence[str]) -> bool:
        return set(trial_ids) <= set(self.members)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            sha.update(block)
    return sha.hexdigest()


def write_manifest(
    folder: Path, owner: str, epoch: int, members: Sequence[str] | None = None
) -> None:
    """The manifest of the local checkpoint folder ``folder``, written last and atomically
    (every other file must be complete)."""
    files = {
        p.name: {"size": p.stat().st_size, "sha256": _digest(p)}
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(META_FILE)
    }
    manifest = {
        "format": MANIFEST_FORMAT,
        "trial_id": owner,
        "epoch": epoch,
        "members": list(members) if members is not None else [owner],
        "files": files,
    }
    tmp = folder / f"{META_FILE}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, folder / META_FILE)


def parse_manifest(blob: bytes) -> Manifest:
    """The manifest in ``blob``, or :class:`Damaged` saying why it is none this code reads."""
    try:
        raw: Any = json.loads(blob)
    except ValueError:
        raise Damaged("meta.json does not parse") from None
    if not isinstance(raw, dict):
        raise Damaged("meta.json is no manifest")
    epoch = raw.get("epoch") if isinstance(raw.get("epoch"), int) else None
    version = raw.get("format")
    if version is None:
        raise Damaged("meta.json has no format version (written by an older aesweep)", epoch)
    if version not in READABLE_FORMATS:
        readable = ", ".join(str(v) for v in sorted(READABLE_FORMATS))
        raise Damaged(f"manifest format {version!r}; this aesweep reads {readable}", epoch)
    try:
        files = {
            str(name): (int(entry["size"]), str(entry["sha256"]))
            for name, entry in raw["files"].items()
        }
        return Manifest(
            str(raw["trial_id"]), int(raw["epoch"]), tuple(map(str, raw["members"])), files
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise Damaged("meta.json lacks a field of its format", epoch) from None


def read_manifest(location: Location) -> Manifest:
    try:
        blob = read_bytes(location.child(META_FILE))
    except (OSError, FileNotFoundError):
        raise Damaged("no meta.json (an incomplete copy)") from None
    return parse_manifest(blob)


def verify(location: Location, sizes: Mapping[str, int] | None = None) -> Manifest:
    """The manifest of a good checkpoint, or :class:`Damaged`: every file it lists must be
    there with its size and checksum. ``sizes``: the folder's file sizes if already listed."""
    manifest = read_manifest(location)
    if sizes is None:
        sizes = {
            i.base_name: i.size
            for i in listing(location, recursive=False)
            if i.type == pafs.FileType.File
        }
    for name, (size, sha) in manifest.files.items():
        if name not in sizes:
            raise Damaged(f"{name} is missing", manifest.epoch)
        if sizes[name] != size:
            raise Damaged(
                f"{name} is {sizes[name]} bytes, the manifest says {size}", manifest.epoch
            )
        digest = hashlib.sha256()
        with location.fs.open_input_stream(location.child(name).path) as stream:
            while block := stream.read(2**20):
                digest.update(block)
        if digest.hexdigest() != sha:
            raise Damaged(f"{name} does not match its checksum", manifest.epoch)
    return manifest


def describe(where: str, damaged: Damaged) -> str:
    """One line for a skipped checkpoint: ``epoch 4 damaged (trial.pt is ...)``."""
    what = f"epoch {damaged.epoch}" if damaged.epoch is not None else where
    return f"{what} damaged ({damaged.why})"


@dataclass
class Found:
    """The newest good checkpoint of a trial (None: none), and the damaged ones skipped."""

    location: Location | None = None
    epoch: int | None = None
    skipped: list[str] = field(default_factory=list)

    def note(self) -> str | None:
        """What the run is tagged with when something was skipped (None: nothing was)."""
        if not self.skipped:
            return None
        damaged = "; ".join(self.skipped)
        if self.location is None:
            return f"{damaged}; no good checkpoint: started over"
        return f"{damaged}; resumed from epoch {self.epoch}"


@dataclass
class _Candidate:
    location: Location
    sizes: dict[str, int]
    own: bool = True  # a trial's own checkpoint (False: a pack's), preferred on a tie


def _newest_good(
    candidates: Sequence[_Candidate],
    trial_ids: Sequence[str],
    accept: Callable[[_Candidate], Location] | None = None,
) -> Found:
    """Of ``candidates`` (checkpoint folders, oldest listed first), the newest good one
    holding ``trial_ids``. Manifests are read first (small) to order them by epoch; the
    checksums are read from the newest down until one is good. ``accept(candidate)``: verify
    a local copy instead and return it (a trial downloads what it will load anyway)."""
    found = Found()
    ordered: list[tuple[int, bool, int, Manifest, _Candidate]] = []
    for i, c in enumerate(candidates):
        try:
            manifest = read_manifest(c.location)
        except Damaged as exc:
            found.skipped.append(describe(_short(c.location), exc))
            continue
        ordered.append((manifest.epoch, c.own, i, manifest, c))
    ordered.sort(key=lambda e: e[:3], reverse=True)  # on a tie: own, then the later listed
    for epoch, _, _, manifest, c in ordered:
        try:
            if not manifest.holds(trial_ids):
                raise Damaged(f"holds {', '.join(manifest.members)}, not these trials", epoch)
            if accept is not None:
                found.location = accept(c)
            else:
                verify(c.location, c.sizes)
                found.location = c.location
        except Damaged as exc:
            found.skipped.append(describe(_short(c.location), exc))
            continue
        found.epoch = epoch
        return found
    return found


def _short(location: Location) -> str:
    """The last three parts of a checkpoint's path (experiment / trial / checkpoint)."""
    return "/".join(location.path.rstrip("/").split("/")[-3:])


class CheckpointIndex:
    """Every checkpoint folder under a storage, from one recursive listing, by owner: a
    trial directory by the trial id its name ends with, a pack directory by the members its
    ``pack.json`` lists (read once per pack directory, when first asked)."""

    def __init__(self, root: Location) -> None:
        self.root = root
        folders: dict[tuple[str, str, str], dict[str, int]] = {}
        prefix = root.path.rstrip("/") + "/"
        for info in listing(root, recursive=True):
            if info.type != pafs.FileType.File or not info.path.startswith(prefix):
                continue
            parts = info.path[len(prefix) :].split("/")
            if len(parts) == 4 and CHECKPOINT_NAME.match(parts[2]):
                folders.setdefault((parts[0], parts[1], parts[2]), {})[parts[3]] = info.size
        self._own: dict[str, list[_Candidate]] = {}
        self._packs: dict[tuple[str, str], list[_Candidate]] = {}
        for (experiment, owner, name), sizes in sorted(folders.items()):
            is_pack = owner.startswith(PACK_DIR_PREFIX)
            candidate = _Candidate(root.child(experiment, owner, name), sizes, not is_pack)
            if is_pack:
                self._packs.setdefault((experiment, owner), []).append(candidate)
            else:
                self._own.setdefault(owner.rsplit("-", 1)[-1], []).append(candidate)
        self._members: dict[str, list[_Candidate]] | None = None

    @classmethod
    def scan(cls, storage: str, fs: pafs.FileSystem | None = None) -> CheckpointIndex:
        return cls(open_location(storage, fs))

    def _by_member(self) -> dict[str, list[_Candidate]]:
        if self._members is None:
            self._members = {}
            for candidates in self._packs.values():
                for member in _pack_members(candidates):
                    self._members.setdefault(member, []).extend(candidates)
        return self._members

    def candidates(self, trial_id: str) -> int:
        """How many checkpoint folders may hold ``trial_id`` (its own and its packs')."""
        return len(self._own.get(trial_id, [])) + len(self._by_member().get(trial_id, []))

    def newest_good(self, trial_id: str) -> Found:
        candidates = [*self._own.get(trial_id, []), *self._by_member().get(trial_id, [])]
        return _newest_good(candidates, [trial_id])


def _pack_members(candidates: Sequence[_Candidate]) -> list[str]:
    """The members a pack directory's checkpoints hold (its newest readable ``pack.json``)."""
    for c in reversed(candidates):
        if MEMBERS_FILE not in c.sizes:
            continue
        try:
            members = json.loads(read_bytes(c.location.child(MEMBERS_FILE)))["members"]
            return [str(m) for m in members]
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return []


def find_latest(storage: str | Path, trial_id: str) -> str | None:
    """The newest good checkpoint of ``trial_id`` anywhere under ``storage`` (its own, or
    one of a pack that held it): a local path or a URI, as the storage is."""
    found = CheckpointIndex.scan(str(storage)).newest_good(trial_id)
    return found.location.text if found.location is not None else None


def is_pack_checkpoint(location: str) -> bool:
    """A checkpoint folder under a pack's directory (by its name: no read)."""
    parent = location.partition("?")[0].rstrip("/").rsplit("/", 2)
    return len(parent) == 3 and parent[1].startswith(PACK_DIR_PREFIX)


def fetch_good(first: Location, trial_ids: Sequence[str], into: Path) -> Found:
    """A local copy of the checkpoint a trial resumes from: ``first`` (Ray Tune's own, or the
    one the driver found) if good, else the newest good one beside it (its trial or pack
    directory). ``Found.location`` is then a local folder (``first`` itself on a local disk,
    else a copy under ``into``), verified as what will be loaded."""
    siblings = [
        _Candidate(first.parent.child(i.base_name), {})
        for i in listing(first.parent, recursive=False)
        if i.type == pafs.FileType.Directory
        and CHECKPOINT_NAME.match(i.base_name)
        and i.base_name != first.name
    ]
    count = iter(range(1_000_000))

    def local_copy(c: _Candidate) -> Location:
        if c.location.is_local:
            verify(c.location)
            return c.location
        copy = into / f"{next(count)}-{c.location.name}"
        download_folder(c.location, copy)
        local = open_location(str(copy))
        verify(local)
        return local

    found = _newest_good([_Candidate(first, {})], trial_ids, local_copy)
    if found.location is None:
        rest = _newest_good(siblings, trial_ids, local_copy)
        found = Found(rest.location, rest.epoch, found.skipped + rest.skipped)
    if found.skipped:
        _log.warning("checkpoint of %s: %s", ", ".join(trial_ids), found.note())
    return found
