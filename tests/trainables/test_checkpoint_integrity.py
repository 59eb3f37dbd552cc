"""Checkpoints you can trust: every checkpoint carries a manifest (format, epoch, owner, size
and SHA-256 of its files). A resubmitted sweep whose newest checkpoint is damaged resumes from
the previous good one (the run tagged) and ends where an uninterrupted run ends; a checkpoint
of an unknown format, or one torch cannot load, starts the trial over in a new run (tagged)
that finishes; Ray Tune's own restored checkpoint is verified alike; a trial retried from
epoch 0 logs each epoch once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from aesweep.sweeps.cli import main
from aesweep.tracking.schema import TAG_FALLBACK, TAG_RESTARTED, TAG_SUPERSEDED_BY
from aesweep.tracking.store import SweepStore, TrialRecord
from aesweep.trainables.checkpoint_files import (
    CHECKPOINT_NAME,
    META_FILE,
    UnreadableCheckpoint,
    find_latest,
    write_manifest,
)
from aesweep.trainables.checkpoints import restore_folder
from aesweep.trainables.step.members import STATE_FILE
from tests.conftest import REPO, kill_worker_at_epoch, tiny_spec, wait_for
from tests.trainables.trainable_helpers import MemoryRun, assert_same

EPOCHS = 16


def _spec(root: Path, **overrides: object) -> dict:
    spec = tiny_spec(
        f"sqlite:///{root / 'mlflow.db'}",
        root / "storage",
        data={"dataset": "digits", "train_size": 512, "test_size": 64},
        optimizer={"name": "adam", "lr": [0.001]},
        epochs=EPOCHS,
        evaluation={"every": 1, "latent_samples": 64, "images": False},
        checkpoint={"every": 1, "keep": 3},
    )
    spec["tracking"]["system_metrics"] = False
    spec.update(overrides)
    return spec


def _write(root: Path, spec: dict) -> Path:
    path = root / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _store(root: Path) -> SweepStore:
    return SweepStore(f"sqlite:///{root / 'mlflow.db'}", "tiny")


def _steps(root: Path, run_id: str, key: str = "rec_error") -> list[int]:
    return [step for step, _ in _store(root).metric_history(run_id, key)]


def _manifests(root: Path) -> dict[int, Path]:
    """The trial's checkpoint folders under ``root``'s storage, by the epoch their manifest
    names."""
    out = {}
    for meta in (root / "storage").glob(f"*/*/checkpoint_*/{META_FILE}"):
        if CHECKPOINT_NAME.match(meta.parent.name):  # not a copy under way (``.tmp``)
            out[int(json.loads(meta.read_text())["epoch"])] = meta.parent
    return out


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep killed (SIGKILL) mid-way: its trial's run RUNNING with some epochs logged and
    three checkpoints in the storage (the inline runner: the same trial function, no Ray)."""
    root = tmp_path_factory.mktemp("interrupted")
    path = _write(root, _spec(root))
    _store(root).ensure_experiment()
    cmd = [sys.executable, "-m", "aesweep.sweeps.cli", "run", str(path), "--inline"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=root,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def three_checkpoints() -> bool:
        assert proc.poll() is None, "the sweep ended before it could be killed"
        return len(_manifests(root)) >= 3

    try:
        wait_for(three_checkpoints, 240, "three checkpoints", poll=0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    (rec,) = _store(root).trial_records()
    assert rec.status == "RUNNING" and rec.metrics["epoch"] < EPOCHS
    return root


def _copy(interrupted: Path, tmp_path: Path) -> tuple[Path, Path, TrialRecord]:
    """The interrupted sweep copied to ``tmp_path`` (its own store and storage): the spec,
    the storage root and the unfinished trial's record."""
    root = tmp_path / "sweep"
    shutil.copytree(interrupted, root)
    (rec,) = _store(root).trial_records()
    return _write(root, _spec(root)), root, rec


def _final_state(root: Path, trial_id: str) -> dict:
    folder = find_latest(root / "storage", trial_id)
    assert folder is not None
    state = torch.load(Path(folder) / STATE_FILE, weights_only=True)
    assert state["epoch"] == EPOCHS
    return {k: state[k] for k in ("state", "generators", "active", "members")}


def test_a_damaged_newest_checkpoint_resumes_from_the_previous_good_one(
    interrupted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, root, before = _copy(interrupted, tmp_path)
    checkpoints = _manifests(root)
    newest = max(checkpoints)
    state = checkpoints[newest] / STATE_FILE
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])  # a truncated copy

    assert main(["run", str(path), "--inline"]) == 0
    out = capsys.readouterr().out
    assert f"epoch {newest} damaged ({STATE_FILE} is" in out
    (after,) = _store(root).trial_records()  # no second run
    assert after.run_id == before.run_id and after.status == "FINISHED"
    assert after.tags["aesweep.resumed_from_epoch"] == str(newest - 1)
    assert f"epoch {newest} damaged" in after.tags[TAG_FALLBACK]
    assert after.tags[TAG_FALLBACK].endswith(f"resumed from epoch {newest - 1}")
    assert _steps(root, after.run_id) == list(range(1, EPOCHS + 1))  # each epoch once

    # ... and it ends exactly where an uninterrupted run of the same trial ends.
    straight = tmp_path / "straight"
    straight.mkdir()
    assert main(["run", str(_write(straight, _spec(straight))), "--inline"]) == 0
    assert_same(_final_state(root, before.trial_id), _final_state(straight, before.trial_id))


def _restarted(root: Path, before: TrialRecord) -> TrialRecord:
    """The trial's records after a restart: a new run that finished, the old one superseded
    by it; each epoch logged once in the new run."""
    records = {r.run_id: r for r in _store(root).trial_records()}
    assert len(records) == 2
    old = records.pop(before.run_id)
    (new,) = records.values()
    assert new.status == "FINISHED" and new.outcome == "finished"
    assert old.tags[TAG_SUPERSEDED_BY] == new.run_id and old.status == "KILLED"
    assert new.tags["aesweep.trial_id"] == before.trial_id
    assert new.params == old.params
    assert _steps(root, new.run_id) == list(range(1, EPOCHS + 1))
    assert "aesweep.resumed_from_epoch" not in new.tags
    return new


def test_a_manifest_of_an_unknown_format_starts_the_trial_over_in_a_new_run(
    interrupted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, root, before = _copy(interrupted, tmp_path)
    for folder in _manifests(root).values():
        meta = folder / META_FILE
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "format": 99}))

    assert main(["run", str(path), "--inline"]) == 0
    assert "manifest format 99; this aesweep reads 1" in capsys.readouterr().out
    new = _restarted(root, before)
    assert "manifest format 99" in new.tags[TAG_RESTARTED]
    assert new.tags[TAG_RESTARTED].endswith("no good checkpoint: started over")


def test_a_checkpoint_torch_cannot_load_starts_the_trial_over_in_a_new_run(
    interrupted: Path, tmp_path: Path
) -> None:
    path, root, before = _copy(interrupted, tmp_path)
    checkpoints = _manifests(root)
    newest = checkpoints[max(checkpoints)]
    (newest / STATE_FILE).write_bytes(b"not a torch file" * 100)
    manifest = json.loads((newest / META_FILE).read_text())
    (newest / META_FILE).unlink()  # a whole, well-formed checkpoint of what torch cannot read
    write_manifest(newest, manifest["trial_id"], manifest["epoch"], manifest["members"])

    assert main(["run", str(path), "--inline"]) == 0
    new = _restarted(root, before)
    assert new.tags[TAG_RESTARTED].startswith("the checkpoint did not load (")


def _checkpoint(folder: Path, epoch: int) -> Path:
    folder.mkdir(parents=True)
    torch.save({"epoch": epoch}, folder / STATE_FILE)
    write_manifest(folder, "a1b2c3d4e5", epoch)
    return folder


class _Retried:
    """A reporter of a trial Ray Tune retries: Tune's own checkpoint (a real
    ``ray.tune.Checkpoint``) to restore."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def restore_dir(self):  # type: ignore[no-untyped-def]
        from ray import tune

        return tune.Checkpoint.from_directory(str(self.folder))

    def storage_filesystem(self) -> None:
        return None


def test_ray_tunes_restored_checkpoint_is_verified_too(tmp_path: Path) -> None:
    trial_dir = tmp_path / "exp" / "cwae-a1b2c3d4e5"
    _checkpoint(trial_dir / "checkpoint_000000", 1)
    damaged = _checkpoint(trial_dir / "checkpoint_000001", 2)
    with open(damaged / STATE_FILE, "ab") as handle:
        handle.write(b"x")  # one byte more than the manifest says
    run = MemoryRun()
    with restore_folder(_Retried(damaged), None, ["a1b2c3d4e5"], [run]) as folder:
        assert folder == trial_dir / "checkpoint_000000"
    assert run.tags[TAG_FALLBACK].startswith(f"epoch 2 damaged ({STATE_FILE} is")
    assert run.tags[TAG_FALLBACK].endswith("resumed from epoch 1")

    (trial_dir / "checkpoint_000000" / META_FILE).unlink()  # no good one left: start over
    with (
        pytest.raises(UnreadableCheckpoint, match="no meta.json"),
        restore_folder(_Retried(damaged), None, ["a1b2c3d4e5"], [MemoryRun()]),
    ):
        pass


@pytest.mark.kill
def test_a_trial_retried_from_epoch_0_logs_each_epoch_once(
    write_spec, tmp_path: Path, ray_session
) -> None:
    """Ray retries a trial whose worker died before its first checkpoint from epoch 0 into
    the same run: the epochs the run holds are trained again, not logged again."""
    epochs = 25
    spec = _spec(tmp_path, epochs=epochs, checkpoint={"every": epochs, "keep": 1})
    path = write_spec(spec)
    store = _store(tmp_path)
    store.ensure_experiment()
    with kill_worker_at_epoch(store, 3, poll=0.1) as killed:
        assert main(["run", str(path)]) == 0
    assert "pid" in killed, "the trial finished before its worker could be killed"
    (rec,) = store.trial_records()
    assert rec.status == "FINISHED"
    assert int(rec.tags["aesweep.worker_pid"]) != killed["pid"], "a new worker ran the retry"
    assert "aesweep.resumed_from_epoch" not in rec.tags  # it had no checkpoint: epoch 0
    client = MlflowClient(tracking_uri=store.uri)
    for key in ("rec_error", "epoch", "train_loss"):
        steps = [m.step for m in client.get_metric_history(rec.run_id, key)]
        assert sorted(steps) == list(range(1, epochs + 1)), key
