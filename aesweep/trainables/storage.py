"""Where checkpoints live: a local folder or any URI ``pyarrow.fs`` understands
(``s3://bucket/prefix``), as one filesystem and a path on it (torch-free).

A :class:`Location` is what the driver, the inline runner and a trial pass between them: its
``text`` (an absolute local path, or the URI as written with the path appended) travels in
payloads and reopens to the same place. A URI is never turned into a local path. S3
credentials, endpoint and region come from the usual environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION`` or ``AWS_REGION``); options written in the URI's
query (``?endpoint_override=...``) are pyarrow's own and win.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from aesweep.tracking.schema import Outcome

URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
CHUNK = 8 * 2**20
STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
}
"""The errors of a storage that filled up or turned read-only (not of a trial): the
submission ends with its unfinished trials resumable."""
_QUOTED_ERRNO = re.compile(r"\[errno (\d+)\]", re.IGNORECASE)
PROBE_BYTES = 2**16


def is_uri(text: str) -> bool:
    """``scheme://...`` (a storage pyarrow opens), as opposed to a local path."""
    return bool(URI.match(text))


@dataclass(frozen=True)
class Location:
    """A folder (or file) on a filesystem: ``path`` on ``fs``; ``text`` reopens it
    (:func:`open_location`)."""

    fs: pafs.FileSystem
    path: str
    text: str

    def child(self, *names: str) -> Location:
        tail = "/".join(names)
        base, sep, query = self.text.partition("?")
        return Location(
            self.fs, f"{self.path.rstrip('/')}/{tail}", f"{base.rstrip('/')}/{tail}{sep}{query}"
        )

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> Location:
        base, sep, query = self.text.partition("?")
        return Location(
            self.fs,
            self.path.rstrip("/").rsplit("/", 1)[0],
            base.rstrip("/").rsplit("/", 1)[0] + sep + query,
        )

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)


def storage_text(text: str) -> str:
    """The storage as every process reads it: a URI as written, a local path absolute (a Ray
    worker runs in a folder of its own)."""
    return text if is_uri(text) else str(Path(text).expanduser().resolve())


def open_location(text: str, fs: pafs.FileSystem | None = None) -> Location:
    """The location ``text`` names. ``fs``: the filesystem already open on that storage (the
    one Ray Tune hands a trial, with the driver's credentials); else opened here."""
    if not is_uri(text):
        path = storage_text(text)
        return Location(fs or pafs.LocalFileSystem(), path, path)
    if fs is not None:
        return Location(fs, _fs_path(text), text)
    opened, path = _filesystem(text)
    return Location(opened, path, text)


def tune_storage(text: str) -> tuple[str, pafs.FileSystem | None]:
    """Ray Tune's ``storage_path`` and ``storage_filesystem`` for the storage ``text``: a local
    folder absolute and no filesystem (as Tune resolves it itself), a URI as its filesystem
    and the path on it."""
    if not is_uri(text):
        return storage_text(text), None
    location = open_location(text)
    return location.path, location.fs


def _fs_path(text: str) -> str:
    """The path a URI names on its filesystem: ``file:///a/b`` -> ``/a/b``,
    ``s3://bucket/p`` -> ``bucket/p``."""
    parts = urlsplit(text)
    if parts.scheme == "file":
        return parts.path.rstrip("/") or "/"
    return f"{parts.netloc}{parts.path}".rstrip("/")


def _filesystem(text: str) -> tuple[pafs.FileSystem, str]:
    parts = urlsplit(text)
    if parts.scheme == "s3" and not parts.query:
        return pafs.S3FileSystem(**s3_options()), _fs_path(text)
    fs, path = pafs.FileSystem.from_uri(text)
    return fs, path.rstrip("/")


def s3_options(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """``S3FileSystem``'s options from the environment. Keys given explicitly travel with the
    filesystem when it is pickled to a Ray worker, whose own environment may lack them."""
    env = os.environ if environ is None else environ
    options: dict[str, Any] = {}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint_override"] = endpoint
    region = env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION")
    if region:
        options["region"] = region
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        options["access_key"] = env["AWS_ACCESS_KEY_ID"]
        options["secret_key"] = env["AWS_SECRET_ACCESS_KEY"]
        if env.get("AWS_SESSION_TOKEN"):
            options["session_token"] = env["AWS_SESSION_TOKEN"]
    return options


def listing(location: Location, *, recursive: bool) -> list[pafs.FileInfo]:
    """What is under ``location`` (nothing when it does not exist)."""
    selector = pafs.FileSelector(location.path, recursive=recursive, allow_not_found=True)
    return list(location.fs.get_file_info(selector))


def exists(location: Location) -> bool:
    return location.fs.get_file_info(location.path).type != pafs.FileType.NotFound


def delete_folder(location: Location) -> None:
    """Remove a folder and what it holds; nothing when it is not there."""
    if exists(location):
        location.fs.delete_dir(location.path)


def read_bytes(location: Location) -> bytes:
    with location.fs.open_input_stream(location.path) as stream:
        data: bytes = stream.read()
    return data


def upload_folder(local: Path, target: Location, *, last: str) -> None:
    """Copy the files of ``local`` to the folder ``target`` so that a reader never takes a
    half-written copy for a whole one: on a local disk into a temporary name, then renamed;
    elsewhere (no rename: S3) file by file with ``last`` (the manifest) written last."""
    if target.is_local:
        tmp = target.parent.child(target.name + ".tmp")
        shutil.rmtree(tmp.path, ignore_errors=True)
        shutil.copytree(local, tmp.path)
        shutil.rmtree(target.path, ignore_errors=True)
        os.replace(tmp.path, target.path)
        return
    delete_folder(target)  # a leftover of an earlier attempt under the same name
    target.fs.create_dir(target.path, recursive=True)
    names = sorted(p.name for p in local.iterdir() if p.is_file())
    for name in sorted(names, key=lambda n: n == last):
        with (
            open(local / name, "rb") as src,
            target.fs.open_output_stream(target.child(name).path) as out,
        ):
            shutil.copyfileobj(src, out, CHUNK)


def download_folder(source: Location, local: Path) -> None:
    """Copy the files of the folder ``source`` into the local folder ``local``."""
    local.mkdir(parents=True, exist_ok=True)
    for info in listing(source, recursive=False):
        if info.type == pafs.FileType.File:
            with (
                source.fs.open_input_stream(info.path) as stream,
                open(local / info.base_name, "wb") as out,
            ):
                shutil.copyfileobj(stream, out, CHUNK)


class StorageFault(Exception):
    """The storage filled up or turned read-only mid-sweep: ``storage`` and ``why`` (one of
    :data:`STORAGE_ERRNOS`' texts)."""

    def __init__(self, storage: str, why: str) -> None:
        super().__init__(f"{storage}: {why}")
        self.storage, self.why = storage, why
        self.killed: list[str] = []  # the trials it cut short (marked KILLED, resumable)


def storage_fault(exc: BaseException | None) -> str | None:
    """What a full or read-only storage says in ``exc`` or its causes (an ``OSError``'s
    errno, or one quoted in the message as pyarrow, ``shutil.copytree`` and Ray's wrapped
    task errors quote it), else None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
            return STORAGE_ERRNOS[exc.errno]
        for match in _QUOTED_ERRNO.finditer(str(exc)):
            if int(match.group(1)) in STORAGE_ERRNOS:
                return STORAGE_ERRNOS[int(match.group(1))]
        exc = exc.__cause__ or exc.__context__
    return None


def probe_storage(text: str) -> str | None:
    """Write a small file at the storage's root and remove it: why the storage takes no
    more writes when it is full or read-only, else None (another error is not this check's
    to report)."""
    root = open_location(text)
    probe = root.child(f".aesweep-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        root.fs.create_dir(root.path, recursive=True)
        with root.fs.open_output_stream(probe.path) as out:
            out.write(b"\0" * PROBE_BYTES)
    except Exception as exc:
        return storage_fault(exc)
    finally:
        with contextlib.suppress(Exception):  # never written, or the storage refuses that too
            root.fs.delete_file(probe.path)
    return None


def ended_by(exc: BaseException) -> tuple[str, str]:
    """How a run that ``exc`` cut short ends, and its error line: ``killed`` (resumable, as
    an interrupted one) when the storage filled up or turned read-only, else ``failed``."""
    why = storage_fault(exc)
    if why is not None:
        return Outcome.KILLED, f"storage: {why}"
    return Outcome.FAILED, f"{type(exc).__name__}: {exc}"[:500]
