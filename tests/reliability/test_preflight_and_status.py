"""Preflight problems are one line each with exit 2 and nothing started; status reads MLflow;
a diverging trial is recorded as diverged and the sweep goes on."""

from __future__ import annotations

import math
from pathlib import Path

from aesweep.sweeps.cli import main
from aesweep.tracking.store import SweepStore
from tests.conftest import tiny_spec


def test_preflight_rejects_unreachable_store_and_missing_data(write_spec, tmp_path, capsys) -> None:
    spec = tiny_spec(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}", tmp_path / "ray")
    spec["data"] = {"dataset": "mnist", "root": str(tmp_path / "empty")}
    spec["resources"] = {"gpus_per_trial": 1}
    path = write_spec(spec)
    assert main(["run", str(path), "--inline"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert any("tracking.uri: folder" in ln and "does not exist" in ln for ln in lines)
    assert any("data[0].root: MNIST not found" in ln for ln in lines)
    # This machine has no GPU (CI: none either); the request is caught before anything runs.
    import torch

    if not torch.cuda.is_available():
        assert any("resources.gpus_per_trial: 1" in ln for ln in lines)
    assert not (tmp_path / "ray").exists()


def test_preflight_rejects_unreachable_mlflow_server(write_spec, tmp_path, capsys) -> None:
    path = write_spec(tiny_spec("http://127.0.0.1:9", tmp_path / "ray"))
    assert main(["run", str(path), "--inline"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "MLflow server http://127.0.0.1:9 is not reachable" in line


def test_diverged_trial_is_recorded_and_the_sweep_goes_on(
    write_spec, mlflow_uri, tmp_path, capsys
) -> None:
    spec = tiny_spec(mlflow_uri, tmp_path / "ray", epochs=2)
    spec["optimizer"] = {"name": "sgd", "lr": [1.0e30, 0.001]}
    path = write_spec(spec)
    assert main(["run", str(path), "--inline"]) == 0  # a diverged trial is a result
    out = capsys.readouterr().out
    assert "1 diverged, 1 finished" in out
    store = SweepStore(mlflow_uri, "tiny")
    by_lr = {float(r.params["optimizer.lr"]): r for r in store.trial_records()}
    bad, good = by_lr[1e30], by_lr[0.001]
    assert bad.status == "FAILED" and bad.outcome == "diverged"
    assert bad.tags["aesweep.diverged_epoch"] == "1"
    assert good.status == "FINISHED" and math.isfinite(good.metrics["cost"])
    assert main(["status", str(path)]) == 0
    status = capsys.readouterr().out
    assert "2/2 trials done: 1 finished, 1 diverged" in status
    assert main(["results", str(path), "--format", "json"]) == 0
    assert '"diverged": 1' in capsys.readouterr().out
    # Resubmitting runs nothing: a diverged trial is finished for good.
    assert main(["run", str(path), "--inline"]) == 0
    assert "2 of 2 trials already finished" in capsys.readouterr().out


def test_status_of_a_sweep_never_run(write_spec, mlflow_uri, tmp_path: Path, capsys) -> None:
    path = write_spec(tiny_spec(mlflow_uri, tmp_path / "ray"))
    assert main(["status", str(path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "0/2 trials done: 2 pending"
    assert all("pending" in ln and "epoch 0/1" in ln for ln in out[:-1])
