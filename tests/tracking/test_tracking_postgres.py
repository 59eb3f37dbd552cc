"""Sweeps tracked by an MLflow server on a real PostgreSQL backend store, as the compose file
deploys it: every trial lands FINISHED with its metrics (read back over HTTP and in the
database itself), a resubmission reruns nothing, and a sweep interrupted mid-trial resumes
in its own runs without logging any step twice."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep.sweeps.cli import main
from aesweep.tracking.store import SweepStore, TrialRecord
from tests.conftest import REPO, tiny_spec, wait_for
from tests.tracking.conftest import PostgresCluster, compose_backend_uri

pytestmark = pytest.mark.slow

METRICS = ("rec_error", "cw_distance", "cost")


def _spec(url: str, storage: Path, experiment: str, **overrides: object) -> dict:
    """The tiny digits sweep (two learning rates) in an experiment of its own."""
    spec = tiny_spec(url, storage, **overrides)
    spec["tracking"]["experiment"] = experiment
    return spec


def _histories(store: SweepStore, records: list[TrialRecord]) -> dict[str, dict]:
    """Run id -> metric key -> [(step, value), ...] of every trial metric."""
    return {r.run_id: {k: store.metric_history(r.run_id, k) for k in METRICS} for r in records}


def _rows(postgres: PostgresCluster, experiment: str) -> dict[str, str]:
    """Run id -> status of the experiment's runs, read from PostgreSQL's ``runs`` table."""
    import psycopg2

    parts = urllib.parse.urlsplit(compose_backend_uri("127.0.0.1", postgres.port))
    with (
        contextlib.closing(
            psycopg2.connect(
                host="127.0.0.1", port=postgres.port, user=parts.username, dbname=parts.path[1:]
            )
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(
            "SELECT r.run_uuid, r.status FROM runs r JOIN experiments e"
            " ON r.experiment_id = e.experiment_id WHERE e.name = %s",
            (experiment,),
        )
        return dict(cur.fetchall())


def test_sweep_and_resubmission_on_postgres(
    write_spec, tmp_path, postgres, postgres_mlflow, ray_session, capsys
) -> None:
    path = write_spec(_spec(postgres_mlflow, tmp_path / "ray", "pg-sweep", epochs=2))
    assert main(["run", str(path)]) == 0
    store = SweepStore(postgres_mlflow, "pg-sweep")
    records = store.trial_records()
    assert len(records) == 2 and len({r.trial_id for r in records}) == 2
    for rec in records:
        assert rec.status == "FINISHED" and rec.outcome == "finished", rec
        assert all(math.isfinite(rec.metrics[k]) for k in METRICS), rec.metrics
    histories = _histories(store, records)
    for run in histories.values():
        assert all([s for s, _ in run[k]] == [1, 2] for k in METRICS), run
    # What the server stored is in PostgreSQL: the two trial runs and the sweep's parent.
    rows = _rows(postgres, "pg-sweep")
    assert {r.run_id for r in records} < set(rows) and len(rows) == 3
    assert set(rows.values()) == {"FINISHED"}
    capsys.readouterr()

    # The same spec again: nothing is run, no child run is created, no metric logged again.
    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 trials already finished in MLflow; not run again" in out, out
    assert "done: 2 already finished" in out, out
    again = store.trial_records()
    assert sorted(r.run_id for r in again) == sorted(r.run_id for r in records)
    assert _histories(store, again) == histories
    parents = MlflowClient(tracking_uri=postgres_mlflow).search_runs(
        [store.experiment_id], filter_string="tags.`aesweep.kind` = 'sweep'"
    )
    assert len(parents) == 2  # one parent run per submission
    assert len(_rows(postgres, "pg-sweep")) == 4


EPOCHS = 12


@pytest.mark.kill
def test_interrupted_sweep_resumes_on_postgres(write_spec, tmp_path, postgres_mlflow) -> None:
    """Ctrl-C to a submission mid-trial, then the same spec again (both ``--inline``: Ray adds
    nothing here): the interrupted trial resumes from its checkpoint in its own run, the other
    runs in the run created for it; no new run, every step logged once, the earlier steps
    untouched."""
    spec = _spec(
        postgres_mlflow,
        tmp_path / "ray",
        "pg-resume",
        compute={"pack": "off"},  # each trial interrupted and resumed on its own
        data={"dataset": "digits", "train_size": 512, "test_size": 64},
        epochs=EPOCHS,
        evaluation={"every": 1, "latent_samples": 64, "images": False},
        checkpoint={"every": 2, "keep": 2},
    )
    path = write_spec(spec)
    store = SweepStore(postgres_mlflow, "pg-resume")
    store.ensure_experiment()  # to watch it from here
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "aesweep.sweeps.cli", "run", str(path), "--inline"]
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip

    def half_way() -> bool:
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        return any(
            r.status == "RUNNING" and r.metrics.get("epoch", 0) >= 4 for r in store.trial_records()
        )

    try:
        wait_for(half_way, 180, "a trial half-way")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    assert proc.returncode == 130, err[-2000:]

    before = {r.trial_id: r for r in store.trial_records()}
    assert len(before) == 2
    cut = [r for r in before.values() if r.status == "KILLED" and r.metrics.get("epoch", 0) >= 4]
    assert len(cut) == 1 and cut[0].metrics["epoch"] < EPOCHS, before
    assert all(r.status in ("FINISHED", "KILLED") for r in before.values()), before
    history_before = _histories(store, list(before.values()))

    assert main(["run", str(path), "--inline"]) == 0
    after = {r.trial_id: r for r in store.trial_records()}
    assert {t: r.run_id for t, r in after.items()} == {t: r.run_id for t, r in before.items()}
    history_after = _histories(store, list(after.values()))
    for tid, rec in after.items():
        assert rec.status == "FINISHED" and rec.outcome == "finished", rec
        run = history_after[rec.run_id]
        assert all([s for s, _ in run[k]] == list(range(1, EPOCHS + 1)) for k in METRICS), tid
        for key, points in history_before[rec.run_id].items():
            assert run[key][: len(points)] == points, (tid, key)  # nothing rewritten
    resumed = after[cut[0].trial_id]
    assert 2 <= int(resumed.tags["aesweep.resumed_from_epoch"]) <= cut[0].metrics["epoch"]
