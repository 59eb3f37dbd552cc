"""ASHA early stopping through Ray Tune on digits: some trials stopped, recorded as stopped
(FINISHED, the epoch), counted by status and results, never selected, never rerun — also
after the driver is killed with SIGKILL."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep.sweeps.cli import main
from aesweep.tracking.store import SweepStore
from aesweep.trainables.reporting import ranked
from tests.conftest import tiny_spec, wait_for

EPOCHS = 6
LRS = [0.003, 0.002, 1e-6, 2e-6, 3e-6, 4e-6]  # the tiny rates lag: ASHA stops them


def _spec(uri: str, storage: Path, **search: object) -> dict:
    return tiny_spec(
        uri,
        storage,
        optimizer={"name": "adam", "lr": LRS},
        epochs=EPOCHS,
        evaluation={"every": 1, "latent_samples": 64, "images": False},
        search={"scheduler": {"kind": "asha", "grace_period": 1, "reduction_factor": 3, **search}},
    )


def test_a_diverged_or_missing_metric_is_the_worst_never_nan() -> None:
    assert ranked({"cost": math.nan}, "cost", "min", None)["cost"] == math.inf
    assert ranked({"cost": 1.0, "diverged": 1.0}, "cost", "max", None)["cost"] == -math.inf
    assert ranked({"epoch": 2.0}, "cost", "min", 0.5)["cost"] == 0.5  # the last evaluation
    assert ranked({"epoch": 1.0}, "cost", "min", None)["cost"] == math.inf


@pytest.mark.kill
def test_asha_stops_records_and_resumes_without_rerunning_after_sigkill(
    write_spec, mlflow_uri, tmp_path, ray_session, capsys
) -> None:
    path = write_spec(_spec(mlflow_uri, tmp_path / "ray"))
    assert main(["plan", str(path)]) == 0
    assert "ASHA on cost (min), grace 1, factor 3" in capsys.readouterr().out
    store = SweepStore(mlflow_uri, "tiny")
    store.ensure_experiment()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "aesweep.sweeps.cli", "run", str(path), "--max-concurrent", "1"]
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def one_stopped() -> bool:
        recs = store.trial_records()
        if proc.poll() is not None:
            return True  # ended before the kill: the resubmission below still checks
        # a tiny rate stopped: a resubmission's ASHA starts with empty rungs, so the tiny rates
        # it runs (equal costs: no trial is worse than the cut) may all run to the end
        return any(r.outcome == "stopped" and float(r.params["optimizer.lr"]) < 1e-5 for r in recs)

    try:
        wait_for(one_stopped, 300, "a trial stopped by ASHA")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    before = {r.trial_id: r for r in store.trial_records() if r.outcome == "stopped"}
    assert before, "no trial was recorded as stopped before the kill"

    assert main(["run", str(path)]) == 0
    capsys.readouterr()
    records = store.trial_records()
    after = store.latest_by_trial([r.trial_id for r in records])
    assert len(after) == len(LRS)
    for tid, rec in before.items():  # stopped before the kill: not run again
        assert after[tid].run_id == rec.run_id and after[tid].outcome == "stopped"
        assert sum(1 for r in records if r.trial_id == tid) == 1
    stopped = [r for r in after.values() if r.outcome == "stopped"]
    full = [r for r in after.values() if r.outcome == "finished"]
    assert stopped and full and len(stopped) + len(full) == len(LRS)
    for rec in stopped:
        assert rec.status == "FINISHED"
        epoch = int(rec.tags["aesweep.stopped_epoch"])
        assert 1 <= epoch < EPOCHS and int(rec.metrics["epoch"]) == epoch
    for rec in full:
        assert int(rec.metrics["epoch"]) == EPOCHS
    # tiny rates are stopped (ASHA may also stop a good rate that reaches a rung right after
    # a better one: with 2 recorded results, the cut-off is the better of them)
    assert {float(r.params["optimizer.lr"]) for r in stopped} & set(LRS[2:])

    # the parent run records the search
    parent = store.latest_parent_run("tiny")
    params = MlflowClient(tracking_uri=store.uri).get_run(parent).data.params
    assert params["search.scheduler.kind"] == "asha"
    assert params["search.scheduler.grace_period"] == "1"

    # status counts stopped trials as done; results count them, never select one
    assert main(["status", str(path)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"{len(LRS)}/{len(LRS)} trials done") and "stopped" in line
    assert main(["results", str(path), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["stopped"] == len(stopped)
    assert row["lr"] in {float(r.params["optimizer.lr"]) for r in full} & set(LRS[:2])
    assert main(["results", str(path)]) == 0
    assert "stopped" in capsys.readouterr().out.splitlines()[0]

    # resubmitting again runs nothing
    assert main(["run", str(path)]) == 0
    assert f"{len(LRS)} of {len(LRS)} trials already finished" in capsys.readouterr().out


@pytest.mark.ray
def test_the_audit_runs_would_be_stopped_trials_to_the_end_and_reports_their_correlation(
    write_spec, mlflow_uri, tmp_path, ray_session, capsys
) -> None:
    """audit 2: the first two trials ASHA stops at its earliest rung run on (tagged with that
    epoch); ``results --stopping`` gives the Spearman correlation over every trial run to the
    end, recomputed here from the metric histories MLflow holds."""
    from scipy.stats import spearmanr

    spec = _spec(mlflow_uri, tmp_path / "ray", audit=2)
    spec["epochs"] = 3
    path = write_spec(spec)
    assert main(["run", str(path), "--max-concurrent", "1"]) == 0
    store = SweepStore(mlflow_uri, "tiny")
    records = store.trial_records()
    audited = [r for r in records if r.audit_epoch is not None]
    assert len(audited) == 2
    for rec in audited:  # ran to the end, recorded as finished, not as stopped
        assert rec.audit_epoch == 1 and rec.outcome == "finished"
        assert int(rec.metrics["epoch"]) == 3
    capsys.readouterr()
    assert main(["results", str(path), "--stopping", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    full = [r for r in records if r.outcome == "finished"]
    client = MlflowClient(tracking_uri=store.uri)
    rung = [
        next(m.value for m in client.get_metric_history(r.run_id, "cost") if m.step == 1)
        for r in full
    ]
    final = [r.metrics["cost"] for r in full]
    assert row["audited"] == 2 and row["ran_to_end"] == len(full) >= 3
    assert row["spearman"] == pytest.approx(spearmanr(rung, final).statistic)
    best = min(full, key=lambda r: r.metrics["cost"])
    assert row["selected"] == best.trial_id
    kept = [r for r in full if r.audit_epoch is None]
    assert row["selected_if_stopped"] == min(kept, key=lambda r: r.metrics["cost"]).trial_id
