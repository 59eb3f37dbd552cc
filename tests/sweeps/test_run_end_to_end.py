"""A real 2-trial sweep on digits, inline and through Ray Tune, read back from real MLflow."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep.sweeps.cli import main
from aesweep.tracking.schema import TAG_TRIAL_ID
from aesweep.tracking.store import SweepStore
from tests.conftest import tiny_spec

TABLE1 = ("cw_distance", "wae_distance", "rec_error", "cost")


def _read_back(uri: str) -> tuple[SweepStore, list, list]:
    store = SweepStore(uri, "tiny")
    assert store.experiment_id is not None
    runs = MlflowClient(tracking_uri=store.uri).search_runs([store.experiment_id])
    parents = [r for r in runs if r.data.tags.get("aesweep.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("aesweep.kind") == "trial"]
    return store, parents, children


def _check_records(uri: str, n_parents: int) -> None:
    store, parents, children = _read_back(uri)
    assert len(parents) == n_parents
    assert len(children) == 2
    parent_ids = {p.info.run_id for p in parents}
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] in parent_ids
        assert child.info.status == "FINISHED"
        assert child.data.tags["aesweep.outcome"] == "finished"
        assert child.data.params["model.family"] == "cwae"
        assert float(child.data.params["optimizer.lr"]) in (0.001, 0.0005)
        for key in TABLE1:
            assert math.isfinite(child.data.metrics[key]), key
        history = store.metric_history(child.info.run_id, "rec_error")
        assert [step for step, _ in history] == [1]
    assert {c.data.params["optimizer.lr"] for c in children} == {"0.001", "0.0005"}
    spec_text = MlflowClient(tracking_uri=store.uri).download_artifacts(
        parents[0].info.run_id, "spec.yaml"
    )
    assert "tiny" in Path(spec_text).read_text()


def test_inline_run_records_parent_children_and_metrics(
    write_spec, mlflow_uri, tmp_path, capsys
) -> None:
    path = write_spec(tiny_spec(mlflow_uri, tmp_path / "ray"))
    assert main(["run", str(path), "--inline"]) == 0
    _check_records(mlflow_uri, n_parents=1)
    out = capsys.readouterr().out
    assert "done: 2 finished" in out

    # results: one row (one model, one strategy), the better of the two lrs by test cost
    assert main(["results", str(path), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1
    row = rows[0]
    store, _, children = _read_back(mlflow_uri)
    costs = {float(c.data.params["optimizer.lr"]): c.data.metrics["cost"] for c in children}
    assert row["lr"] == min(costs, key=costs.get)
    assert row["cost"] == pytest.approx(min(costs.values()))
    assert (row["dataset"], row["model"], row["strategy"]) == ("digits", "cwae", "minibatch(32)")
    for fmt, marker in (
        ("table", "cw_distance"),
        ("markdown", "| dataset |"),
        ("csv", "dataset,model"),
    ):
        assert main(["results", str(path), "--format", fmt]) == 0
        assert marker in capsys.readouterr().out

    # Resubmitting: finished trials are found by id and not trained again.
    assert main(["run", str(path), "--inline"]) == 0
    assert "2 of 2 trials already finished" in capsys.readouterr().out
    _, parents, children = _read_back(mlflow_uri)
    assert len(children) == 2 and len(parents) == 2


def test_inline_and_ray_give_the_same_metrics(write_spec, tmp_path, ray_session) -> None:
    uris = {}
    for mode in ("inline", "ray"):
        uri = f"sqlite:///{tmp_path / mode}.db"
        path = write_spec(tiny_spec(uri, tmp_path / f"ray-{mode}"), name=f"{mode}.yaml")
        argv = ["run", str(path)] + (["--inline"] if mode == "inline" else [])
        assert main(argv) == 0
        uris[mode] = uri
    _check_records(uris["ray"], n_parents=1)
    metrics = {}
    for mode, uri in uris.items():
        _, _, children = _read_back(uri)
        metrics[mode] = {c.data.tags[TAG_TRIAL_ID]: c.data.metrics for c in children}
    assert metrics["inline"].keys() == metrics["ray"].keys()
    for tid, inline in metrics["inline"].items():
        for key in TABLE1:
            assert metrics["ray"][tid][key] == pytest.approx(inline[key], rel=1e-5), key
