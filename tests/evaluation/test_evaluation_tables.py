"""The results table over records written straight into a real MLflow store (no training):
FID columns when trials log them, mean ± std over seeds, selection, and rows whose every grid
point diverged."""

from __future__ import annotations

import json
import statistics

import pytest

from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan
from aesweep.sweeps.plots import sweep_plot_pngs
from aesweep.sweeps.results import result_groups
from aesweep.tracking.schema import TAG_DIVERGED_EPOCH
from aesweep.tracking.store import SweepStore, TrialRun
from tests.evaluation.conftest import open_png

# (model, lr, seed) -> final metrics; None: the trial diverged
LOGGED = {
    ("cwae", 0.01, 0): {"rec_error": 10.0, "cw_distance": 0.1, "fid": 40.0, "lt_fid": 30.0},
    ("cwae", 0.01, 1): {"rec_error": 12.0, "cw_distance": 0.1, "fid": 44.0, "lt_fid": 34.0},
    ("cwae", 0.02, 0): {"rec_error": 20.0, "cw_distance": 0.1, "fid": 50.0, "lt_fid": 35.0},
    ("cwae", 0.02, 1): None,
    ("ae", 0.01, 0): None,
    ("ae", 0.01, 1): None,
    ("ae", 0.02, 0): None,
    ("ae", 0.02, 1): None,
}


@pytest.fixture
def logged_sweep(write_spec, tmp_path):  # type: ignore[no-untyped-def]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = {
        "name": "tables",
        "data": {"dataset": "digits"},
        "models": [{"family": "cwae"}, {"family": "ae"}],
        "optimizer": {"lr": [0.01, 0.02]},
        "seeds": [0, 1],
        "epochs": 2,
        "tracking": {"uri": uri, "experiment": "tables", "storage": str(tmp_path)},
    }
    path = write_spec(spec)
    spec, trials = load_plan(path)
    store = SweepStore(uri, "tables")
    parent = store.open_parent("tables", "hash", "spec", "summary")
    for t in trials:
        run_id = store.create_trial_run(parent, t.trial_id, t.trial_id, t.flat(), "g")
        run = TrialRun(store.uri, run_id)
        final = LOGGED[(t.model.family, t.optimizer.lr, t.seed)]
        if final is None:
            run.finish("diverged", **{TAG_DIVERGED_EPOCH: 1})
            continue
        for epoch in (1, 2):
            values = {k: v * (1.5 if epoch == 1 else 1.0) for k, v in final.items()}
            cost = values["rec_error"] + 0.5 * values["fid"] / 50  # selection: lowest mean cost
            run.log_metrics({**values, "cost": cost}, step=epoch)
        run.finish("finished")
    store.close_parent(parent)
    return path, spec, trials, store


def test_fid_columns_with_mean_and_std_over_seeds(logged_sweep, capsys) -> None:
    path, *_ = logged_sweep
    assert main(["results", str(path), "--format", "json"]) == 0
    cwae, ae = json.loads(capsys.readouterr().out)
    assert (cwae["lr"], cwae["seeds"], cwae["seeds_of"]) == (0.01, 2, 2)
    assert cwae["fid"] == 42.0 and cwae["fid_std"] == pytest.approx(statistics.stdev([40, 44]))
    assert cwae["lt_fid"] == 32.0 and cwae["rec_error"] == 11.0
    assert cwae["diverged"] == 1 and cwae["diverged_points"] == []  # lr 0.02 kept one seed
    assert (ae["status"], ae["lr"], ae["diverged"]) == ("diverged", None, 4)
    assert [p["lr"] for p in ae["diverged_points"]] == [0.01, 0.02]
    assert main(["results", str(path)]) == 0
    header, _, cwae_line, ae_line = capsys.readouterr().out.splitlines()
    assert header.split()[5:] == [
        "cw_distance",
        "wae_distance",
        "rec_error",
        "cost",
        "fid",
        "lt_fid",
        "seeds",
        "done",
        "diverged",
    ]
    assert "42.0000 ± 2.8284" in cwae_line and "32.0000 ± 2.8284" in cwae_line
    assert ae_line.split()[3] == "diverged" and ae_line.endswith("4 (lr 0.01; lr 0.02)")


def test_plots_of_logged_records(logged_sweep) -> None:
    _, spec, trials, store = logged_sweep
    pngs = sweep_plot_pngs(result_groups(spec, trials, store), store)
    assert set(pngs) == {"metrics_vs_lr.png", "metrics_over_epochs.png"}
    for png in pngs.values():
        assert open_png(png).size[0] >= 400
