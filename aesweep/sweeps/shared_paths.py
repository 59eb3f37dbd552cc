"""On a cluster, the tracking store and Ray Tune's storage must be the same files on every
node. A ``sqlite:///`` database, an MLflow file store or a local ``tracking.storage`` is a
path on the submitting machine's disk: a worker elsewhere would open an empty database of its
own, or write checkpoints no other node finds. Before anything is created, the driver writes
a marker with a random token into each such path's folder (:func:`probe_markers`); a check
run on every node (:func:`node_sees`, sent there by the runner) reads it back and writes a
probe of its own. A node that does not see the marker does not share the folder.

No Ray here: :func:`aesweep.sweeps.connect.connect` runs :func:`node_sees` on each node.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from aesweep.sweeps.spec import SweepSpec

ADVICE = {
    "tracking.uri": "use an MLflow tracking server (tracking.uri: http://HOST:5000), or a "
    "folder every node mounts at the same path",
    "tracking.storage": "use a folder every node mounts at the same path",
}


@dataclass(frozen=True)
class LocalPath:
    """A spec field's location on this machine's disk, and the folder that exists now where
    its marker goes (the location itself, or the nearest folder above it: nothing is created
    before the check)."""

    field: str
    path: str
    folder: str


class Probe(NamedTuple):
    """What a node checks: ``marker`` (in ``folder``) holds ``token``. A tuple: it travels to
    the nodes as a plain one (:meth:`plain`), which unpickles without this module."""

    field: str
    folder: str
    marker: str
    token: str

    def plain(self) -> tuple[str, str, str, str]:
        return (self.field, self.folder, self.marker, self.token)


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path if path.is_dir() else path.parent


def _local(text: str) -> Path | None:
    """The path of a location on this disk (a plain path or ``file:``), else None (a URI)."""
    if text.startswith("file:"):
        return Path(urlsplit(text).path).expanduser().resolve()
    if "://" not in text:
        return Path(text).expanduser().resolve()
    return None


def local_paths(spec: SweepSpec) -> list[LocalPath]:
    """The spec's tracking locations on this machine's disk: a ``sqlite:///`` database (its
    folder holds the database and MLflow's artifacts), a file store, a local storage path.
    An ``http(s)://`` server or a database server, and a remote storage URI, are none."""
    out = []
    uri = spec.tracking.uri
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///").split("?", 1)[0]).expanduser().resolve()
        out.append(LocalPath("tracking.uri", str(db), str(_existing(db.parent))))
    else:
        store = _local(uri)
        if store is not None:
            out.append(LocalPath("tracking.uri", str(store), str(_existing(store))))
    storage = _local(spec.tracking.storage)
    if storage is not None:
        out.append(LocalPath("tracking.storage", str(storage), str(_existing(storage))))
    return out


@contextlib.contextmanager
def probe_markers(paths: list[LocalPath]) -> Iterator[list[Probe]]:
    """A marker file with a random token in each path's folder (one per folder), removed on
    exit: what a node that shares the folder reads back."""
    made: dict[str, tuple[str, str]] = {}
    try:
        for p in paths:
            if p.folder not in made:
                token = secrets.token_hex(16)
                fd, marker = tempfile.mkstemp(prefix=".aesweep-probe-", dir=p.folder)
                with os.fdopen(fd, "w") as f:
                    f.write(token)
                made[p.folder] = (marker, token)
        yield [Probe(p.field, p.folder, *made[p.folder]) for p in paths]
    finally:
        for marker, _ in made.values():
            with contextlib.suppress(OSError):
                os.unlink(marker)


def node_sees(probes: Sequence[tuple[str, str, str, str]]) -> list[tuple[str, str]]:
    """Run on a node: (field, why) for each probe (a :class:`Probe` or its plain tuple) whose
    folder this node does not share (the marker is missing or different) or cannot write in;
    empty when it sees them all."""
    lacking = []
    for field, folder, marker, token in probes:
        try:
            seen = Path(marker).read_text() == token
        except OSError:
            seen = False
        if not seen:
            lacking.append((field, f"its {folder} is not this machine's"))
            continue
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".aesweep-probe-", dir=folder))
        except OSError as exc:
            lacking.append((field, f"it cannot write in {folder} ({exc.strerror or exc})"))
    return lacking


def unshared_problems(
    paths: list[LocalPath], answers: dict[str, list[tuple[str, str]]]
) -> list[str]:
    """One line per field that some node does not share, naming the nodes (``answers``: node
    -> what :func:`node_sees` said there)."""
    problems = []
    for p in paths:
        lacking = {node: why for node, said in answers.items() for f, why in said if f == p.field}
        if not lacking:
            continue
        nodes = "; ".join(f"node {node}: {why}" for node, why in list(lacking.items())[:3])
        more = f" (and {len(lacking) - 3} more nodes)" if len(lacking) > 3 else ""
        problems.append(
            f"{p.field}: {p.path} is on this machine's disk, and not every node of the Ray "
            f"cluster sees it ({nodes}{more}); {ADVICE[p.field]}"
        )
    return problems


def unchecked_problems(paths: list[LocalPath], why: str) -> list[str]:
    """One line per field when the check could not run on the cluster at all (``why``)."""
    return [
        f"{p.field}: {p.path} is on this machine's disk, and the check that every node of the "
        f"Ray cluster sees it could not run ({why}); {ADVICE[p.field]}"
        for p in paths
    ]
