"""A storage that fills up or turns read-only mid-sweep ends the submission cleanly: one line
naming the storage and the problem, exit code 74, the unfinished trials' runs KILLED
(resumable), and once there is room again the same command finishes every trial, each epoch
logged once. The storage is a real small filesystem: a tmpfs mounted over the storage folder in
a mount namespace of its own (``unshare --mount``), where the driver, its Ray and the trials
run (``nsenter``); it is filled with ``dd`` or remounted read-only mid-trial."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aesweep.tracking.store import SweepStore
from tests.conftest import REPO, at_epoch, tiny_spec
from tests.reliability.test_cluster_preflight import _unshare_works

pytestmark = [pytest.mark.kill, pytest.mark.slow]

EPOCHS = 8
DISK_SIZE = "64m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """A 64 MiB tmpfs over ``tmp_path/disk``, seen only inside a mount namespace held open by
    a sleeping process: the folder and the command prefix that runs a command in there."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("nsenter") is None or not _unshare_works(disk):
        pytest.skip("needs root, unshare --mount and nsenter (a small filesystem of its own)")
    script = f'mount -t tmpfs -o size={DISK_SIZE} aesweep-disk "$0" && echo ready && exec sleep 900'
    holder = subprocess.Popen(
        ["unshare", "--mount", "sh", "-c", script, str(disk)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield disk, ["nsenter", "--target", str(holder.pid), "--mount", "--"]
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(30)


def _spec(tmp_path: Path, disk: Path) -> dict:
    spec = tiny_spec(
        f"sqlite:///{tmp_path / 'mlflow.db'}",  # on the machine's disk: only the storage fills
        disk / "runs",
        # Epochs long enough for the watcher to find a trial mid-run on a loaded machine.
        data={"dataset": "digits", "train_size": 512, "test_size": 64},
        epochs=EPOCHS,
        evaluation={"every": 1, "latent_samples": 64, "images": False},
        checkpoint={"every": 1, "keep": 2},
        compute={"pack": "off"},
    )
    spec["tracking"]["system_metrics"] = False
    return spec


def _steps(store: SweepStore, run_id: str) -> list[int]:
    return sorted(step for step, _ in store.metric_history(run_id, "rec_error"))


@pytest.mark.parametrize(
    ("backend", "fault"),
    [
        pytest.param("ray", "full", marks=pytest.mark.ray, id="ray-tune-disk-full"),
        pytest.param("inline", "read-only", id="inline-read-only"),
    ],
)
@pytest.mark.timeout(600)
def test_a_storage_that_fills_or_turns_read_only_ends_the_sweep_resumably(
    tmp_path: Path, small_disk: tuple[Path, list[str]], write_spec, backend: str, fault: str
) -> None:
    disk, inside = small_disk
    path = write_spec(_spec(tmp_path, disk))
    store = SweepStore(f"sqlite:///{tmp_path / 'mlflow.db'}", "tiny")
    store.ensure_experiment()
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    run = [*inside, sys.executable, "-m", "aesweep.sweeps.cli", "run", str(path)]
    flags = ["--inline"] if backend == "inline" else ["--max-concurrent", "1"]

    def break_storage(rec: object) -> None:
        if fault == "full":  # dd ends at "No space left on device"
            subprocess.run([*inside, "dd", "if=/dev/zero", f"of={disk}/filler", "bs=1M"],
                           capture_output=True, timeout=60)  # fmt: skip
        else:  # root ignores permissions: a read-only mount is what refuses root
            subprocess.run([*inside, "mount", "-o", "remount,ro", str(disk)], check=True)

    with at_epoch(store, 2, break_storage, timeout=300, poll=0.1) as broke:
        done = subprocess.run(
            [*run, *flags], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400
        )
    assert broke, "the sweep ended before its storage could be broken: " + done.stderr[-2000:]
    why = "no space left on device" if fault == "full" else "read-only file system"
    assert done.returncode == 74, done.stdout[-2000:] + done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{path}: tracking.storage: {disk / 'runs'}: {why}: the sweep stopped")
    assert "run the same command again to resume them" in last
    ours = [ln for ln in done.stderr.splitlines() if "tracking.storage:" in ln]
    assert ours == [last], done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]  # Tune's included

    before = {r.trial_id: r for r in store.trial_records()}
    assert before and all(r.status == "KILLED" for r in before.values()), before
    broken = broke["record"]
    assert before[broken.trial_id].run_id == broken.run_id
    assert before[broken.trial_id].metrics["epoch"] < EPOCHS

    # Room again (the filler removed, or the mount writable): the same command finishes all.
    fix = ["rm", f"{disk}/filler"] if fault == "full" else ["mount", "-o", "remount,rw", str(disk)]
    subprocess.run([*inside, *fix], check=True)
    again = subprocess.run(
        [*run, "--inline"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400
    )
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    after = store.latest_by_trial(list(before))
    assert len(after) == 2
    for tid, rec in after.items():
        assert rec.status == "FINISHED", tid
        assert _steps(store, rec.run_id) == list(range(1, EPOCHS + 1)), tid
    resumed = after[broken.trial_id]
    assert resumed.run_id == broken.run_id  # its own run, from its last good checkpoint
    assert 1 <= int(resumed.tags["aesweep.resumed_from_epoch"]) < EPOCHS
