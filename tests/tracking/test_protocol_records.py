"""Every trial records its evaluation protocol in MLflow: the distances'
subset size and draws as params; with FID, the network file and its SHA-256, preprocessing,
sample count, reference split and the digest of its statistics (an MLflow dataset input);
``results --paper`` lists what differs from each paper's protocol."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from mlflow.tracking import MlflowClient

from aesweep.config.trial import TrialConfig
from aesweep.fid.score import FIDScorer
from aesweep.fid.stats import GaussianStats
from aesweep.sweeps.published import protocol_differences
from aesweep.sweeps.results import ResultGroup
from aesweep.tracking.store import SweepStore, TrialRun
from aesweep.trainables.protocol import protocol_params, record_fid_protocol, stats_digest


def _trial(evaluation: dict) -> TrialConfig:
    return TrialConfig.model_validate(
        {
            "trial_id": "t",
            "sweep": "s",
            "data": {"dataset": "mnist"},
            "model": {"family": "cwae", "latent_dim": 20, "architecture": "mlp"},
            "strategy": {"kind": "minibatch", "batch_size": 64},
            "optimizer": {"name": "sgd", "lr": 0.01},
            "epochs": 1,
            "seed": 0,
            "evaluation": evaluation,
            "checkpoint": {},
        }
    )


def _run(tmp_path: Path) -> tuple[TrialRun, MlflowClient]:
    store = SweepStore(f"sqlite:///{tmp_path / 'm.db'}", "p")
    parent = store.open_parent("p", "h", "spec", "1 trial")
    run_id = store.create_trial_run(parent, "t", "t", {}, "g")
    return TrialRun(store.uri, run_id), MlflowClient(tracking_uri=store.uri)


def test_the_protocol_is_recorded_with_the_fid_reference_as_a_dataset_input(tmp_path) -> None:
    weights = tmp_path / "inception.pt"
    weights.write_bytes(b"not really a network")
    cfg = _trial({"fid": {"samples": 10_000, "split": "train", "weights": str(weights)}})
    run, client = _run(tmp_path)
    run.log_protocol(protocol_params(cfg))
    stats = GaussianStats(np.arange(3.0), np.eye(3), 10_000)
    assert cfg.evaluation.fid is not None
    scorer = FIDScorer(cfg.evaluation.fid, cfg.data)
    record_fid_protocol(cfg, scorer, run)  # no FID computed yet: nothing more
    scorer.__dict__["reference"] = stats  # as the trial's FID left it (cached_property)
    record_fid_protocol(cfg, scorer, run)

    got = client.get_run(run.run_id)
    params = got.data.params
    assert params["protocol.distances.subset_size"] == "2000"
    assert params["protocol.distances.mmd_draws"] == "3"
    assert params["protocol.distances.cw_subsets"] == "5"
    assert params["protocol.distances.wae"] == "IMQ MMD U-statistic"
    assert params["protocol.fid.samples"] == "10000"
    assert params["protocol.fid.split"] == "train"
    assert params["protocol.fid.resize"] == "TF1 bilinear to 299x299"
    assert params["protocol.fid.quantisation"].startswith("8-bit")
    assert params["protocol.fid.weights"] == "inception.pt"
    assert params["protocol.fid.weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    by_hand = hashlib.sha256(np.arange(3.0).tobytes() + np.eye(3).tobytes() + b"10000").hexdigest()
    assert stats_digest(stats) == by_hand == params["protocol.fid.reference_sha256"]
    (entry,) = got.inputs.dataset_inputs
    assert entry.dataset.name == "mnist-train-fid-reference"
    assert entry.dataset.digest == by_hand[:36]
    assert json.loads(entry.dataset.profile)["samples"] == 10_000
    assert {(t.key, t.value) for t in entry.tags} == {("mlflow.data.context", "fid_reference")}


def test_without_fid_the_protocol_says_so(tmp_path) -> None:
    run, client = _run(tmp_path)
    run.log_protocol(protocol_params(_trial({})))
    params = client.get_run(run.run_id).data.params
    assert params["protocol.fid"] == "off"
    assert not client.get_run(run.run_id).inputs.dataset_inputs


def test_differences_from_each_papers_protocol_are_listed() -> None:
    ours = _trial({"latent_samples": 500, "mmd_draws": 1, "fid": {"split": "test"}})
    group = ResultGroup("mnist", "cwae", "minibatch(64)", [ours], {}, {})
    assert protocol_differences([group]) == [
        "MoW: evaluation.latent_samples 500 (the paper: 2000)",
        "MoW: evaluation.mmd_draws 1 (the paper: 3)",
        "MoW: FID reference split test (the paper's: not stated)",
    ]
    same = _trial({})
    lines = protocol_differences([ResultGroup("mnist", "cwae", "m", [same], {}, {})])
    assert lines == ["MoW: evaluation.fid.samples FID off (the paper: 10000)"]
