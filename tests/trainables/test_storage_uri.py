"""``tracking.storage`` as a URI through real Ray Tune: a ``file://`` URI, and ``s3://`` on
moto's S3 server (skipped where moto is not installed). Checkpoints land in the storage with
their manifests (nothing in a local folder named after the URI), and a resubmitted sweep
resumes an unfinished trial from its checkpoint read back from that storage."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from aesweep.sweeps.cli import main
from aesweep.tracking.store import SweepStore
from aesweep.trainables.checkpoint_files import CHECKPOINT_NAME, verify
from aesweep.trainables.storage import listing, open_location, s3_options
from tests.conftest import tiny_spec

EPOCHS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A bucket on moto's S3 server (a real HTTP server on 127.0.0.1), reached through the
    usual AWS_* environment."""
    server_module = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    port = _free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    try:
        import boto3

        boto3.client("s3").create_bucket(Bucket="sweeps")
    except ImportError:
        pafs.S3FileSystem(**s3_options(), allow_bucket_creation=True).create_dir("sweeps")
    try:
        yield "s3://sweeps/runs"
    finally:
        server.stop()


@pytest.fixture(params=["file", "s3"])
def storage_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "s3":
        return str(request.getfixturevalue("s3_bucket"))
    return (tmp_path / "store").as_uri()


def _checkpoints(uri: str) -> dict[int, str]:
    """Every checkpoint in the storage, verified against its manifest, by epoch."""
    root = open_location(uri)
    out = {}
    for info in listing(root, recursive=True):
        if info.type == pafs.FileType.Directory and CHECKPOINT_NAME.match(info.base_name):
            rel = info.path[len(root.path.rstrip("/")) + 1 :]
            location = root.child(rel)
            out[verify(location).epoch] = location.text
    return out


def test_a_sweep_checkpoints_into_a_storage_uri_and_resumes_from_it(
    storage_uri: str, write_spec, mlflow_uri, tmp_path: Path, monkeypatch, ray_session
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = tiny_spec(
        mlflow_uri,
        tmp_path,
        optimizer={"name": "adam", "lr": [0.001]},
        epochs=EPOCHS,
        checkpoint={"every": 1, "keep": 2},
    )
    spec["tracking"].update(storage=storage_uri, system_metrics=False)
    path = write_spec(spec)
    assert main(["run", str(path)]) == 0
    checkpoints = _checkpoints(storage_uri)
    assert sorted(checkpoints) == [EPOCHS - 1, EPOCHS]  # keep: 2, each with a good manifest
    assert not list(tmp_path.glob("*:")), "the URI was taken for a local folder"

    # The driver was killed before it could record the trial as finished, and the newest
    # checkpoint never made it to the storage: a resubmission resumes from the one before.
    store = SweepStore(mlflow_uri, "tiny")
    (before,) = store.trial_records()
    store.mark_killed(before.run_id)
    newest = open_location(checkpoints[EPOCHS])
    newest.fs.delete_dir(newest.path)

    assert main(["run", str(path)]) == 0
    (after,) = store.trial_records()
    assert after.run_id == before.run_id and after.status == "FINISHED"
    assert after.tags["aesweep.resumed_from_epoch"] == str(EPOCHS - 1)
    steps = [s for s, _ in store.metric_history(after.run_id, "rec_error")]
    assert steps == list(range(1, EPOCHS + 1))  # epoch 3 was logged already: not again
    assert EPOCHS in _checkpoints(storage_uri)  # the resumed trial checkpointed there again


def test_a_full_or_read_only_storage_is_told_from_a_trials_own_errors(tmp_path: Path) -> None:
    """The errors that end a sweep as resumable (the storage's) and those that fail a trial."""
    import errno
    import shutil

    from aesweep.trainables.storage import ended_by, probe_storage, storage_fault

    full = OSError(errno.ENOSPC, "No space left on device")
    assert storage_fault(full) == "no space left on device"
    # pyarrow's and shutil.copytree's messages quote the errno; a wrapper keeps the cause.
    copy = shutil.Error([("a", "b", "[Errno 30] Read-only file system: 'b'")])
    assert storage_fault(copy) == "read-only file system"
    try:
        try:
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
        except OSError as exc:
            raise RuntimeError("checkpoint failed") from exc
    except RuntimeError as wrapped:
        assert storage_fault(wrapped) == "disk quota exceeded"
    assert storage_fault(OSError(errno.ENOENT, "No such file")) is None
    assert storage_fault(ValueError("nan in the loss")) is None
    assert ended_by(full) == ("killed", "storage: no space left on device")
    assert ended_by(ValueError("bad")) == ("failed", "ValueError: bad")
    assert probe_storage(str(tmp_path / "runs")) is None  # writable: nothing to say
    assert list((tmp_path / "runs").iterdir()) == []  # the probe is removed
